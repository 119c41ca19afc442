"""What this CPU computes natively, from /proc/cpuinfo: it decides bf16 autocast, and whether an int8 export's
8-bit weights run unsaturated.

bf16 without AVX512-BF16 or AMX is emulated, tens of times slower than fp32.
int8 matrix products with signed 8-bit weights run on VNNI where the CPU has it;
without VNNI, ONNX Runtime multiplies unsigned activations by signed weights
with an instruction that saturates its 16-bit sums, so an export with 8-bit
weights loses accuracy there (the default export's 7-bit weights do not: `asr.onnx_model`).
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path


@functools.cache
def _first_processor() -> dict[str, str]:
    """The first processor's /proc/cpuinfo fields; empty where there is none (not Linux): then nothing is assumed."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    fields = {}
    for line in text.splitlines():
        if not line.strip():
            break
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def cpu_flags() -> frozenset[str]:
    """The first processor's flags; none where /proc/cpuinfo is not."""
    return frozenset(_first_processor().get("flags", "").split())


def cpu_model() -> str:
    """"AMD EPYC (family 26, model 2)": a virtual machine's model name often hides the generation, its family not."""
    info = _first_processor()
    name = info.get("model name") or platform.processor() or platform.machine() or "unknown CPU"
    if "cpu family" in info and "model" in info:
        name += f" (family {info['cpu family']}, model {info['model']})"
    return name


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes in bf16 itself (AVX512-BF16 or AMX), where bf16 autocast pays off."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tiles for bf16 and int8 (Sapphire Rapids and later): figures differ by far with them."""
    return {"amx_bf16", "amx_int8"} <= cpu_flags()


def cpu_has_vnni() -> bool:
    """Whether this CPU has int8 dot products (AVX512-VNNI or AVX-VNNI), which take signed int8 weights unsaturated."""
    return bool({"avx512_vnni", "avx_vnni"} & cpu_flags())
