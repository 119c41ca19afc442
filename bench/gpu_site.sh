# Sourced by bench/gpu_check.sh and recipes/gpu_release/run.sh on a lent GPU machine, from the repository root, with
# PY set: the image has PyTorch but not this project, so install the carried wheels (bench/gpu_wheels.sh: .whl/) into
# /tmp/site, and the project's own metadata into /tmp/project, so that `asr` finds the subcommands that training,
# eval and serving register as entry points. The code itself is imported from this checkout, ahead of the copy under
# /tmp/project. WHEELS, SITE and PROJECT override the three folders (tests/test_gpu_check.py).
WHEELS=${WHEELS:-.whl} SITE=${SITE:-/tmp/site} PROJECT=${PROJECT:-/tmp/project}
if [ -d "$WHEELS" ] && ls "$WHEELS"/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl
fi
$PY -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --no-cache-dir --upgrade --target "$PROJECT" .
export PYTHONPATH=$SITE:$PWD:$PROJECT
