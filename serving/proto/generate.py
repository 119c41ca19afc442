"""Regenerate the Python stubs of the served protocols: `make protos` runs this.

    python -m serving.proto.generate

Two protos: the project's own service (protos/asr/v1/recognizer.proto) and the
subset of Google Cloud Speech v1 it also serves
(protos/google/cloud/speech/v1/cloud_speech.proto). protoc maps each proto's
folder onto serving/proto (`-Iserving/proto=protos/asr/v1`), so the generated
modules live here and import each other as `serving.proto.*`. With a plain
`-Iprotos` they would import `asr.v1.*`, which this repository's own `asr`
package shadows, and `google.cloud.speech.v1.*`, which is Google's client
package. The proto packages stay `asr.v1` and `google.cloud.speech.v1`.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTOS = (ROOT / "protos" / "asr" / "v1" / "recognizer.proto", ROOT / "protos" / "google" / "cloud" / "speech" / "v1" / "cloud_speech.proto")


def generate(out_root: Path = ROOT) -> list[Path]:
    """Write the stubs under `out_root`/serving/proto and return their paths."""
    from grpc_tools import protoc

    well_known = resources.files("grpc_tools") / "_proto"  # google/protobuf/duration.proto
    out = str(out_root)
    written = []
    for proto in PROTOS:
        code = protoc.main(
            [
                "protoc",
                f"-I{well_known}",
                f"-Iserving/proto={proto.parent}",
                f"--python_out={out}",
                f"--pyi_out={out}",
                f"--grpc_python_out={out}",
                str(proto),
            ]
        )
        if code != 0:
            raise RuntimeError(f"protoc failed on {proto} (exit status {code}); its message is above")
        written += [out_root / "serving" / "proto" / f"{proto.stem}{suffix}" for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")]
    return written


if __name__ == "__main__":
    for path in generate():
        print(path.relative_to(ROOT), file=sys.stderr)
