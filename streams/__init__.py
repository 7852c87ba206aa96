"""The Faust workers: the sink (postings.v1 -> PostgreSQL), its checkpoints, dead letters,
invalidation events and the vector index upkeep. Imports only from :mod:`schemas`."""
