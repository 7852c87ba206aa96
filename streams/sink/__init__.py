"""The sink: Kafka records -> domain events -> one version-guarded upsert per batch."""
