"""The read model's database schema and the migrations that build it."""
