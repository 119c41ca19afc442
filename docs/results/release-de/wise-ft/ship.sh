#!/usr/bin/env bash
# After the recipe's run (README.md here), the candidate wins: it is shipped as models/de, scored and carded as
# recipes/release.sh's last steps do it (the release leaderboard reads runs/release/de, linked to the candidate's run).
#   bash docs/results/release-de/wise-ft/ship.sh 2>&1 | tee -a runs/wise-ft-de.log
set -euo pipefail
cd "$(dirname "$0")/../../../.."
ASR=${ASR:-.venv/bin/asr} PY=${PY:-.venv/bin/python}
RUN=runs/freeze-3-de
mkdir -p runs/release
ln -sfn ../freeze-3-de runs/release/de
$PY recipes/release_model.py stage --lang de --run $RUN --out models/de
$ASR leaderboard --config recipes/release/leaderboard-de.toml
$PY recipes/release_model.py card --lang de --run $RUN --data data/release-de --out models/de \
  --leaderboard runs/release/de/leaderboard/leaderboard.json \
  --command "bash recipes/release.sh de (HOURS=20, 5218 steps, 3 of 6 layers frozen, EXPORT='--bits 4', the fine-tuned weight chosen on dev; as run: RUN=runs/freeze-3-de bash recipes/candidate.sh de wise-ft --max-steps 5218 --freeze-layers 3, then docs/results/release-de/wise-ft/ship.sh)"
cp runs/release/de/leaderboard/leaderboard.{json,md,png} docs/results/release-de/
