"""Regenerate the Python stubs of the service's protocol: `make protos` runs this.

    python -m serving.proto.generate

protoc maps the proto's folder onto serving/proto (`-Iserving/proto=protos/asr/v1`),
so the generated modules live here and import each other as `serving.proto.*`.
With a plain `-Iprotos` they would import `asr.v1.*`, which this repository's
own `asr` package shadows. The proto package stays `asr.v1` either way.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTO = ROOT / "protos" / "asr" / "v1" / "recognizer.proto"
STUBS = ("recognizer_pb2.py", "recognizer_pb2.pyi", "recognizer_pb2_grpc.py")


def generate(out_root: Path = ROOT) -> list[Path]:
    """Write the stubs under `out_root`/serving/proto and return their paths."""
    from grpc_tools import protoc

    well_known = resources.files("grpc_tools") / "_proto"  # google/protobuf/duration.proto
    out = str(out_root)
    code = protoc.main(
        [
            "protoc",
            f"-I{well_known}",
            f"-Iserving/proto={PROTO.parent}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            str(PROTO),
        ]
    )
    if code != 0:
        raise RuntimeError(f"protoc failed on {PROTO} (exit status {code}); its message is above")
    return [out_root / "serving" / "proto" / name for name in STUBS]


if __name__ == "__main__":
    for path in generate():
        print(path.relative_to(ROOT), file=sys.stderr)
