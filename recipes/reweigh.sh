#!/usr/bin/env bash
# The share of fine-tuning a shipped model keeps (WiSE-FT), chosen for a model whose training run is not on this
# machine: models/LANG's export stands in for the run's checkpoint, and what recipes/release.sh does after training
# follows (each share's export decoded on 300 dev utterances greedy, the best kept, the LMs built and tuned on that
# model), then the result against models/LANG as recipes/candidate.sh scores a candidate (whole test set and its
# telephone variant, default decoding and greedy, paired bootstrap; the record in docs/results/release-LANG/wise-ft).
# Needs only the corpus's dev and test splits: where the corpus is not here they are synthesized alone, the same files
# as a whole build's. The shares are of the change the export stored (for Italian and Spanish, its rank-64 truncation).
#   bash recipes/reweigh.sh es
set -euo pipefail
cd "$(dirname "$0")/.."
L=${1:?usage: bash recipes/reweigh.sh LANG}
ASR=${ASR:-.venv/bin/asr} PY=${PY:-.venv/bin/python}
source recipes/release/settings.sh   # HOURS, EXPORT and FINE_TUNED_WEIGHTS
DATA=data/release-$L RUN=${RUN:-runs/wise-ft-$L} OUT=docs/results/release-$L/wise-ft
[ -f $DATA/test.jsonl ] || $ASR data synth --lang "$L" --hours "$HOURS" --splits dev,test --out $DATA
mkdir -p $RUN
if [ ! -f $RUN/shipped.json ]; then
  cp models/$L/model.safetensors $RUN/shipped.safetensors
  printf '{"chosen": "models/%s as shipped at %s"}\n' "$L" "$(git rev-parse --short HEAD)" > $RUN/shipped.json
fi
source recipes/release/after_training.sh   # WEIGHT, its LMs tuned, dev-300-greedy.json
source recipes/release/score_candidate.sh   # the export, staged, against models/LANG; the record in OUT
