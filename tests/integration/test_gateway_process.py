"""The gateway as a process: `python -m gateway`, SIGTERM drain, /metrics, fuzzing
through the wire, and `jobstream produce` end to end (subprocesses, real Kafka)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.jobstream.v1 import ingest_pb2, ingest_pb2_grpc, posting_pb2
from schemas.settings import Settings
from tests.support.gateway import TopicWatch, private_topics, sample_json, written
from tests.support.provision import PUBLISH_METADATA, free_port

pytestmark = pytest.mark.integration

DOCUMENTED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
JOBSTREAM = [sys.executable, "-m", "infra"]


@dataclass
class GatewayProcess:
    proc: subprocess.Popen[bytes]
    port: int
    metrics_port: int
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


def health(address: str, timeout: float = 2) -> int:
    with grpc.insecure_channel(address) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        return int(stub.Check(health_pb2.HealthCheckRequest(), timeout=timeout).status)


def start_gateway(tmp: Path, port: int | None = None, **env: str) -> GatewayProcess:
    port = port or free_port()
    metrics_port = free_port()
    log = tmp / f"gateway-{port}-{uuid.uuid4().hex[:6]}.log"
    environ = os.environ | {
        "JOBSTREAM_GATEWAY_PORT": str(port),
        "JOBSTREAM_GATEWAY_METRICS_PORT": str(metrics_port),
        "JOBSTREAM_GATEWAY_DRAIN_S": "5",
        **env,
    }
    with log.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "gateway"], env=environ, stderr=sink)
    gw = GatewayProcess(proc, port, metrics_port, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gateway exited {proc.returncode}: {log.read_text()}")
        try:
            if health(gw.address, timeout=0.5) == health_pb2.HealthCheckResponse.SERVING:
                return gw
        except grpc.RpcError:
            time.sleep(0.1)
    gw.stop()
    raise AssertionError(f"gateway did not become healthy: {log.read_text()}")


@pytest.fixture(scope="module")
async def gw_stack(stack: Settings) -> Settings:
    """The session stack with a private postings topic for these tests."""
    return await private_topics(stack)


@pytest.fixture(scope="module")
def gateway_process(
    gw_stack: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    gw = start_gateway(
        tmp_path_factory.mktemp("gw"), JOBSTREAM_TOPIC_POSTINGS=gw_stack.topic_postings
    )
    yield gw
    assert gw.stop() == 0, gw.log.read_text()


def raw_ingest(address: str, messages: list[bytes], producer_id: str) -> grpc.StatusCode:
    """Send raw message bytes on one Ingest stream; the final status code."""
    with grpc.insecure_channel(address) as ch:
        call = ch.stream_stream(
            "/jobstream.v1.IngestService/Ingest",
            request_serializer=lambda b: b,
            response_deserializer=ingest_pb2.IngestAck.FromString,
        )
        md = (("x-producer-id", producer_id), *PUBLISH_METADATA)
        responses = call(iter(messages), metadata=md, timeout=20)
        try:
            for _ in responses:
                pass
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[no-any-return]
        return grpc.StatusCode.OK


# --- process, metrics, fuzz ---------------------------------------------------------------


def test_metrics_endpoint_serves_gateway_series(gateway_process: GatewayProcess) -> None:
    batch = ingest_pb2.IngestBatch(sequence=1).SerializeToString()
    assert raw_ingest(gateway_process.address, [batch], f"m-{uuid.uuid4().hex}") == (
        grpc.StatusCode.OK
    )
    url = f"http://127.0.0.1:{gateway_process.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    for series in (
        "jobstream_gateway_batches_total",
        "jobstream_gateway_records_accepted_total",
        "jobstream_gateway_batch_latency_seconds_bucket",
        "jobstream_gateway_inflight_records",
    ):
        assert series in text


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(messages=st.lists(st.binary(max_size=300), min_size=1, max_size=3))
def test_fuzz_random_bytes_never_crash_the_gateway(
    gateway_process: GatewayProcess, messages: list[bytes]
) -> None:
    code = raw_ingest(gateway_process.address, messages, f"fuzz-{uuid.uuid4().hex}")
    assert code in DOCUMENTED
    assert gateway_process.proc.poll() is None


_text = st.text(max_size=40) | st.sampled_from(["", "x" * 400, "acme:1", " \t", "\u0000"])
_posting = st.builds(
    posting_pb2.PostingEvent,
    id=_text,
    version=st.integers(-(2**63), 2**63 - 1),
    deleted=st.booleans(),
    body=st.none()
    | st.builds(
        posting_pb2.PostingBody,
        title=_text,
        company=_text,
        location=st.none() | st.builds(posting_pb2.Location, city=_text, country_code=_text),
        remote_mode=st.integers(-5, 2**31 - 1),
        employment_type=st.integers(0, 6),
        experience_min_years=st.integers(0, 2**32 - 1),
        experience_max_years=st.integers(0, 60),
        english_level=st.integers(-1, 8),
        skills=st.lists(_text, max_size=60),
        salary=st.none()
        | st.builds(
            posting_pb2.Salary,
            min=st.integers(-(2**63), 2**63 - 1),
            max=st.integers(0, 10**13),
            currency=_text,
        ),
        description=_text,
        embedding=st.binary(max_size=1600) | st.sampled_from([b"\x00" * 1536, b"\xff" * 1536]),
        embedding_model=_text,
    ),
    producer_id=_text,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sequence=st.integers(0, 2**64 - 1),
    postings=st.lists(_posting, max_size=6),
    valid=st.integers(0, 3),
)
def test_fuzz_random_field_values_get_an_answer_per_record(
    gateway_process: GatewayProcess,
    gw_stack: Settings,
    sequence: int,
    postings: list[posting_pb2.PostingEvent],
    valid: int,
) -> None:
    good = [posting_pb2.PostingEvent.FromString(_valid_bytes(i)) for i in range(valid)]
    batch = ingest_pb2.IngestBatch(sequence=sequence, postings=postings + good)
    md = (("x-producer-id", f"fuzz-{uuid.uuid4().hex}"), *PUBLISH_METADATA)
    with grpc.insecure_channel(gateway_process.address) as ch:
        stub = ingest_pb2_grpc.IngestServiceStub(ch)
        if sequence == 0 or sequence > gw_stack.gateway_sequence_window:  # 0 or too far
            with pytest.raises(grpc.RpcError) as info:
                list(stub.Ingest(iter([batch]), metadata=md, timeout=20))
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            return
        [ack] = list(stub.Ingest(iter([batch]), metadata=md, timeout=20))
    assert sequence > 0
    assert len(ack.accepted_ids) + len(ack.rejections) == len(batch.postings)
    assert len(ack.accepted_ids) >= valid
    assert all(r.reason != 0 and r.message for r in ack.rejections)
    assert sorted(r.index for r in ack.rejections) == [r.index for r in ack.rejections]


def _valid_bytes(i: int) -> bytes:
    from schemas.domain import from_json

    data = sample_json(i, id=f"fuzz-valid-{uuid.uuid4().hex[:8]}:{i}")
    return from_json(data).SerializeToString()


def test_gateway_still_healthy_after_fuzzing(gateway_process: GatewayProcess) -> None:
    assert health(gateway_process.address) == health_pb2.HealthCheckResponse.SERVING


# --- jobstream produce --------------------------------------------------------------------


def run_cli(*args: str, port: int, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"JOBSTREAM_GATEWAY_PORT": str(port), "COLUMNS": "200"}
    return subprocess.run(
        [*JOBSTREAM, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def write_ndjson(path: Path, prefix: str, n: int, bad_lines: dict[int, str] | None = None) -> Path:
    lines = [json.dumps(sample_json(i, id=f"{prefix}:{i}")) for i in range(n)]
    for number, text in (bad_lines or {}).items():
        lines.insert(number - 1, text)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_produce_file_with_bad_lines_exits_1_with_a_summary(
    gateway_process: GatewayProcess, tmp_path: Path
) -> None:
    p = uuid.uuid4().hex[:8]
    bad_title = json.dumps(sample_json(999, id=f"{p}:999", title="t" * 301))
    path = write_ndjson(tmp_path / "in.ndjson", p, 50, {3: '{"id": "broken", ', 10: bad_title})
    done = run_cli("produce", "--file", str(path), port=gateway_process.port)
    assert done.returncode == 1, done.stderr
    assert "accepted 50, rejected 2" in done.stdout
    assert "MALFORMED_JSON" in done.stdout
    assert "TOO_LONG" in done.stdout
    assert "line 3" in done.stdout
    assert "line 10" in done.stdout

    as_json = run_cli("produce", "--file", str(path), "--json", port=gateway_process.port)
    assert as_json.returncode == 1
    summary = json.loads(as_json.stdout)
    assert summary["accepted"] == 50
    assert summary["rejected"] == 2
    assert summary["reasons"] == {"MALFORMED_JSON": 1, "TOO_LONG": 1}
    assert summary["resumed_from_sequence"] >= 1  # same file, same producer id: continued
    assert {e["where"] for e in summary["examples"]} == {"line 3", "line 10"}


def test_produce_errors_name_the_fix(gateway_process: GatewayProcess, tmp_path: Path) -> None:
    missing = run_cli("produce", "--file", str(tmp_path / "nope.ndjson"), port=1)
    assert missing.returncode == 2
    assert "file not found" in missing.stderr

    neither = run_cli("produce", port=1)
    assert neither.returncode == 2

    path = write_ndjson(tmp_path / "ok.ndjson", uuid.uuid4().hex[:8], 3)
    down = run_cli("produce", "--file", str(path), "--timeout", "1", port=free_port())
    assert down.returncode == 3
    assert "cannot reach the gateway at 127.0.0.1:" in down.stderr
    assert "jobstream gateway" in down.stderr


def test_produce_generate_with_hash_embedder(gateway_process: GatewayProcess) -> None:
    try:
        import gateway.generator as generator
    except ImportError:
        pytest.skip("gateway.generator has not landed yet")
    if not hasattr(generator, "generate"):
        pytest.skip("gateway.generator has no generate() yet")
    done = run_cli(
        "produce",
        "--generate",
        "200",
        "--embedder",
        "hash",
        "--seed",
        "3",
        "--json",
        port=gateway_process.port,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout)
    assert summary["accepted"] == 200
    assert summary["rejected"] == 0


def test_produce_survives_a_gateway_restart_by_sigterm(gw_stack: Settings, tmp_path: Path) -> None:
    """SIGTERM drains the gateway mid-run; a new process on the same port takes over;
    `jobstream produce` resumes and every posting is in Kafka exactly once."""
    import asyncio

    p = uuid.uuid4().hex[:8]
    path = write_ndjson(tmp_path / "big.ndjson", p, 6000)
    watch = asyncio.run(TopicWatch(gw_stack, gw_stack.topic_postings).mark())
    topic = {"JOBSTREAM_TOPIC_POSTINGS": gw_stack.topic_postings}
    first = start_gateway(tmp_path, **topic)
    env = os.environ | {"JOBSTREAM_GATEWAY_PORT": str(first.port)}
    producer = subprocess.Popen(
        [
            *JOBSTREAM,
            "produce",
            "--file",
            str(path),
            "--batch-size",
            "20",
            "--window",
            "2",
            "--json",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_batches(first, at_least=20)
        assert first.stop() == 0, first.log.read_text()
        assert "draining" in first.log.read_text()
        second = start_gateway(tmp_path, port=first.port, **topic)
        try:
            stdout, stderr = producer.communicate(timeout=120)
        finally:
            assert second.stop() == 0
    finally:
        if producer.poll() is None:
            producer.kill()
    assert producer.returncode == 0, stderr
    summary = json.loads(stdout)
    assert summary["accepted"] == 6000
    assert summary["reconnects"] >= 1
    ids = [w.id for w in asyncio.run(written(watch, p))]
    assert len(ids) == 6000
    assert len(set(ids)) == 6000


def _wait_for_batches(gw: GatewayProcess, at_least: int) -> None:
    url = f"http://127.0.0.1:{gw.metrics_port}/metrics"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url, timeout=5) as response:
            for line in response.read().decode().splitlines():
                acked = line.startswith('jobstream_gateway_batches_total{outcome="acked"}')
                if acked and float(line.split()[-1]) >= at_least:
                    return
        time.sleep(0.02)
    raise AssertionError("the producer made no progress")
