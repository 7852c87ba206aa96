"""The image build of tests/integration/test_container_image.py, started in the background
as soon as the session has collected that test.

Why in the background: on a fresh machine the build is ~4 min (debootstrap of the base,
the wheels, every layer; ~2 min of CPU) and the suite's budget has no 4 min to spare.
The host's pip fills the wheelhouse (from its cache when `make deps` filled it), so what
is left is CPU and disk: started at collection, `nice`d so the tests before it keep their
timing, it overlaps the browser, e2e and first integration modules and is done when the
container test asks for the image. Measured: the unit tests took 100 s alone, 118 s beside
a cold build (142 s); a build in the fixture or in a `make` step before pytest would add
its whole time instead. A warm run (base and layers cached, code unchanged) builds nothing
in ~11 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from infra.container import podman
from infra.container.image import IMAGE, build

_BUILD = pytest.StashKey[tuple[subprocess.Popen[bytes], Path, float]]()


def start_build(config: pytest.Config) -> None:
    """`python -m infra.container.image` in its own process group, output to a log."""
    log = Path(tempfile.mkstemp(prefix="jobstream-image-build-", suffix=".log")[1])
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["nice", "-n", "10", sys.executable, "-m", "infra.container.image"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    config.stash[_BUILD] = (proc, log, time.monotonic())


def stop_build(config: pytest.Config) -> None:
    """End a background build the session no longer waits for (the test was not run)."""
    started = config.stash.get(_BUILD, None)
    if started is not None and started[0].poll() is None:
        os.killpg(started[0].pid, signal.SIGTERM)
        started[0].wait(30)


def wait_for_image(config: pytest.Config, bound_s: float) -> str:
    """The image, from the background build (or a build now when none was started), failing
    when it takes more than ``bound_s`` from its start."""
    started = config.stash.get(_BUILD, None)
    if started is None:
        build(IMAGE, timeout=bound_s)
        return IMAGE
    proc, log, since = started
    try:
        proc.wait(max(1.0, since + bound_s - time.monotonic()))
    except subprocess.TimeoutExpired:
        stop_build(config)
        pytest.fail(
            f"building {IMAGE} took over {bound_s:.0f} s (cold: debootstrap, the wheels and "
            f"every layer; the cache is {podman.CACHE}); its log: {log}"
        )
    if proc.returncode != 0:
        pytest.fail(f"building {IMAGE} failed ({log}):\n{log.read_text()[-3000:]}")
    print(log.read_text().strip())
    return IMAGE
