"""The image as it ships: built with podman on the local Debian base (the repository's
Dockerfile, layers and base cached between runs in ~/.cache/jobstream/containers), then its
gateway, sink worker and API run as containers against the session's stack: a posting
produced through the containerised gateway is found through the containerised API. The
image runs as a non-root user, has no compiler, and embeds with e5 without a network.

podman here: runc, no default ulimits, the host's network (infra/container/containers.conf);
`make container-deps` installs it. The containers are removed at the end, even on failure.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.container import podman
from infra.container.image import IMAGE, size_mb
from schemas.settings import Settings
from tests.support.cli import jobstream, until
from tests.support.container import wait_for_image
from tests.support.gateway import sample_json
from tests.support.provision import free_port
from tests.support.sink import Topics, make_topics

pytestmark = pytest.mark.integration

COMPOSE = Path(__file__).resolve().parents[2] / "infra" / "docker-compose.yml"

# From the build's start at collection: a cold one (debootstrap, the wheels, every layer)
# took 2-4 min on a busy 2-core machine; a warm one ~11 s, ~17 s when the code changed.
BUILD_BOUND_S = 600
# Never passed to a container: paths of the host, and the stack's own home.
HOST_ONLY = {"JOBSTREAM_HOME", "JOBSTREAM_KAFKA_HOME", "JOBSTREAM_EMBEDDING_CACHE_DIR"}

OFFLINE_CHECKS = """
import importlib.util, os, shutil, socket
assert os.getuid() != 0, "runs as root"
found = [t for t in ("cc", "gcc", "make", "pip", "pip3") if shutil.which(t)]
assert not found, f"build tools in the image: {found}"
assert importlib.util.find_spec("pip") is None, "pip in the image"
try:
    socket.create_connection(("pypi.org", 443), timeout=3)
except OSError:
    pass
else:
    raise AssertionError("the container has a network: the check below proves nothing")
from schemas.embedding import make_embedder
vectors = make_embedder("e5", 384).embed(["백엔드 개발자 backend engineer"], "query")
print("e5", len(vectors[0]), os.getuid())
"""


@pytest.fixture(scope="module")
def image(request: pytest.FixtureRequest) -> str:
    """The image, from the build started at collection (tests/support/container.py)."""
    try:
        podman.require("podman", "runc", "debootstrap")
    except podman.PodmanError as exc:
        pytest.fail(str(exc))
    try:
        built = wait_for_image(request.config, BUILD_BOUND_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"building {IMAGE} took over {BUILD_BOUND_S} s: see `make image`")
    except podman.PodmanError as exc:
        pytest.fail(f"building {IMAGE} failed: {exc}")
    print(f"image {built}: {size_mb(built):.0f} MB")
    return built


@pytest.fixture
def topics(stack: Settings) -> Topics:
    """Private topics and group: the containers' worker sees only this test's posting (a
    plain fixture and test: the waits below block, no event loop is held up)."""
    return asyncio.run(make_topics(stack, partitions=3))


def _container_env(topics: Topics, **ports: int) -> dict[str, str]:
    """The session stack's settings (its servers on 127.0.0.1 of the shared network), the
    test's topics, and free ports for the processes."""
    env = {
        k: v
        for k, v in topics.env().items()
        if (k.startswith("JOBSTREAM_") and k not in HOST_ONLY) or k in {"DATABASE_URL", "REDIS_URL"}
    }
    env.update({f"JOBSTREAM_{name.upper()}": str(port) for name, port in ports.items()})
    return env


@pytest.fixture
def containers(image: str) -> Iterator[Callable[..., str]]:
    """``run(role, *args, env=...)`` starts ``jobstream ARGS`` in a container; all of them
    are removed at the end, their logs printed first (pytest shows them on failure)."""
    tag = uuid.uuid4().hex[:8]
    started: list[str] = []

    def run(role: str, *args: str, env: dict[str, str]) -> str:
        name = f"jobstream-test-{tag}-{role}"
        podman.run(
            ["run", "--detach", "--name", name, "--network", "host", *_flags(env), image, *args]
        )
        started.append(name)
        return name

    try:
        yield run
    finally:
        for name in started:
            logs = podman.run(["logs", "--tail", "40", name], check=False)
            print(f"--- {name}\n{logs.stdout[-4000:]}{logs.stderr[-4000:]}")
        if started:
            podman.run(["rm", "--force", "--time", "5", *started], check=False)


def _flags(env: dict[str, str]) -> list[str]:
    return [f"--env={k}={v}" for k, v in env.items()]


