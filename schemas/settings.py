"""The one typed settings object every JobStream process reads.

Values come from JOBSTREAM_* environment variables (a ``.env`` file is read too);
DATABASE_URL and REDIS_URL are honoured as the conventional names for external
servers. A bad value fails at start with the variable's name and what is wrong.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
import sys
import zoneinfo
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from schemas.errors import BadInputError
from schemas.ratelimit import RATE_FORMAT, Rate, parse_rate

if TYPE_CHECKING:
    from schemas.search.synonyms import SkillAliases

Port = Annotated[int, Field(ge=1, le=65535)]
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_HOSTPORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")
_TOPIC_FIELDS = (
    "topic_postings",
    "topic_dead_letters",
    "topic_invalidations",
    "topic_gateway_sequences",
    "topic_operations",
    "topic_api_keys",
    "topic_saved_searches",
    "topic_alerts",
    "topic_webhook_dead_letters",
)
_ERROR_CLASS = re.compile(r"^[a-z0-9_*?]{1,64}$")
_RATE_FIELDS = (
    "api_rate_limit_per_address",
    "api_rate_limit_per_key",
    "gateway_call_rate_per_address",
    "gateway_record_rate_per_key",
)
RateSetting = Annotated[Rate | None, NoDecode]


class SettingsError(BadInputError):
    """Raised with one line per bad variable, each naming the variable; ``field`` names
    them all (comma-separated)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="JOBSTREAM_",
        env_file=".env",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    # --- local stack --------------------------------------------------------------
    home: Path = Field(Path(".jobstream"), description="State, data, logs and pid files.")
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated host:port."
    )
    kafka_controller_port: Port = Field(9093, description="KRaft controller port (local broker).")
    kafka_runtime: Literal["auto", "jvm", "docker"] = Field(
        "auto",
        description="Local broker: a JVM from Maven/KAFKA_HOME, or a Docker container; "
        "auto = Docker when an engine answers and KAFKA_HOME is unset.",
    )
    kafka_heap: str = Field("768m", pattern=r"^\d+[mMgG]$", description="Local broker JVM heap.")
    kafka_metrics_port: int = Field(
        9404,
        ge=0,
        le=65535,
        description="Local node i's broker metrics (the Prometheus JMX exporter agent, "
        "infra/kafka/jmx-exporter.yml) on this port + i - 1, on 127.0.0.1; 0 runs the "
        "brokers without the agent.",
    )
    kafka_brokers: int = Field(
        1,
        ge=1,
        le=5,
        description="KRaft nodes `up` runs locally (each a broker and a controller, on the "
        "ports after the first one's: broker = port + 2(i-1), controller likewise); 3 for a "
        "replicated cluster.",
    )
    kafka_replication_factor: int | None = Field(
        None,
        ge=1,
        le=5,
        description="Replicas of each topic the platform creates; unset: as many as there "
        "are brokers, up to 3 (a single broker keeps 1).",
    )
    kafka_min_insync_replicas: int | None = Field(
        None,
        ge=1,
        le=5,
        description="min.insync.replicas of each topic the platform creates: an acks=all "
        "write needs that many replicas; unset: replicas - 1 (2 of 3), at least 1.",
    )
    kafka_home: Path | None = Field(
        None,
        validation_alias=AliasChoices("JOBSTREAM_KAFKA_HOME", "KAFKA_HOME"),
        description="An existing Kafka distribution to run instead of the Maven-resolved jars.",
    )
    postgres_port: Port = Field(5433, description="Port of the embedded PostgreSQL.")
    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("JOBSTREAM_DATABASE_URL", "DATABASE_URL"),
        description="External PostgreSQL (with pgvector); unset = the embedded server.",
    )
    redis_port: Port = Field(6380, description="Port of the embedded Redis (Valkey).")
    redis_url: str | None = Field(
        None,
        validation_alias=AliasChoices("JOBSTREAM_REDIS_URL", "REDIS_URL"),
        description="External Redis; unset = the embedded server.",
    )
    startup_timeout_s: float = Field(90.0, gt=0, description="How long `up` waits per service.")

    # --- topics -------------------------------------------------------------------
    topic_postings: str = Field("postings.v1", description="The event log.")
    topic_dead_letters: str = Field("postings.v1.dlq", description="Poison records.")
    topic_invalidations: str = Field("cache-invalidation.v1", description="Cache events.")
    topic_gateway_sequences: str = Field(
        "gateway-sequences.v1", description="Last acked sequence per producer (compacted)."
    )
    topic_operations: str = Field(
        "operations.v1", description="Admin operation commands and their answers (1 partition)."
    )
    topic_api_keys: str = Field(
        "api-keys.v1", description="Publisher API keys: hashed secrets, scopes (compacted)."
    )
    topic_saved_searches: str = Field(
        "saved-searches.v1", description="Saved searches of job alerts (compacted)."
    )
    topic_alerts: str = Field("alerts.v1", description="Matches of saved searches: the alerts.")
    topic_webhook_dead_letters: str = Field(
        "alerts.v1.webhook-dlq", description="Alerts whose webhook failed for the retry period."
    )
    topic_partitions: int = Field(6, ge=1, le=1000, description="Partitions of postings.v1.")
    invalidation_retention_ms: int = Field(
        7 * 24 * 3600 * 1000, ge=60_000, description="Retention of cache-invalidation.v1."
    )

    # --- api (Litestar + Strawberry) ----------------------------------------------
    api_host: str = Field("127.0.0.1", description="API bind address.")
    api_port: Port = Field(8000, description="API port: /graphql, /, /health, /metrics.")
    api_workers: int = Field(
        1, ge=1, le=64, description="API server processes (one per core; each has its own L1)."
    )
    admin_token: SecretStr | None = Field(
        None, description="Bootstrap key with the admin scope (Bearer), beside `jobstream keys`."
    )
    l1_max_entries: int = Field(10_000, ge=0, description="In-process cache size (0 = off).")
    l1_ttl_s: float = Field(30.0, gt=0, description="In-process cache entry lifetime.")
    l2_ttl_s: float = Field(300.0, gt=0, description="Redis cache entry lifetime.")
    invalidation_coalesce_ms: int = Field(
        250, ge=0, le=900, description="Search results follow data changes at most this late."
    )
    max_query_chars: int = Field(1000, ge=1, description="Longest search text accepted.")
    max_page_size: int = Field(100, ge=1, le=1000, description="Largest `first` accepted.")
    search_window: int = Field(
        200,
        ge=10,
        le=10_000,
        description="Postings each ranking (semantic, keyword) brings to a HYBRID search's "
        "fusion; a HYBRID search pages through at most twice as many.",
    )
    search_count_window: int = Field(
        1000,
        ge=10,
        le=100_000,
        description="Nearest postings among which semantic matches are counted (totalCount, "
        "facets of a query); past it a count is a lower bound.",
    )
    semantic_match_floor: float | None = Field(
        None,
        ge=-1.0,
        le=1.0,
        description="Cosine similarity from which a posting matches a query by meaning "
        "(counts, facets); unset: the embedder's own, chosen on the judged set.",
    )
    highlight_sentence_budget: int = Field(
        8,
        ge=0,
        le=1000,
        description="Description sentences one request may embed to show a semantic-only "
        "match's nearest sentence (embedded once per posting version, then cached); 0: none.",
    )
    skill_aliases_file: Path | None = Field(
        None,
        description="Skill aliases ('alias = canonical' per line) merged over the shipped "
        "table (schemas/search/skill_aliases.txt) for skill filters, facets and matching.",
    )
    max_query_depth: int = Field(8, ge=2, description="Deepest GraphQL selection accepted.")
    max_request_bytes: int = Field(
        64 * 1024, ge=1024, description="Largest GraphQL request body accepted."
    )
    max_query_cost: int = Field(
        5000, ge=1, description="Most objects one GraphQL operation may return (lists at `first`)."
    )
    max_aliases: int = Field(10, ge=0, description="Most aliases in one GraphQL document.")
    graphql_timeout_s: float = Field(
        10.0, gt=0, description="A GraphQL operation running longer is cancelled."
    )
    api_statement_timeout_s: float = Field(
        5.0, gt=0, description="PostgreSQL statement_timeout of the API's connections."
    )
    api_pool_acquire_timeout_s: float = Field(
        2.0, gt=0, description="Longest wait for a free database connection (then UNAVAILABLE)."
    )
    api_outbox_watch_s: float = Field(
        0.25,
        gt=0,
        le=60,
        description="How often each API instance reads the invalidation outbox for events "
        "Kafka has not taken yet (a partition leader lost): with 0.25 s, cached postings "
        "stay within the 1 s freshness bound through a broker failover.",
    )
    api_outbox_late_s: float = Field(
        0.3,
        ge=0,
        le=60,
        description="An outbox row older than this is late (its event not acked by Kafka "
        "yet): its postings are evicted from every cache without waiting for the event.",
    )
    api_request_db_connections: int = Field(
        2,
        ge=1,
        description="Most pooled database connections one GraphQL operation uses at once "
        "(its other statements wait, within the acquire timeout), so no request takes the pool.",
    )
    api_rate_limit_per_address: RateSetting = Field(
        Rate(50, 100),
        description="Requests without a valid API key, per client address (429 beyond; "
        f"/health and /metrics exempt): {RATE_FORMAT}.",
    )
    api_rate_limit_per_key: RateSetting = Field(
        Rate(500, 1000),
        description=f"Requests with a valid API key (Bearer), per key: {RATE_FORMAT}.",
    )
    query_cost_per_token: int = Field(
        100,
        ge=1,
        description="GraphQL query cost one rate-limit token buys: an operation takes "
        "cost / this tokens (at least the request's one) from its key's or address's bucket.",
    )
    api_max_inflight_per_address: int = Field(
        4,
        ge=0,
        description="Requests one client address may have in progress (429 beyond; 0 = off).",
    )
    api_max_inflight_per_key: int = Field(
        16, ge=0, description="Requests one API key may have in progress (429 beyond; 0 = off)."
    )
    api_refusal_delay_s: float = Field(
        1.0,
        ge=0,
        le=60,
        description="A 429 is sent after its Retry-After, at most this long (0 = at once), so "
        "a client ignoring Retry-After cannot flood the API with refused requests.",
    )
    rate_limit_max_clients: int = Field(
        100_000,
        ge=100,
        description="Addresses and keys a process tracks per limit (least recent dropped).",
    )
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-For names the "
        "client; else the direct peer is the client.",
    )

    # --- alerts: the API side (saveSearch, subscriptions, feeds, pages; api/alerts) --
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="The API's externally visible base URL: links in alert feeds, pages "
        "and emails.",
    )
    alerts_max_saves_per_hour: int = Field(
        20,
        ge=0,
        description="Saved searches one client address may create per hour (0 = no cap), "
        "beside the API's rate limits.",
    )
    alerts_max_subscriptions_per_address: int = Field(
        4, ge=1, description="Open alert subscriptions (WebSocket) per client address."
    )
    alerts_max_subscriptions: int = Field(
        1000, ge=1, description="Open alert subscriptions (WebSocket) per API process."
    )
    alerts_poll_interval_s: float = Field(
        0.5,
        gt=0,
        le=60,
        description="How often an open alert subscription reads its saved search's new alerts.",
    )

    # --- domain -------------------------------------------------------------------
    embedding_dim: int = Field(384, ge=2, le=16_000, description="Vector dimension.")
    embedder: Literal["minilm", "e5", "hash"] = Field(
        "e5",
        description="Text embedder: multilingual-e5-small (Korean and English; the default, "
        "best on the judged relevance sets), all-MiniLM-L6-v2 (English), or the deterministic "
        "hashing one.",
    )
    embedding_cache_dir: Path = Field(
        Path.home() / ".cache" / "jobstream" / "embeddings",
        description="Where `jobstream produce` keeps model vectors by text (one SQLite file "
        "per model): shared by every checkout on the machine and kept by `down --purge`, so "
        "only the first `make demo` on a machine runs the model.",
    )

    # --- gateway (gRPC ingest) ----------------------------------------------------
    gateway_host: str = Field("127.0.0.1", description="gRPC gateway bind address.")
    gateway_port: Port = Field(50051, description="gRPC gateway port.")
    ingest_token: SecretStr | None = Field(
        None,
        description="Bootstrap key with the publish scope (gRPC ingest and GraphQL mutations), "
        "beside `jobstream keys`.",
    )
    api_key: SecretStr | None = Field(
        None,
        description="The key `jobstream produce` sends unless --key-file is given (unset: "
        "the bootstrap token, else the demo key file).",
    )
    gateway_sequence_window: int = Field(
        1_000_000,
        ge=1,
        le=2**62,
        description="How far past its last acked sequence a producer's next batch may jump.",
    )
    gateway_ack_timeout_s: float = Field(
        20.0,
        gt=0,
        le=600,
        description="How long the gateway waits for Kafka to acknowledge a batch before "
        "ending the stream UNAVAILABLE (too few in-sync replicas, brokers gone); the client "
        "resumes and re-sends, and the sink's version guard makes a late write harmless.",
    )
    gateway_record_format: Literal["pack", "event"] = Field(
        "pack",
        description="pack: one Kafka record per partition per batch; event: one per posting.",
    )
    max_batch_records: int = Field(1000, ge=1, le=100_000, description="Postings per batch.")
    max_message_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Largest gRPC message the gateway accepts."
    )
    max_inflight_per_stream: int = Field(
        5000, ge=1, description="Records a stream may have waiting for Kafka acks."
    )
    max_inflight_total: int = Field(
        50_000, ge=1, description="Records all streams together may have waiting for Kafka."
    )
    max_inflight_bytes_per_stream: int = Field(
        32 * 1024 * 1024, ge=1024, description="Bytes of batches a stream may have in flight."
    )
    max_inflight_bytes_total: int = Field(
        256 * 1024 * 1024,
        ge=1024,
        description="Bytes of batches all streams together may have in flight.",
    )
    gateway_call_rate_per_address: RateSetting = Field(
        Rate(10, 30),
        description="Resume/Ingest calls per client address (RESOURCE_EXHAUSTED + retry-after "
        f"beyond): {RATE_FORMAT}.",
    )
    gateway_record_rate_per_key: RateSetting = Field(
        Rate(50_000, 100_000),
        description="Postings per second per API key; a faster stream is slowed, not "
        f"refused: {RATE_FORMAT}.",
    )
    gateway_max_streams_per_key: int = Field(
        16, ge=1, description="Concurrent Ingest streams per API key."
    )
    gateway_max_streams_total: int = Field(
        256, ge=1, description="Concurrent Ingest streams of the gateway."
    )
    gateway_stream_idle_s: float = Field(
        120.0,
        gt=0,
        description="An Ingest stream with no batch for this long and none in flight is closed.",
    )
    gateway_max_connection_idle_s: float = Field(
        300.0, gt=0, description="A connection with no call for this long is closed (GOAWAY)."
    )
    gateway_max_connection_age_s: float = Field(
        3600.0,
        gt=0,
        description="Connections are recycled after this long (streams get drain_s to finish).",
    )
    gateway_drain_s: float = Field(20.0, gt=0, description="SIGTERM grace for in-flight batches.")
    gateway_metrics_port: int = Field(9107, ge=0, le=65535, description="0 disables /metrics.")
    metrics_host: str = Field(
        "127.0.0.1",
        min_length=1,
        description="Bind address of the gateway's and the workers' /metrics (0.0.0.0: every "
        "interface, for a scraper on another host).",
    )

    # --- streams (Faust workers) --------------------------------------------------
    consumer_group: str = Field("jobstream-sink", min_length=1, description="Workers' group id.")
    sink_batch_max: int = Field(2000, ge=1, le=100_000, description="Events per DB transaction.")
    pack_max_events: int = Field(
        10_000,
        ge=1,
        le=1_000_000,
        description="Events one pack record may carry: the gateway packs at most this many, "
        "the sink dead-letters a bigger pack once, whole.",
    )
    sink_batch_wait_s: float = Field(0.2, gt=0, le=60, description="Max wait to fill a batch.")
    sink_retry_max_s: float = Field(
        30.0, gt=0, description="Longest backoff between retries of a transient DB failure."
    )
    vector_index_min_rows: int = Field(
        20_000, ge=0, description="Embeddings before the IVFFlat index is built (exact below)."
    )
    vector_index_check_s: float = Field(
        60.0, gt=0, description="How often a worker checks whether the index needs (re)building."
    )
    worker_batch_max_bytes: int = Field(
        64 * 1024 * 1024, ge=1024 * 1024, description="Bytes taken but not yet durable, per worker."
    )
    worker_metrics_port: int = Field(9108, ge=0, le=65535, description="0 picks a free port.")

    # --- maintenance (streams/maintenance) ----------------------------------------
    maintenance_cron: str = Field(
        "0 2 * * *", description="When the leader worker runs maintenance (5-field cron)."
    )
    maintenance_timezone: str = Field(
        "UTC", description="IANA time zone the maintenance cron is read in, e.g. Europe/Berlin."
    )
    retryable_error_classes: Annotated[tuple[str, ...], NoDecode] = Field(
        ("unexpected", "db_*"),
        description="Dead-letter error classes maintenance redrives (comma-separated, "
        "* wildcards): failures a fix can cure, not bytes that can never decode.",
    )

    # --- alerts: saved-search materialiser and backfill (streams/alerts) ----------
    alerts_backfill_max: int = Field(
        50,
        ge=0,
        le=10_000,
        description="Most backfill alerts a new saved search gets (its best matches among "
        "the postings of its last backfill_days); 0 turns backfill off.",
    )

    # --- alerts: the matcher and publisher (streams/alerts) --------------------------
    alerts_consumer_group: str = Field(
        "jobstream-alerts",
        min_length=1,
        max_length=200,
        description="Consumer group of the alerts workers on cache-invalidation.v1 (its own: "
        "the sink's offsets are not the matcher's).",
    )
    invalidation_partitions: int = Field(
        1,
        ge=1,
        le=1000,
        description="Partitions `up` gives a new cache-invalidation.v1: alerts workers share "
        "them (one per worker at most); an existing topic keeps its count.",
    )
    alerts_metrics_port: int = Field(
        9130,
        ge=0,
        le=65535,
        description="First alerts worker's /metrics port (the next ones count up; above the "
        "sink workers' 9108 + index and the delivery worker's 9120); 0 picks a free port.",
    )
    alerts_match_batch_max: int = Field(
        1000,
        ge=1,
        le=20_000,
        description="Changed postings matched per SQL statement (one ledger transaction).",
    )

    # --- alerts: delivery, webhooks and email (streams/alerts/delivery) ---------------
    alerts_delivery_metrics_port: int = Field(
        9120,
        ge=0,
        le=65535,
        description="Alert delivery worker /metrics port; 0 picks a free port.",
    )
    webhooks_enabled: bool = Field(
        True, description="The delivery worker sends webhooks (false: only email)."
    )
    webhook_consumer_group: str = Field(
        "jobstream-webhooks",
        min_length=1,
        max_length=200,
        description="Consumer group of the webhook sender on alerts.v1.",
    )
    webhook_timeout_s: float = Field(
        10.0, gt=0, le=300, description="One webhook POST's whole time limit (no redirects)."
    )
    webhook_retry_for_s: float = Field(
        86400.0,
        gt=0,
        description="How long a failing webhook is retried before its alert goes to the "
        "webhook dead-letter topic.",
    )
    webhook_backoff_base_s: float = Field(
        5.0, gt=0, description="First retry delay of a failed webhook; doubles per attempt."
    )
    webhook_backoff_max_s: float = Field(
        3600.0, gt=0, description="Longest delay between two attempts of one webhook."
    )
    webhook_concurrency: int = Field(
        64, ge=1, le=4096, description="Webhook POSTs in flight per delivery worker."
    )
    webhook_per_host: int = Field(
        8,
        ge=1,
        le=4096,
        description="Webhook POSTs in flight to one host: a slow receiver cannot take every slot.",
    )
    email_enabled: bool = Field(
        True, description="The delivery worker sends alert emails (false: only webhooks)."
    )
    email_consumer_group: str = Field(
        "jobstream-email",
        min_length=1,
        max_length=200,
        description="Consumer group of the email sender on alerts.v1.",
    )
    smtp_host: str = Field("127.0.0.1", min_length=1, description="SMTP server for alert emails.")
    smtp_port: Port = Field(25, description="SMTP server port.")
    smtp_username: str | None = Field(None, description="SMTP login; unset = no AUTH.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_from: str = Field(
        "JobStream alerts <alerts@localhost>",
        min_length=3,
        description="From: of alert emails.",
    )
    smtp_timeout_s: float = Field(30.0, gt=0, le=600, description="One SMTP conversation's limit.")
    email_digest_hour_utc: int = Field(
        8, ge=0, le=23, description="Hour (UTC) daily digests are sent at."
    )
    email_retry_for_s: float = Field(
        86400.0, gt=0, description="How long a failing alert email is retried, then given up."
    )
    email_backoff_base_s: float = Field(
        30.0, gt=0, description="First retry delay of a failed email; doubles per attempt."
    )
    email_max_alerts: int = Field(
        50,
        ge=1,
        le=1000,
        description="Most alerts in one email (an immediate batch or a digest); more go in "
        "the next one.",
    )
    alerts_delivery_poll_s: float = Field(
        0.2, gt=0, le=60, description="How often the senders look for due deliveries when idle."
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO")

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _bootstrap(cls, value: str) -> str:
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not parts or not all(_HOSTPORT.match(p) for p in parts):
            raise ValueError("expected comma-separated host:port pairs, e.g. 127.0.0.1:9092")
        return ",".join(parts)

    @field_validator(*_TOPIC_FIELDS)
    @classmethod
    def _topic(cls, value: str) -> str:
        if not _TOPIC.match(value) or value in {".", ".."}:
            raise ValueError("a Kafka topic name is 1-249 chars of [A-Za-z0-9._-]")
        return value

    @field_validator("maintenance_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter

        value = " ".join(value.split())
        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError("expected a 5-field cron expression, e.g. '0 2 * * *' (02:00 daily)")
        return value

    @field_validator("maintenance_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                "unknown time zone; expected an IANA name, e.g. UTC or Europe/Berlin"
            ) from None
        return value

    @field_validator("skill_aliases_file")
    @classmethod
    def _skill_aliases(cls, value: Path | None) -> Path | None:
        from schemas.search.synonyms import load

        if value is not None:
            load(value)  # a bad line fails here, at start, as "file:line: what is wrong"
        return value

    @field_validator("retryable_error_classes", mode="before")
    @classmethod
    def _error_classes(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(p.strip() for p in value.split(",") if p.strip())
        if isinstance(value, list | tuple):
            bad = [str(v) for v in value if not _ERROR_CLASS.match(str(v))]
            if bad:
                raise ValueError(
                    f"error classes are lower-case [a-z0-9_] names with * wildcards; bad: {bad}"
                )
        return value

    @field_validator(*_RATE_FIELDS, mode="before")
    @classmethod
    def _rate(cls, value: object) -> object:
        return parse_rate(value) if isinstance(value, str) else value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(p.strip() for p in value.split(",") if p.strip())
        if isinstance(value, list | tuple):
            for network in value:
                try:
                    ipaddress.ip_network(str(network), strict=False)
                except ValueError:
                    raise ValueError(
                        f"{network!r} is not an IP address or CIDR network, e.g. 10.0.0.0/8"
                    ) from None
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("expected postgresql://user[:password]@host[:port]/database")
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        # alerts API: links are built as public_url + "/alerts/..."
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError("expected http(s)://host[:port][/path], no query or fragment")
        return value.rstrip("/")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected redis://host:port[/db]")
        return value

    @model_validator(mode="after")
    def _distinct_topics(self) -> Settings:
        named: dict[str, list[str]] = {}
        for field in _TOPIC_FIELDS:
            named.setdefault(getattr(self, field), []).append(f"JOBSTREAM_{field.upper()}")
        clashes = [f"{' and '.join(v)} name {t!r}" for t, v in named.items() if len(v) > 1]
        if clashes:
            raise ValueError(
                f"JOBSTREAM_TOPIC_* must each name a different topic: {'; '.join(clashes)}"
            )
        return self

    @model_validator(mode="after")
    def _replication(self) -> Settings:
        rf, isr = self.kafka_replication_factor, self.kafka_min_insync_replicas
        if rf is not None and isr is not None and isr > rf:
            raise ValueError(
                f"JOBSTREAM_KAFKA_MIN_INSYNC_REPLICAS ({isr}) is above "
                f"JOBSTREAM_KAFKA_REPLICATION_FACTOR ({rf}): no write could ever be acked"
            )
        return self

    # --- derived ------------------------------------------------------------------
    @property
    def kafka_addresses(self) -> list[tuple[str, int]]:
        """(host, port) of each bootstrap server (the validator checked the form)."""
        pairs = (s.strip().rsplit(":", 1) for s in self.kafka_bootstrap_servers.split(","))
        return [(host, int(port)) for host, port in pairs]

    @property
    def kafka_port(self) -> int:
        return self.kafka_addresses[0][1]

    @property
    def kafka_nodes(self) -> list[tuple[int, int, int]]:
        """The local KRaft nodes `up` runs: (node id, broker port, controller port)."""
        return [
            (i + 1, self.kafka_port + 2 * i, self.kafka_controller_port + 2 * i)
            for i in range(self.kafka_brokers)
        ]

    @property
    def local_kafka_bootstrap(self) -> str:
        """Every local node's broker address (what `up` gives the processes it starts)."""
        return ",".join(f"127.0.0.1:{port}" for _, port, _ in self.kafka_nodes)

    def is_retryable(self, error_class: str) -> bool:
        """Whether maintenance may redrive dead letters of this class."""
        return any(fnmatch.fnmatchcase(error_class, p) for p in self.retryable_error_classes)

    @property
    def gateway_target(self) -> str:
        return f"{self.gateway_host}:{self.gateway_port}"

    @property
    def external_postgres(self) -> bool:
        return self.database_url is not None

    @property
    def external_redis(self) -> bool:
        return self.redis_url is not None

    @cached_property
    def postgres_dsn(self) -> str:
        return (
            self.database_url or f"postgresql://postgres@127.0.0.1:{self.postgres_port}/jobstream"
        )

    @cached_property
    def skill_aliases(self) -> SkillAliases:
        """The shipped alias table with ``skill_aliases_file`` merged over it."""
        from schemas.search.synonyms import load

        return load(self.skill_aliases_file)

    @cached_property
    def redis_dsn(self) -> str:
        return self.redis_url or f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def topics(self) -> tuple[str, ...]:
        """Every platform topic's name, from the one list of topic settings."""
        return tuple(getattr(self, field) for field in _TOPIC_FIELDS)


def describe_error(error: ValidationError) -> str:
    """One line per bad field, naming the environment variable a user would set."""
    lines = []
    for err, name in zip(error.errors(), _variables(error), strict=True):
        value = err.get("input")
        shown = f" (got {value!r})" if isinstance(value, str | int | float) else ""
        lines.append(f"{name}: {err['msg']}{shown}")
    return "invalid settings:\n  " + "\n  ".join(lines)


def _variables(error: ValidationError) -> list[str]:
    """The environment variable of each error, in order."""
    return [_env_name(str(err["loc"][0]) if err["loc"] else "settings") for err in error.errors()]


def _env_name(field: str) -> str:
    if field == "database_url":
        return "JOBSTREAM_DATABASE_URL / DATABASE_URL"
    if field == "redis_url":
        return "JOBSTREAM_REDIS_URL / REDIS_URL"
    if field == "kafka_home":
        return "JOBSTREAM_KAFKA_HOME / KAFKA_HOME"
    if field.startswith("JOBSTREAM_") or field in {"DATABASE_URL", "REDIS_URL", "KAFKA_HOME"}:
        return field
    if field == "settings":
        return "JOBSTREAM_* settings"
    return f"JOBSTREAM_{field.upper()}"


def settings_or_exit(**overrides: object) -> Settings:
    """:func:`load_settings` for a command line, with the overrides that are not None: a bad
    variable is printed to stderr, named, and the process exits 2 (bad input)."""
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None


def load_settings(**overrides: object) -> Settings:
    """Read the settings; raise SettingsError naming every bad variable."""
    try:
        # pydantic types each keyword; the overrides are checked by its validation instead
        return Settings(**overrides)  # type: ignore[arg-type]  # see above
    except ValidationError as exc:
        field = ", ".join(dict.fromkeys(_variables(exc)))
        raise SettingsError(describe_error(exc), field=field) from None
