#!/usr/bin/env bash
# Ships what recipes/reweigh.sh LANG made, once its comparison against models/LANG (docs/results/release-LANG/wise-ft)
# says it wins: models/LANG gets the re-weighed export and its retuned LM (release_model.py reweigh, the card's data and
# training facts kept), scored on the release leaderboard (runs/release/LANG linked to the run, as the leaderboard's
# config reads it) and carded from it (recipes/rescore.sh). A loser is left unshipped: `git checkout models/LANG`.
#   bash recipes/ship_reweighed.sh es
set -euo pipefail
cd "$(dirname "$0")/.."
L=${1:?usage: bash recipes/ship_reweighed.sh LANG}
PY=${PY:-.venv/bin/python}
RUN=${RUN:-runs/wise-ft-$L}
[ -f $RUN/models-$L/model.safetensors ] || { echo "no re-weighed model at $RUN/models-$L: run bash recipes/reweigh.sh $L first" >&2; exit 2; }
mkdir -p runs/release
ln -sfn "$(realpath --relative-to=runs/release $RUN)" runs/release/$L
$PY recipes/release_model.py reweigh --lang "$L" --run $RUN --out models/$L
COMMAND="bash recipes/reweigh.sh $L, then bash recipes/ship_reweighed.sh $L" bash recipes/rescore.sh $L
