# Sourced by bench/gpu_check.sh and recipes/gpu_release/run.sh on a lent GPU machine, from the repository root: the
# image has PyTorch but not this project, so install the carried wheels (bench/gpu_wheels.sh) into /tmp/site, and the
# project's own metadata into /tmp/project, so that `asr` finds the subcommands training, eval and serving register
# as entry points. The code itself is imported from this checkout, ahead of the copy under /tmp/project.
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
fi
$PY -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --no-cache-dir --upgrade --target /tmp/project .
export PYTHONPATH=/tmp/site:$PWD:/tmp/project
