"""podman as the project runs it: the shipped containers.conf, storage in a cache directory.

The storage (images, layers, the build cache) lives under ``CACHE`` so that a second build
or test run reuses the base and every unchanged layer; the repository holds none of it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from infra.stack.paths import USER_CACHE

CONF = Path(__file__).resolve().with_name("containers.conf")
CACHE = USER_CACHE / "containers"
INSTALL_HINT = "install podman, runc and debootstrap: `bash infra/bootstrap.sh --containers`"


class PodmanError(RuntimeError):
    """podman (or a tool the build needs) is missing or a command of it failed."""


def require(*tools: str) -> None:
    """Fail naming how to install the tools that are missing."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise PodmanError(f"{', '.join(missing)} not found: {INSTALL_HINT}")


def argv(*args: str) -> list[str]:
    """A podman command line on the project's storage (root and run root per user)."""
    return [
        "podman",
        "--root",
        str(CACHE / "storage"),
        "--runroot",
        str(CACHE / "run"),
        *args,
    ]


def env() -> dict[str, str]:
    """The environment of a podman command: ours with the shipped containers.conf."""
    return {**os.environ, "CONTAINERS_CONF": str(CONF)}


def run(
    args: Sequence[str],
    *,
    check: bool = True,
    timeout: float | None = None,
    stdin: int | None = None,
    capture: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``podman ARGS``; with ``check`` a failure raises with its stderr."""
    require("podman", "runc")
    done = subprocess.run(
        argv(*args),
        env=env(),
        stdin=stdin,
        capture_output=capture,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        raise PodmanError(f"podman {' '.join(args[:3])} failed: {(done.stderr or '')[-2000:]}")
    return done


def image_exists(name: str) -> bool:
    return run(["image", "exists", name], check=False).returncode == 0
