"""What this CPU computes natively, from /proc/cpuinfo: it decides bf16 autocast and the int8 weight type.

bf16 without AVX512-BF16 or AMX is emulated, tens of times slower than fp32.
int8 matrix products with signed weights run on VNNI where the CPU has it;
without VNNI, ONNX Runtime multiplies unsigned activations by signed weights
with an instruction that saturates its 16-bit sums, so a model exported for
VNNI loses accuracy there (`asr.onnx_model`).
"""

from __future__ import annotations

import functools
from pathlib import Path


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The first processor's flags; empty where /proc/cpuinfo is not (not Linux): then nothing is assumed."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return frozenset(line.partition(":")[2].split())


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes in bf16 itself (AVX512-BF16 or AMX), where bf16 autocast pays off."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def cpu_has_vnni() -> bool:
    """Whether this CPU has int8 dot products (AVX512-VNNI or AVX-VNNI), which take signed int8 weights unsaturated."""
    return bool({"avx512_vnni", "avx_vnni"} & cpu_flags())
