-- pgvector: the read model stores one embedding per posting.
CREATE EXTENSION IF NOT EXISTS vector;
