#!/usr/bin/env bash
# After run.sh, the candidate having won: it is shipped as models/de, scored and carded as recipes/release.sh's last
# steps do it (the release leaderboard reads runs/release/de, linked to the candidate's run).
#   bash docs/results/release-de/mbrola-de8/ship.sh 2>&1 | tee -a runs/mbrola-de8-de.log
set -euo pipefail
cd "$(dirname "$0")/../../../.."
ASR=${ASR:-.venv/bin/asr} PY=${PY:-.venv/bin/python}
RUN=runs/mbrola-de8-de
mkdir -p runs/release
ln -sfn ../mbrola-de8-de runs/release/de
head -n 300 data/release-de/test.jsonl > data/release-de/test-300.jsonl
head -n 300 data/release-de-telephone/test.jsonl > data/release-de-telephone/test-300.jsonl
$PY recipes/release_model.py stage --lang de --run $RUN --out models/de
$ASR leaderboard --config recipes/release/leaderboard-de.toml
$PY recipes/release_model.py card --lang de --run $RUN --data data/release-de --out models/de \
  --leaderboard runs/release/de/leaderboard/leaderboard.json \
  --command "bash recipes/release.sh de (HOURS=20, 5218 steps, EXPORT='--bits 4'; as run: docs/results/release-de/mbrola-de8/run.sh, ship.sh)"
cp runs/release/de/leaderboard/leaderboard.{json,md,png} docs/results/release-de/
