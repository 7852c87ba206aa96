"""The Faust app of a sink worker, built from Settings (nothing happens at import time).

Faust is used for what it is good at -- group membership, fetching, rebalancing -- and
configured down to that: no web server (metrics are served by prometheus_client), no
tables or changelog topics, no leader-election topic, no topic creation (``jobstream up``
creates the topics), raw bytes in and out. Offsets are committed from our own
checkpoints (:mod:`streams.checkpointing`), never from Faust's acks.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from schemas import kafka
from schemas.settings import Settings
from streams.checkpointing.consumer import CheckpointedApp
from streams.maintenance import operations
from streams.maintenance.leader import partition_leader
from streams.maintenance.schedule import scheduled_maintenance
from streams.metrics import SinkMetrics
from streams.runtime import SinkRuntime

RELAY_EVERY_S = 5.0
LAG_EVERY_S = 5.0


def create_app(
    settings: Settings, *, metrics: SinkMetrics | None = None
) -> tuple[CheckpointedApp, SinkRuntime]:
    """A ready-to-run Faust app with the sink agent and its timers, and its runtime."""
    app = CheckpointedApp(
        settings.consumer_group,  # Faust's app id is the consumer group id
        **kafka.faust_options(settings),
        autodiscover=False,
        web_enabled=False,
        topic_allow_declare=False,
        topic_disable_leader=True,
        store="memory://",
        datadir=str(settings.home.expanduser().resolve() / "faust"),
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        stream_wait_empty=False,  # shutdown/rebalance never wait on a batch we may abort
        # Records queued ahead of the take buffer; with up-to-512 KB packs this bounds
        # memory next to the take buffer's byte budget (streams/flow.py).
        stream_buffer_maxsize=max(256, settings.sink_batch_max // 2),
        broker_commit_interval=1.0,
        broker_session_timeout=10.0,  # a dead worker's partitions move on after 10 s
        broker_heartbeat_interval=2.0,
        broker_max_poll_records=max(500, settings.sink_batch_max),
        # on_leader=True jobs run on the owner of postings.v1 partition 0 (no leader topic).
        LeaderAssignor=partition_leader(settings.topic_postings),
    )
    runtime = SinkRuntime(settings, app, metrics)
    topic = app.topic(
        settings.topic_postings,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        allow_empty=True,  # a null value is poison to dead-letter, not an event to skip
    )

    @app.agent(topic, name="sink", concurrency=1)
    async def sink(stream: Any) -> None:
        await runtime.consume(stream)

    @app.timer(RELAY_EVERY_S)  # type: ignore[untyped-decorator]  # Faust: timer is untyped
    async def relay_invalidations() -> None:
        await runtime.relay_invalidations()

    @app.timer(LAG_EVERY_S)  # type: ignore[untyped-decorator]  # Faust: timer is untyped
    async def report_lag() -> None:
        runtime.update_lag()

    @app.timer(settings.vector_index_check_s)  # type: ignore[untyped-decorator]  # Faust: timer is untyped
    async def vector_index() -> None:
        await runtime.check_index()

    # --- maintenance and admin operations (streams/maintenance) -------------------------
    @app.crontab(
        settings.maintenance_cron,
        timezone=ZoneInfo(settings.maintenance_timezone),
        on_leader=True,
    )
    async def maintenance() -> None:
        await scheduled_maintenance(settings)

    ops_topic = app.topic(
        settings.topic_operations,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        allow_empty=True,
    )

    async def publish(payload: bytes) -> None:
        await operations.publish_once(settings, payload)

    @app.agent(ops_topic, name="operations", concurrency=1)
    async def run_operations(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            await operations.handle(settings, message.value, publish, runtime.source)
            # Our own checkpoints decide commits (streams/checkpointing): mark it done.
            consumer: Any = app.consumer
            consumer.checkpoints.mark_done((message.topic, message.partition), [message.offset])

    return app, runtime
