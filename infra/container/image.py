"""Build JobStream's image with podman on a Debian base made here, from Debian's packages.

These machines reach no container registry, only Debian's mirror and PyPI: the base is a
``debootstrap --variant=minbase`` bookworm imported into podman (skipped when that image or
its cached tarball exists), and the Dockerfile's pip installs from a wheelhouse that the
host's pip fills (its index, certificates and cache are the machine's; the container's
would not trust this network's TLS). With Docker and a registry, ``docker build .`` needs
none of this. ``make image`` runs ``python -m infra.container.image``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from infra.container import podman

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "localhost/jobstream-base:bookworm"
IMAGE = "localhost/jobstream:latest"
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
PYTHON_VERSION = "3.11"  # bookworm's python3: the wheelhouse's wheels are for it
BASE_TARBALL = podman.CACHE / "base" / f"{SUITE}-minbase.tar"
WHEELHOUSE = podman.CACHE / "wheels"
# Left out of the base: apt's package lists and caches (the Dockerfile's apt-get update
# fetches fresh ones), downloaded .debs, docs and man pages.
_TRIM = (
    "var/cache/apt",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "var/log",
)


def debian_mirror(apt_dir: Path = Path("/etc/apt")) -> str:
    """The machine's Debian archive (not the security one), from its apt sources: the one
    mirror these machines reach; Debian's own when none is configured."""
    files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*"))]
    for path in files:
        if not path.is_file() or path.suffix not in {".list", ".sources", ""}:
            continue
        for line in path.read_text(errors="replace").splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("deb "):
                uris = [w for w in line.split()[1:] if "://" in w][:1]
            elif line.startswith("URIs:"):
                uris = line.removeprefix("URIs:").split()
            else:
                continue
            for uri in uris:
                if re.search(r"/debian/?$", uri):
                    return uri.rstrip("/")
    return DEFAULT_MIRROR


def ensure_base(name: str = BASE_IMAGE, *, mirror: str | None = None) -> str:
    """The local Debian base image: imported from the cached tarball, which debootstrap
    makes (~25-40 s) when absent. Returns what was done."""
    if podman.image_exists(name):
        return "present"
    if not BASE_TARBALL.exists():
        podman.require("debootstrap")
        BASE_TARBALL.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=BASE_TARBALL.parent) as tmp:
            rootfs = Path(tmp) / "rootfs"
            source = mirror or debian_mirror()
            done = subprocess.run(
                ["debootstrap", "--variant=minbase", SUITE, str(rootfs), source],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise podman.PodmanError(f"debootstrap from {source} failed: {done.stderr[-2000:]}")
            for sub in _TRIM:
                shutil.rmtree(rootfs / sub, ignore_errors=True)
            (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True)
            (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True)
            (rootfs / "var/log").mkdir()
            partial = BASE_TARBALL.with_suffix(".tar.part")
            subprocess.run(["tar", "-C", str(rootfs), "-cf", str(partial), "."], check=True)
            partial.rename(BASE_TARBALL)
        made = "debootstrapped and imported"
    else:
        made = "imported from the cached tarball"
    podman.run(
        ["import", "--message", f"debootstrap --variant=minbase {SUITE}", str(BASE_TARBALL), name]
    )
    return made


def requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """What the Dockerfile's builder installs before the project: its dependencies and its
    build system's (the same expression is in the Dockerfile, which has no project code)."""
    project = tomllib.loads(pyproject.read_text())
    return [*project["project"]["dependencies"], *project["build-system"]["requires"]]


def fill_wheelhouse(target: Path = WHEELHOUSE) -> Path:
    """Download (or find already there) every wheel the image installs, pinned by
    constraints.txt, with the host's pip: a second run downloads nothing."""
    wanted = "\n".join(requirements()) + "\n"
    # The wanted set, pins included: when it has not changed, pip is not asked (~10 s).
    stamp = target / ".requirements"
    key = wanted + (ROOT / "constraints.txt").read_text()
    if stamp.exists() and stamp.read_text() == key:
        return target
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as req:
        req.write(wanted)
        req.flush()
        done = subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "-q", "-d", str(target)),
                *("--only-binary", ":all:", "--python-version", PYTHON_VERSION),
                *("-c", str(ROOT / "constraints.txt"), "-r", req.name),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise podman.PodmanError(
            f"pip download of the image's wheels failed: {done.stderr[-2000:]}"
        )
    stamp.write_text(key)
    return target


def build(
    tag: str = IMAGE, *, base: str = BASE_IMAGE, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """``podman build`` of the repository's Dockerfile on ``base``; unchanged layers come
    from the cache in podman's storage."""
    if base == BASE_IMAGE:
        ensure_base(base)
    wheels = fill_wheelhouse()
    return podman.run(
        [
            *("build", "--network", "host", "--layers", "-f", str(ROOT / "Dockerfile")),
            *("--build-arg", f"BASE_IMAGE={base}", "--build-arg", "WHEELHOUSE=/wheels"),
            *("--volume", f"{wheels}:/wheels:ro", "--tag", tag, str(ROOT)),
        ],
        timeout=timeout,
    )


def size_mb(tag: str = IMAGE) -> float:
    done = podman.run(["image", "inspect", "--format", "{{.Size}}", tag])
    return int(done.stdout.strip()) / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.container.image", description=__doc__)
    parser.add_argument("--base", default=BASE_IMAGE, help=f"base image (default {BASE_IMAGE})")
    parser.add_argument("--tag", default=IMAGE, help=f"image name (default {IMAGE})")
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        build(args.tag, base=args.base)
    except podman.PodmanError as exc:
        print(f"image: {exc}", file=sys.stderr)
        return 1
    took = time.monotonic() - start
    print(f"built {args.tag} on {args.base} in {took:.0f} s ({size_mb(args.tag):.0f} MB)")
    print(f"run it: CONTAINERS_CONF={podman.CONF} {' '.join(podman.argv('run', '--rm', args.tag))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