def _running(name: str) -> bool:
    state = podman.run(["inspect", "--format", "{{.State.Running}}", name], check=False)
    assert state.stdout.strip() != "false", f"container {name} exited: see its log below"
    return state.returncode == 0


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _gql(
    port: int, query: str, variables: dict[str, Any], *, expected: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The answer's data; an error fails the test unless its code is ``expected``."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body: dict[str, Any] = json.loads(response.read())
    codes = [e.get("extensions", {}).get("code") for e in body.get("errors") or ()]
    assert all(code in expected for code in codes), body
    data: dict[str, Any] = body["data"]
    return data


def test_the_image_is_non_root_without_compilers_and_embeds_offline(image: str) -> None:
    done = podman.run(
        ["run", "--rm", "--network", "none", "--entrypoint", "python", image, "-c", OFFLINE_CHECKS],
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[:2] == ["e5", "384"]
    assert done.stdout.split()[2] == "10001"
    user = podman.run(["image", "inspect", "--format", "{{.Config.User}}", image])
    assert user.stdout.strip() == "jobstream"


def test_a_posting_through_the_containerised_gateway_is_found_through_its_api(
    image: str, containers: Callable[..., str], topics: Topics, tmp_path: Path
) -> None:
    gateway_port, api_port = free_port(), free_port()
    env = _container_env(
        topics,
        gateway_port=gateway_port,
        gateway_metrics_port=free_port(),
        worker_metrics_port=free_port(),
        api_port=api_port,
    )
    # the compose file's one-shot init: topics and migrations on servers it does not start
    init = podman.run(
        ["run", "--rm", "--network", "host", *_flags(env), image, "init"], check=False
    )
    assert init.returncode == 0, init.stdout + init.stderr
    assert "migrations applied" in init.stdout
    gateway = containers("gateway", "gateway", env=env)
    worker = containers("worker", "worker", env=env)
    api = containers("api", "api", env=env)
    for name, port in [
        (gateway, env["JOBSTREAM_GATEWAY_METRICS_PORT"]),
        (worker, env["JOBSTREAM_WORKER_METRICS_PORT"]),
    ]:
        until(
            lambda name=name, port=port: (
                _running(name) and _http_ok(f"http://127.0.0.1:{port}/metrics")
            ),
            60,
            f"{name} to serve /metrics",
        )
    until(
        lambda: _running(api) and _http_ok(f"http://127.0.0.1:{api_port}/health"),
        90,
        "the API's container to answer /health",
    )

    marker = f"Quarzwerk{uuid.uuid4().hex[:6]}"
    posting = sample_json(7, id=f"container:{marker}", title=f"{marker} platform engineer")
    postings = tmp_path / "posting.ndjson"
    postings.write_text(json.dumps(posting) + "\n")
    produced = jobstream(
        {"JOBSTREAM_GATEWAY_PORT": str(gateway_port)},
        "produce",
        "--file",
        str(postings),
        "--gateway",
        f"127.0.0.1:{gateway_port}",
        "--json",
    )
    summary = json.loads(produced.stdout)
    assert (summary["accepted"], summary["rejected"]) == (1, 0), summary

    found: dict[str, Any] = {}

    def landed() -> bool:
        found.update(
            _gql(  # NOT_FOUND until the worker has written it
                api_port,
                "query($id: ID!) { posting(id: $id) { id title } }",
                {"id": posting["id"]},
                expected=("NOT_FOUND",),
            )
        )
        return found["posting"] is not None

    until(landed, 60, "the posting in the containerised API")
    assert found["posting"] == {"id": posting["id"], "title": posting["title"]}
    results = _gql(
        api_port,
        "query($q: String!) { search(query: $q, first: 5) { edges { node { id } } } }",
        {"q": marker},
    )
    assert [e["node"]["id"] for e in results["search"]["edges"]] == [posting["id"]]

    # infra/docker-compose.yml's health checks, run in these containers (the ports moved
    # from the defaults the compose file uses to this test's)
    moved = {
        Settings.model_fields[f].default: int(env[f"JOBSTREAM_{f.upper()}"])
        for f in ("gateway_port", "gateway_metrics_port", "worker_metrics_port", "api_port")
    }
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for service, container in [("gateway", gateway), ("worker-1", worker), ("api", api)]:
        kind, *command = services[service]["healthcheck"]["test"]
        assert kind == "CMD", service
        for default, port in moved.items():
            command = [c.replace(f"127.0.0.1:{default}", f"127.0.0.1:{port}") for c in command]
        checked = podman.run(["exec", container, *command], check=False, timeout=30)
        assert checked.returncode == 0, (service, command, checked.stderr[-2000:])
