#!/usr/bin/env bash
# After run.sh, the candidate having won: it is shipped as models/it, scored and carded as recipes/release.sh's last
# steps do it (the release leaderboard reads runs/release/it, linked to the candidate's run). The corpus it trained on
# becomes data/release-it, the one release.sh keeps as built (the old one moves aside; test is the same files).
#   bash docs/results/release-it/mbrola-voices/ship.sh 2>&1 | tee -a runs/candidate-it-mbrola.log
set -euo pipefail
cd "$(dirname "$0")/../../../.."
ASR=${ASR:-.venv/bin/asr} PY=${PY:-.venv/bin/python}
RUN=runs/mbrola-voices-it
if [ ! -L data/release-it-mbrola ]; then
  mv data/release-it data/release-it-2026-12-05 && mv data/release-it-mbrola data/release-it
  ln -s release-it data/release-it-mbrola   # the paths the run's config and records name
fi
mkdir -p runs/release
ln -sfn ../mbrola-voices-it runs/release/it
head -n 300 data/release-it/test.jsonl > data/release-it/test-300.jsonl
head -n 300 data/release-it-telephone/test.jsonl > data/release-it-telephone/test-300.jsonl
$PY recipes/release_model.py stage --lang it --run $RUN --out models/it
$ASR leaderboard --config recipes/release/leaderboard-it.toml
$PY recipes/release_model.py card --lang it --run $RUN --data data/release-it --out models/it \
  --leaderboard runs/release/it/leaderboard/leaderboard.json \
  --command "bash recipes/release.sh it (HOURS=10, 2149 steps, EXPORT='--rank 64'; as run: docs/results/release-it/mbrola-voices/run.sh, ship.sh)"
cp runs/release/it/leaderboard/leaderboard.{json,md,png} docs/results/release-it/
