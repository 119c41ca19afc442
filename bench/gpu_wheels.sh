#!/usr/bin/env bash
# The wheels bench/gpu_check.sh needs on a lent GPU machine that its image lacks (Python 3.12, x86-64), into .whl/
# (ignored by git; `device run` carries it). Run here, where PyPI is reachable.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
PLATFORMS="--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64"
# grpcio and protobuf at least as new as what generated serving/proto/ (their stubs refuse older runtimes); cffi and
# pycparser for soundfile.
for package in soundfile cffi pycparser jiwer rapidfuzz grpcio==1.85.3 protobuf==7.36.2 grpcio-health-checking==1.85.1 \
    grpcio-reflection==1.85.1 flashlight-text G722; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp $PLATFORMS -d .whl "$package" \
    || python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 -d .whl "$package"
done
du -sh .whl
