"""Assemble and run the gateway: Kafka producer, sequence store, gRPC server, metrics.

:class:`Gateway` is what tests start in-process (on a free port, several times in one
session); :func:`serve` is the process entry point, which adds signal handling: SIGTERM
or SIGINT stop reading new batches, let in-flight ones reach Kafka and be acked (up to
``gateway_drain_s``), then close the Kafka producer and exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

import structlog
from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gateway import metrics
from gateway.auth import INGEST_SERVICE, KeyAuthInterceptor
from gateway.kafka_writer import KafkaWriter, RecordFormat
from gateway.limits import CallRateInterceptor
from gateway.sequences import SequenceStore
from gateway.service import IngestService, register
from gateway.wire import RESUME_DEADLINE_S
from schemas.auth import KeyRing
from schemas.jobstream.v1 import ingest_pb2
from schemas.settings import Settings

log = structlog.get_logger("gateway.server")


class GatewayStartError(RuntimeError):
    """The gateway cannot start; the message says what to fix."""


MIN_CLIENT_PING_INTERVAL_MS = 5_000
"""Clients may ping at most this often; a faster one gets GOAWAY (too_many_pings) after
MAX_PING_STRIKES pings too early, instead of keeping the server busy answering pings."""
MAX_PING_STRIKES = 2


def server_options(settings: Settings) -> list[tuple[str, int]]:
    """gRPC channel arguments: message size limits, keepalive (dead-peer detection) and its
    enforcement, and connection lifetimes (an idle connection is closed; every connection
    is recycled after a while, its streams getting ``gateway_drain_s`` to finish)."""
    return [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.so_reuseport", 0),  # a taken port is an error, not a silent second server
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", MIN_CLIENT_PING_INTERVAL_MS),
        ("grpc.http2.min_ping_interval_without_data_ms", MIN_CLIENT_PING_INTERVAL_MS),
        ("grpc.http2.max_ping_strikes", MAX_PING_STRIKES),
        ("grpc.max_connection_idle_ms", int(settings.gateway_max_connection_idle_s * 1000)),
        ("grpc.max_connection_age_ms", int(settings.gateway_max_connection_age_s * 1000)),
        ("grpc.max_connection_age_grace_ms", int(settings.gateway_drain_s * 1000)),
    ]


class Gateway:
    """One running gateway: ``await start()``, then ``await stop()``."""

    def __init__(
        self,
        settings: Settings,
        *,
        record_format: RecordFormat | None = None,
        sequences_topic: str | None = None,
        metrics_server: bool = True,
    ) -> None:
        self.settings = settings
        record_format = record_format or configured_format(settings)
        self.writer = KafkaWriter(settings, settings.topic_postings, record_format=record_format)
        self.sequences = SequenceStore(
            settings,
            topic=sequences_topic or settings.topic_gateway_sequences,
            timeout_s=RESUME_DEADLINE_S - 2,
        )
        self.service = IngestService(settings, self.writer, self.sequences)
        self.keys = KeyRing(settings, "gateway")
        self.health = health.aio.HealthServicer()
        self._metrics_server = metrics_server
        self._server: aio.Server | None = None
        self.port = 0

    @property
    def address(self) -> str:
        return f"{self.settings.gateway_host}:{self.port}"

    async def start(self) -> None:
        bootstrap = self.settings.kafka_bootstrap_servers
        try:
            await self.writer.start()
            await self.sequences.start()
            await self.keys.start()
        except Exception as exc:
            with contextlib.suppress(Exception):
                await self.sequences.stop()
            with contextlib.suppress(Exception):
                await self.writer.stop()
            raise GatewayStartError(
                f"cannot reach Kafka at {bootstrap} ({exc}); start it with `jobstream up` "
                "or set JOBSTREAM_KAFKA_BOOTSTRAP_SERVERS"
            ) from exc
        server = aio.server(
            # the call rate first: it also counts calls the key check refuses
            interceptors=[CallRateInterceptor(self.settings), KeyAuthInterceptor(self.keys)],
            options=server_options(self.settings),
        )
        register(self.service, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        names = (
            ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name,
            health.SERVICE_NAME,
            reflection.SERVICE_NAME,
        )
        reflection.enable_server_reflection(names, server)
        address = f"{self.settings.gateway_host}:{self.settings.gateway_port}"
        try:
            self.port = server.add_insecure_port(address)
        except RuntimeError as exc:
            await self._close_kafka()
            raise GatewayStartError(
                f"cannot listen on {address} ({exc}): the port is taken or the host is not "
                "local; set JOBSTREAM_GATEWAY_HOST / JOBSTREAM_GATEWAY_PORT"
            ) from exc
        await server.start()
        self._server = server
        for service in ("", INGEST_SERVICE):
            await self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        if self._metrics_server and self.settings.gateway_metrics_port:
            try:
                metrics.start_metrics_server(
                    self.settings.gateway_metrics_port, self.settings.metrics_host
                )
            except OSError as exc:
                log.warning(
                    "metrics port unavailable",
                    port=self.settings.gateway_metrics_port,
                    error=str(exc),
                )
        log.info(
            "gateway listening",
            address=self.address,
            topic=self.settings.topic_postings,
            record_format=self.writer.record_format,
            bootstrap_token=self.settings.ingest_token is not None,
        )

    async def stop(self, grace: float | None = None) -> None:
        """Drain: refuse new batches, let in-flight ones be acked, then close Kafka."""
        grace = self.settings.gateway_drain_s if grace is None else grace
        await self.health.enter_graceful_shutdown()
        self.service.drain()
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
        if not await self.service.wait_settled(timeout=max(grace, 1.0)):
            log.warning("some streams did not settle before shutdown")
        await self._close_kafka()
        log.info("gateway stopped", address=self.address)

    async def _close_kafka(self) -> None:
        await self.keys.stop()
        await self.sequences.stop()
        await self.writer.stop()

    async def wait(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()


def configured_format(settings: Settings) -> RecordFormat:
    """The record layout the settings ask for (JOBSTREAM_GATEWAY_RECORD_FORMAT)."""
    return settings.gateway_record_format


async def serve(settings: Settings, *, record_format: RecordFormat | None = None) -> None:
    """Run a gateway until SIGTERM/SIGINT, then drain for ``gateway_drain_s``."""
    gateway = Gateway(settings, record_format=record_format)
    await gateway.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        log.info("signal received, draining", drain_s=settings.gateway_drain_s)
    finally:
        await gateway.stop()


__all__ = ["Gateway", "GatewayStartError", "serve"]
