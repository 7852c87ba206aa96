"""The generated protobuf code in schemas/ matches proto/ (regenerate: make proto)."""

from __future__ import annotations

from schemas.codegen import generate


def test_generated_code_is_fresh() -> None:
    stale = [
        str(path)
        for path, text in generate().items()
        if not path.exists() or path.read_text() != text
    ]
    assert not stale, f"generated code is stale, run `make proto`: {stale}"


def test_generated_modules_import_from_the_schemas_package() -> None:
    from schemas.jobstream.v1 import events_pb2, ingest_pb2, ingest_pb2_grpc, posting_pb2

    assert ingest_pb2.IngestBatch.DESCRIPTOR.fields_by_name["postings"].message_type is (
        posting_pb2.PostingEvent.DESCRIPTOR
    )
    assert hasattr(ingest_pb2_grpc, "IngestServiceStub")
    assert events_pb2.Invalidation.DESCRIPTOR.full_name == "jobstream.v1.Invalidation"
