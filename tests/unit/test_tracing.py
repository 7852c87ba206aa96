"""schemas.tracing: nothing installed without an OTLP endpoint, OTLP/HTTP export with one,
trace ids in the log lines, and the links a batch of records yields.

The global TracerProvider can be set once per process, so the two configure() tests run
a fresh interpreter each."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import structlog
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider

from schemas import logs, tracing

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys, threading
from opentelemetry import trace
from schemas import tracing
provider = tracing.configure(tracing.WORKER)
with tracing.tracer("probe").start_as_current_span("probe span") as span:
    recording, headers = span.is_recording(), tracing.kafka_headers()
if provider is not None:
    provider.force_flush()
print(json.dumps({
    "configured": provider is not None,
    "recording": recording,
    "headers": [k for k, _ in headers],
    "sdk_imported": any(m.startswith("opentelemetry.sdk") for m in sys.modules),
    "threads": sorted(t.name for t in threading.enumerate()),
    "provider": type(trace.get_tracer_provider()).__name__,
}))
"""


def probe(**env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_without_an_endpoint_nothing_is_installed_nor_exported() -> None:
    assert probe() == {
        "configured": False,
        "recording": False,
        "headers": [],
        "sdk_imported": False,
        "threads": ["MainThread"],
        "provider": "ProxyTracerProvider",
    }


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[ThreadingHTTPServer]:
    _Collector.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_with_an_endpoint_spans_are_exported_over_otlp_http(
    collector: ThreadingHTTPServer,
) -> None:
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
    result = probe(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint)
    assert result["configured"] is True
    assert result["recording"] is True
    assert result["headers"] == ["traceparent"]
    ((path, body),) = _Collector.received
    assert path == "/v1/traces"
    (resource_spans,) = ExportTraceServiceRequest.FromString(body).resource_spans
    attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert attributes["service.name"] == "jobstream-worker"
    assert [s.name for s in resource_spans.scope_spans[0].spans] == ["probe span"]


@pytest.fixture
def json_logs() -> Iterator[None]:
    """schemas.logs configured for one test; the root logger restored after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    logs.configure("INFO")
    yield
    root.handlers[:], root.level = handlers, level
    structlog.reset_defaults()


@pytest.mark.usefixtures("json_logs")
def test_log_lines_carry_the_active_spans_ids(capsys: pytest.CaptureFixture[str]) -> None:
    log = structlog.get_logger("test.tracing")
    with (
        tracing.provider_in_use(TracerProvider()),
        tracing.tracer("test").start_as_current_span("work") as span,
    ):
        log.info("inside")
        logging.getLogger("test.stdlib").warning("a library's line")
    log.info("outside")
    lines = {e["event"]: e for e in map(json.loads, capsys.readouterr().err.splitlines())}
    context = span.get_span_context()
    for event in ("inside", "a library's line"):
        assert lines[event]["trace_id"] == f"{context.trace_id:032x}"
        assert lines[event]["span_id"] == f"{context.span_id:016x}"
    assert "trace_id" not in lines["outside"]


def test_a_batch_links_each_distinct_context_once() -> None:
    a = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    b = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    records = [
        [("content-type", b"x"), ("traceparent", a.encode())],
        [("traceparent", a.encode())],
        [("TraceParent", b.encode()), ("producer-id", b"p")],
        [("traceparent", b"garbage")],
        [],
    ]
    found = {(c.trace_id, c.span_id) for c in tracing.carried(records)}
    assert found == {
        (0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7),
        (0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331),
    }
    assert len(tracing.carried(records)) == 2
