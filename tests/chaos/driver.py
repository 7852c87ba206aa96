"""A chaos run (issue #14): postings stream in, with updates and deletes among them, while
processes of the scaled stack are killed -9 at random and restarted with `jobstream up`.

The stack: `jobstream up --kafka-brokers 3 --workers 2 --gateways 2 --api-instances 2`
(topics with 3 replicas, min.insync.replicas 2). Two producers stream through both
gateways (client-side round robin) and never learn about a kill except as a broken
stream they resume. Meanwhile:

- the *killer* picks a victim -- a broker, a gateway, a sink worker, an API instance,
  PostgreSQL or Redis, every kind at least once and then at random --, kill -9s it,
  waits a moment and runs `jobstream up` with the same shape, which restarts exactly what
  is gone. The producers' pace follows the killer, so every kill lands mid-stream.
- the *prober* asks each API instance every second for a set of hot postings (the
  workload updates them often, so their caches are warm and must be invalidated) and
  compares with what PostgreSQL had committed one second earlier: an instance that
  answers with an older version is a freshness violation. An instance that is down or
  answers with an error is counted, not a violation.

At the end the stack is whole again and the run checks: the read model equals the
expected final state posting by posting (version, tombstone, title), every acked posting
is there, no dead letter was written (the workload holds no poison, so any would have
been caused by a transient fault), the sink group's lag returns to 0 and both API
instances serve the committed versions. Everything it saw goes to a JSON report with
the kill log.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import time
import urllib.error
import urllib.request
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np

from gateway.client import IngestClient
from gateway.generator import embedding_text, generate
from schemas.db.errors import is_connection_error
from schemas.domain import from_json
from schemas.embedding import make_embedder
from schemas.jobstream.v1 import ingest_pb2, posting_pb2
from tests.support.cli import pids, processes_under
from tests.support.provision import PUBLISH_TOKEN

SHAPE = (
    "--kafka-brokers", "3", "--workers", "2", "--gateways", "2", "--api-instances", "2",
    "--alerts-workers", "0",
)  # fmt: skip
VICTIMS = {
    "broker": ("kafka", "kafka-2", "kafka-3"),
    "gateway": ("gateway", "gateway-2"),
    "worker": ("worker-1", "worker-2"),
    "api": ("api", "api-2"),
    "postgres": ("postgres",),
    "redis": ("redis",),
}
HOT = 10  # postings the prober watches (one alias each, JOBSTREAM_MAX_ALIASES is 10);
# a third of the updates go to them
FRESHNESS_S = 1.0


@dataclass(frozen=True)
class Plan:
    postings: int
    kills: int
    seed: int = 14
    batch: int = 250
    update_share: float = 0.15
    delete_share: float = 0.03
    pause_s: tuple[float, float] = (1.0, 4.0)  # between a restart and the next kill
    down_s: tuple[float, float] = (0.5, 3.0)  # between a kill and its `jobstream up`


@dataclass(frozen=True)
class Final:
    version: int
    deleted: bool
    title: str | None


@dataclass
class Workload:
    events: list[posting_pb2.PostingEvent]
    expected: dict[str, Final]
    hot: list[str]
    counts: Counter[str] = field(default_factory=Counter)


def workload(plan: Plan) -> Workload:
    """``plan.postings`` new postings, and updates and deletes of earlier ones mixed in."""
    rng = random.Random(plan.seed)
    embedder = make_embedder("hash", 384)
    data = list(generate(plan.postings, seed=plan.seed))
    vectors = np.asarray(embedder.embed([embedding_text(d) for d in data]), dtype="<f4")
    events: list[posting_pb2.PostingEvent] = []
    latest: dict[str, posting_pb2.PostingEvent] = {}
    deleted: set[str] = set()
    counts: Counter[str] = Counter()
    ids: list[str] = []
    for posting, vector in zip(data, vectors, strict=True):
        event = from_json(posting)
        event.body.embedding = vector.tobytes()
        event.body.embedding_model = embedder.name
        events.append(event)
        latest[event.id] = event
        ids.append(event.id)
        counts["created"] += 1
        if rng.random() < plan.update_share:
            hot = rng.random() < 1 / 3
            target = rng.choice(ids[:HOT] if hot else ids)
            if target not in deleted:
                update = posting_pb2.PostingEvent()
                update.CopyFrom(latest[target])
                update.version += 1
                update.body.title = (
                    f"{data[ids.index(target)]['title']} (revision {update.version})"
                )
                events.append(update)
                latest[target] = update
                counts["updated"] += 1
        if rng.random() < plan.delete_share and len(ids) > HOT:
            target = rng.choice(ids[HOT:])
            if target not in deleted:
                tombstone = posting_pb2.PostingEvent(
                    id=target, version=latest[target].version + 1, deleted=True
                )
                events.append(tombstone)
                latest[target] = tombstone
                deleted.add(target)
                counts["deleted"] += 1
    expected = {
        i: Final(e.version, e.deleted, None if e.deleted else e.body.title)
        for i, e in latest.items()
    }
    return Workload(events, expected, ids[:HOT], counts)


Hook = Callable[[str], None]  # called with a victim's name, in a thread


class Run:
    """One chaos run against a stack that `jobstream up SHAPE` started under ``env``."""

    def __init__(self, env: dict[str, str], plan: Plan, on_killed: Hook | None = None) -> None:
        self.env = env
        self.on_killed = on_killed
        self.home = Path(env["JOBSTREAM_HOME"])
        self.plan = plan
        self.rng = random.Random(plan.seed + 1)
        self.dsn = f"postgresql://postgres@127.0.0.1:{env['JOBSTREAM_POSTGRES_PORT']}/jobstream"
        gateway = int(env["JOBSTREAM_GATEWAY_PORT"])
        self.gateways = f"ipv4:127.0.0.1:{gateway},127.0.0.1:{gateway + 1}"
        api = int(env["JOBSTREAM_API_PORT"])
        self.apis = [f"http://127.0.0.1:{api + i}/graphql" for i in range(2)]
        self.kills: list[dict[str, Any]] = []
        self.kills_done = 0
        self.progress = asyncio.Condition()
        self.streaming = True
        self.acked_ids: set[str] = set()
        self.rejected: list[str] = []
        self.reconnects = 0
        self.probes: Counter[str] = Counter()
        self.violations: list[dict[str, Any]] = []
        self.errors: list[str] = []

    # --- the killer ---------------------------------------------------------------------
    def victims(self) -> list[str]:
        kinds = list(VICTIMS)
        self.rng.shuffle(kinds)
        while len(kinds) < self.plan.kills:
            kinds.append(self.rng.choice(list(VICTIMS)))
        return [self.rng.choice(VICTIMS[kind]) for kind in kinds]

    async def killer(self) -> None:
        for victim in self.victims():
            await asyncio.sleep(self.rng.uniform(*self.plan.pause_s))
            entry: dict[str, Any] = {"victim": victim, "at_s": round(self.clock(), 2)}
            before = pids(self.home)
            pid = before.get(victim)
            entry["pid"] = pid
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    entry["already_gone"] = True
            if self.on_killed is not None:  # what an operator sees while it is down
                await asyncio.to_thread(self.on_killed, victim)
            await asyncio.sleep(self.rng.uniform(*self.plan.down_s))
            began = time.monotonic()
            code, said = await self.up()
            entry["up_s"] = round(time.monotonic() - began, 2)
            if code != 0:  # a node still releasing its port: once more, as an operator would
                await asyncio.sleep(3)
                code, said = await self.up()
                entry["up_retried"] = True
            entry["up_exit"] = code
            after = pids(self.home)
            entry["restarted"] = sorted(n for n in after if after[n] != before.get(n))
            if code != 0:
                entry["up_said"] = said[-2000:]
            entry["back_at_s"] = round(self.clock(), 2)
            self.kills.append(entry)
            async with self.progress:
                self.kills_done += 1
                self.progress.notify_all()
            print(f"chaos: {entry}", file=sys.stderr, flush=True)

    async def up(self) -> tuple[int, str]:
        """`jobstream up` with the run's shape: its exit code and everything it said."""
        return await self.cli("up", *SHAPE, stderr=asyncio.subprocess.STDOUT)

    # --- the producers ------------------------------------------------------------------
    async def produce(self, events: list[posting_pb2.PostingEvent], name: str) -> None:
        """Stream ``events`` in batches; the k-th of kills+1 slices waits for k kills."""
        kills = self.plan.kills

        def on_ack(ack: ingest_pb2.IngestAck, _: object) -> None:
            self.acked_ids.update(ack.accepted_ids)
            self.rejected.extend(f"{r.id}: {r.message}" for r in ack.rejections)

        client = IngestClient(
            self.gateways,
            producer_id=f"chaos-{name}-{self.plan.seed}",
            token=PUBLISH_TOKEN,
            window=4,
            reconnect_timeout_s=180,
            on_ack=on_ack,
        )
        async with client:
            for start in range(0, len(events), self.plan.batch):
                share = (start / len(events)) * (kills + 1)
                need = min(kills, int(share))
                async with self.progress:
                    await self.progress.wait_for(lambda: self.kills_done >= need)  # noqa: B023
                await client.send(events[start : start + self.plan.batch])
                await asyncio.sleep(0)  # let the prober and the killer run between batches
        self.reconnects += client.reconnects

    # --- the prober ---------------------------------------------------------------------
    async def prober(self, hot: list[str]) -> None:
        query = "{ " + " ".join(
            f'p{i}: posting(id: "{posting_id}") {{ version }}' for i, posting_id in enumerate(hot)
        ) + " }"  # fmt: skip
        while self.streaming:
            committed = await self.committed(hot)
            if committed is None:
                self.probes["postgres_down"] += 1
                await asyncio.sleep(FRESHNESS_S)
                continue
            await asyncio.sleep(FRESHNESS_S)
            for api in self.apis:
                await self.probe(api, query, hot, committed)

    async def committed(self, ids: list[str]) -> dict[str, tuple[int, bool]] | None:
        """What PostgreSQL has committed for ``ids``; None while it is down."""
        try:
            conn = await asyncpg.connect(self.dsn, timeout=2)
            try:
                rows = await conn.fetch(
                    "SELECT id, version, deleted FROM postings WHERE id = ANY($1)", ids
                )
            finally:
                await conn.close(timeout=2)
        except Exception as exc:
            if is_connection_error(exc) or isinstance(exc, asyncpg.PostgresError):
                return None
            raise
        return {r["id"]: (int(r["version"]), bool(r["deleted"])) for r in rows}

    async def probe(
        self, api: str, query: str, hot: list[str], committed: dict[str, tuple[int, bool]]
    ) -> None:
        answer = await asyncio.to_thread(graphql, api, query)
        if answer is None:
            self.probes["api_down"] += 1
            return
        data = answer.get("data") or {}
        refused = {  # fields the API answered with an error other than "not found"
            str(e.get("path", [""])[0])
            for e in answer.get("errors") or []
            if isinstance(e, dict) and (e.get("extensions") or {}).get("code") != "NOT_FOUND"
        }
        if answer.get("errors"):
            self.probes["api_error"] += 1
            if "'INTERNAL'" in str(answer["errors"]):
                self.probes["api_internal_error"] += 1
            self.errors.append(str(answer["errors"])[:300])
        self.probes["answered"] += 1
        self.probes[f"answered {api}"] += 1
        for i, posting_id in enumerate(hot):
            if posting_id not in committed or f"p{i}" not in data or f"p{i}" in refused:
                continue
            version, deleted = committed[posting_id]
            self.probes["checked"] += 1
            served = data[f"p{i}"]
            stale = (
                (served is not None) if deleted else (served is None or served["version"] < version)
            )
            if stale:
                self.violations.append(
                    {"api": api, "id": posting_id, "committed": version, "served": served,
                     "at_s": round(self.clock(), 2)}
                )  # fmt: skip

    # --- the run ------------------------------------------------------------------------
    def clock(self) -> float:
        return time.monotonic() - self.started

    async def run(self, work: Workload) -> dict[str, Any]:
        self.started = time.monotonic()
        halves: list[list[posting_pb2.PostingEvent]] = [[], []]
        for event in work.events:  # one producer per id: its versions stay in order
            halves[zlib.crc32(event.id.encode()) % 2].append(event)
        prober = asyncio.create_task(self.prober(work.hot))
        killer = asyncio.create_task(self.killer())
        await asyncio.gather(self.produce(halves[0], "a"), self.produce(halves[1], "b"), killer)
        streamed_s = self.clock()
        self.streaming = False
        await prober
        return {"streamed_s": round(streamed_s, 1), **await self.settle(work)}

    async def settle(self, work: Workload, timeout_s: float = 300) -> dict[str, Any]:
        """Make the stack whole, wait for lag 0 and the expected read model, compare."""
        code, said = await self.up()
        assert code == 0, said
        began = time.monotonic()
        lag: int | None = None
        differences: dict[str, Any] = {}
        while time.monotonic() - began < timeout_s:
            lag = await self.lag()
            differences = await self.compare(work.expected)
            if lag == 0 and not differences["count"]:
                break
            await asyncio.sleep(2)
        drained_s = time.monotonic() - began
        final_violations = len(self.violations)
        committed = await self.committed(work.hot)
        for api in self.apis:
            query = "{ " + " ".join(
                f'p{i}: posting(id: "{pid}") {{ version }}' for i, pid in enumerate(work.hot)
            ) + " }"  # fmt: skip
            await self.probe(api, query, work.hot, committed or {})
        return {
            "drained_s": round(drained_s, 1),
            "lag_at_end": lag,
            "read_model_differences": differences,
            "acked_missing": await self.missing(self.acked_ids),
            "dead_letters": await self.dead_letters(),
            "stale_after_drain": len(self.violations) - final_violations,
        }

    async def lag(self) -> int | None:
        code, said = await self.cli("offsets", "show", "--json")
        try:
            return int(json.loads(said)["total_lag"]) if code == 0 else None
        except (ValueError, KeyError, TypeError):
            return None

    async def dead_letters(self) -> int | None:
        code, said = await self.cli("dlq", "list", "--limit", "5", "--json")
        try:
            return int(json.loads(said)["summary"]["total"]) if code == 0 else None
        except (ValueError, KeyError, TypeError):
            return None

    async def cli(self, *args: str, stderr: int = asyncio.subprocess.DEVNULL) -> tuple[int, str]:
        """`jobstream ARGS` on this stack: its exit code and its standard output."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "infra", *args,
            env={**os.environ, **self.env},
            stdout=asyncio.subprocess.PIPE, stderr=stderr,
        )  # fmt: skip
        out, _ = await proc.communicate()
        return proc.returncode or 0, out.decode(errors="replace")

    async def rows(self, ids: list[str]) -> dict[str, Final]:
        conn = await asyncpg.connect(self.dsn, timeout=10)
        try:
            found = await conn.fetch(
                "SELECT id, version, deleted, title FROM postings WHERE id = ANY($1)", ids
            )
        finally:
            await conn.close()
        return {r["id"]: Final(int(r["version"]), r["deleted"], r["title"]) for r in found}

    async def compare(self, expected: dict[str, Final]) -> dict[str, Any]:
        try:
            found = await self.rows(list(expected))
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            return {"count": -1, "error": repr(exc)}
        wrong = {
            i: {"expected": vars(e), "found": vars(found[i]) if i in found else None}
            for i, e in expected.items()
            if found.get(i) != e
        }
        return {"count": len(wrong), "first": dict(list(wrong.items())[:10])}

    async def missing(self, acked: set[str]) -> int:
        return len(acked - set(await self.rows(sorted(acked))))


def chaos(
    env: dict[str, str],
    plan: Plan,
    out: Path | None = None,
    *,
    on_up: Callable[[], None] | None = None,
    on_killed: Hook | None = None,
) -> dict[str, Any]:
    """Start the scaled stack, run ``plan`` against it, stop it; the report (also written
    to ``out`` as JSON). ``on_up`` inspects the stack once it is up, ``on_killed`` after
    each kill, before the restart."""
    prepared = time.monotonic()
    work = workload(plan)
    prep_s = time.monotonic() - prepared
    run = Run(env, plan, on_killed)
    try:
        code, said = asyncio.run(run.up())
        assert code == 0, said
        if on_up is not None:
            on_up()
        outcome = asyncio.run(run.run(work))
    finally:
        asyncio.run(run.cli("down"))
    report = {
        "left_running": [p.pid for p in processes_under(run.home)],
        "plan": {**vars(plan), "events": len(work.events), **work.counts},
        "shape": " ".join(SHAPE),
        "prep_s": round(prep_s, 1),
        **outcome,
        "acked_postings": len(run.acked_ids),
        "rejected": run.rejected[:10],
        "reconnects": run.reconnects,
        "kills": run.kills,
        "kills_by_kind": dict(
            Counter(next(k for k, v in VICTIMS.items() if e["victim"] in v) for e in run.kills)
        ),
        "probes": dict(run.probes),
        "api_errors": run.errors[:10],
        "freshness_violations": run.violations[:50],
        "freshness_violation_count": len(run.violations),
    }
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return report


def assert_whole(report: dict[str, Any], plan: Plan) -> None:
    """What a chaos run must end with (the report says where it did not)."""
    brief = json.dumps({k: v for k, v in report.items() if k != "kills"}, default=str)[:4000]
    assert len(report["kills"]) >= plan.kills, brief
    assert all(k["up_exit"] == 0 for k in report["kills"]), report["kills"]
    for kill in report["kills"]:  # `up` restarts exactly what is gone
        assert kill["restarted"] == [kill["victim"]], kill
    assert report["left_running"] == [], brief
    assert not report["rejected"], brief
    assert report["acked_postings"] >= plan.postings, brief
    assert report["acked_missing"] == 0, brief
    assert report["read_model_differences"]["count"] == 0, brief
    assert report["dead_letters"] == 0, brief
    assert report["lag_at_end"] == 0, brief
    answered = [k for k in report["probes"] if k.startswith("answered http")]
    assert len(answered) == 2, brief  # both API instances served the prober
    assert report["probes"].get("checked", 0) >= HOT * 10, brief
    assert report["freshness_violation_count"] == 0, brief
    assert report["probes"].get("api_internal_error", 0) == 0, brief  # UNAVAILABLE, not INTERNAL


def graphql(url: str, query: str) -> dict[str, Any] | None:
    """The API's answer, or None when the instance does not answer in time."""
    request = urllib.request.Request(
        url,
        data=json.dumps({"query": query}).encode(),
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=3) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as exc:
        try:
            return dict(json.loads(exc.read()))
        except ValueError:
            return {"errors": [f"HTTP {exc.code}"]}
    except (OSError, ValueError):
        return None
