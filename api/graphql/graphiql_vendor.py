"""Re-fetch GraphiQL's files from the npm registry: ``python -m api.graphql.graphiql_vendor``
(``make graphiql-assets``), after a Strawberry upgrade changes the versions its page pins.

For each CDN file of Strawberry's page (:func:`api.graphql.graphiql.cdn_files`) it runs
``npm pack <package>@<version>`` (npm checks the tarball against the registry's
integrity), takes the file out of the tarball, refuses it unless its SRI hash is the one
the page pins (so the bytes are exactly what Strawberry's page loads from the CDN),
writes it under api/web/static/graphiql/ and rewrites the README there with each file's
package, version and SHA-256. Needs npm and the registry; nothing else ever does (the
files are committed).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from api.graphql.graphiql import DIRECTORY, CdnFile, cdn_files, sri
from api.web.assets import STATIC_DIR

VENDOR_DIR = STATIC_DIR / DIRECTORY
README = VENDOR_DIR / "README.md"


class VendorError(RuntimeError):
    """A file could not be fetched as the page pins it."""


def pack(package: str, version: str, into: Path) -> tuple[Path, str]:
    """``npm pack`` of one version: the tarball and the registry's integrity for it."""
    npm = shutil.which("npm")
    if npm is None:
        raise VendorError("npm is missing: `bash infra/bootstrap.sh --node` installs it")
    run = subprocess.run(
        [npm, "pack", "--json", "--pack-destination", str(into), f"{package}@{version}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if run.returncode != 0:
        raise VendorError(f"npm pack {package}@{version} failed: {run.stderr.strip()}")
    info = json.loads(run.stdout)[0]
    return into / info["filename"], str(info["integrity"])


def extract(tarball: Path, path: str) -> bytes:
    """One file of an npm tarball (its files are under ``package/``)."""
    with tarfile.open(tarball) as archive:
        try:
            member = archive.extractfile(f"package/{path}")
        except KeyError:
            member = None
        if member is None:
            raise VendorError(f"{tarball.name} has no file package/{path}")
        return member.read()


def license_of(tarball: Path) -> tuple[str, str | None]:
    """The package's license name (package.json) and its LICENSE text, if it ships one."""
    name = str(json.loads(extract(tarball, "package.json")).get("license", "unknown"))
    try:
        return name, extract(tarball, "LICENSE").decode()
    except VendorError:
        return name, None


@dataclass(frozen=True, slots=True)
class Tarball:
    integrity: str  # as the registry gave it and npm checked it
    license: str
    license_text: str | None


@dataclass(frozen=True, slots=True)
class Fetched:
    file: CdnFile
    body: bytes
    tarball: Tarball


def fetch(files: list[CdnFile], into: Path) -> list[Fetched]:
    """Each file's bytes and its package's facts, checked against the page's SRI."""
    fetched = []
    tarballs: dict[tuple[str, str], tuple[Path, Tarball]] = {}
    for file in files:
        key = (file.package, file.version)
        if key not in tarballs:
            path, integrity = pack(file.package, file.version, into)
            tarballs[key] = path, Tarball(integrity, *license_of(path))
        tarball, facts = tarballs[key]
        body = extract(tarball, file.path)
        if file.integrity is not None and sri(body) != file.integrity:
            raise VendorError(
                f"{file.package}@{file.version}/{file.path} from npm is not the file the"
                f" page pins: {sri(body)} != {file.integrity}"
            )
        fetched.append(Fetched(file, body, facts))
    return fetched


def readme(fetched: list[Fetched]) -> str:
    rows = [
        f"| `{f.file.name.removeprefix(DIRECTORY + '/')}` | `{f.file.package}` |"
        f" {f.file.version} | `{f.file.path}` | `{hashlib.sha256(f.body).hexdigest()}` |"
        for f in fetched
    ]
    packages = {f"{f.file.package}@{f.file.version}": f.tarball for f in fetched}
    tarballs = [f"- `{name}`: `{t.integrity}`" for name, t in sorted(packages.items())]
    licenses = [
        f"### {name}: {t.license}\n\n"
        + (
            "```text\n" + t.license_text.strip() + "\n```"
            if t.license_text
            else "(the package ships no LICENSE file; its package.json says the above)"
        )
        for name, t in sorted(packages.items())
    ]
    return "\n".join(
        [
            "# GraphiQL's files, vendored",
            "",
            "The scripts and styles Strawberry's GraphiQL page loads from unpkg.com, served by",
            "the API from here (`api/graphql/graphiql.py`) so `/graphql` works without internet.",
            "Fetched from the npm registry at the versions the page pins; each file's SRI hash",
            "is the page's own. Written by `make graphiql-assets`",
            "(`python -m api.graphql.graphiql_vendor`): do not edit by hand.",
            "",
            "| file | npm package | version | path in the package | sha256 |",
            "| --- | --- | --- | --- | --- |",
            *rows,
            "",
            "npm tarball integrity (as `npm pack` verified it):",
            "",
            *tarballs,
            "",
            "## Licenses",
            "",
            "\n\n".join(licenses),
            "",
        ]
    )


def main() -> int:
    files = list({file.name: file for file in cdn_files()}.values())
    with tempfile.TemporaryDirectory() as tmp:
        try:
            fetched = fetch(files, Path(tmp))
        except VendorError as exc:
            print(f"graphiql_vendor: {exc}", file=sys.stderr)
            return 1
    VENDOR_DIR.mkdir(exist_ok=True)
    for stale in VENDOR_DIR.iterdir():
        if stale != README:
            stale.unlink()
    for f in fetched:
        (STATIC_DIR / f.file.name).write_bytes(f.body)
    README.write_text(readme(fetched), encoding="utf-8")
    print(f"graphiql_vendor: {len(fetched)} files in {VENDOR_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
