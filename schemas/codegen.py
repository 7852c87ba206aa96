"""Generate the Python protobuf/gRPC code in schemas/jobstream/ from proto/.

grpcio-tools writes absolute imports (``from jobstream.v1 import posting_pb2``); the
generated modules live inside the ``schemas`` package, so those imports are rewritten to
``from schemas.jobstream.v1 import ...``. ``generate()`` returns the files it would write
so that a test can compare them with the committed ones.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
OUT_ROOT = ROOT / "schemas"
_IMPORT = re.compile(r"^from jobstream\.v1 import", re.MULTILINE)


def generate() -> dict[Path, str]:
    """Run protoc on every proto/jobstream/**/*.proto; return {target path: content}."""
    import grpc_tools
    from grpc_tools import protoc

    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    if not protos:
        raise SystemExit(f"no .proto files under {PROTO_ROOT}")
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{well_known}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            *protos,
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed: see the message above")
        files: dict[Path, str] = {}
        for path in sorted(Path(tmp).rglob("*.py*")):
            text = _IMPORT.sub("from schemas.jobstream.v1 import", path.read_text())
            files[OUT_ROOT / path.relative_to(tmp)] = text
    for pkg in ("jobstream", "jobstream/v1"):
        files[OUT_ROOT / pkg / "__init__.py"] = '"""Generated from proto/ by schemas.codegen."""\n'
    return files


def main() -> None:
    for path, text in generate().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(path.relative_to(ROOT), file=sys.stderr)


if __name__ == "__main__":
    main()
