"""The ingest gateway (gRPC ``jobstream.v1.IngestService`` -> Kafka postings.v1) and the
producer client behind ``jobstream produce``.

Modules: :mod:`gateway.server` (``Gateway``, ``serve``), :mod:`gateway.service` (the
servicer: identities, producer ids, one stream per producer), :mod:`gateway.session`
(one stream's pipeline), :mod:`gateway.wire` (lenient parsing), :mod:`gateway.validation`,
:mod:`gateway.kafka_writer`, :mod:`gateway.sequences` (resume state), :mod:`gateway.auth`,
:mod:`gateway.limits`, :mod:`gateway.budget`, :mod:`gateway.metrics`,
:mod:`gateway.client` (``IngestClient``), :mod:`gateway.cli`.
Nothing heavy is imported here so the CLI starts fast.
"""
