#!/usr/bin/env bash
# After run.sh, if the candidate wins: it is shipped as models/de, scored and carded as recipes/release.sh's last
# steps do it (the release leaderboard reads runs/release/de, linked to the candidate's run; zero-shot Whisper's
# transcripts come from the shipped run's leaderboard cache, the same audio).
#   bash docs/results/release-de/specaug-off/ship.sh 2>&1 | tee -a runs/specaug-off-de.log
set -euo pipefail
cd "$(dirname "$0")/../../../.."
ASR=${ASR:-.venv/bin/asr} PY=${PY:-.venv/bin/python}
RUN=runs/specaug-off-de
mkdir -p runs/release $RUN/leaderboard
ln -sfn ../specaug-off-de runs/release/de
[ -d runs/hours-20-de/leaderboard/cache ] && cp -rn runs/hours-20-de/leaderboard/cache $RUN/leaderboard/
$PY recipes/release_model.py stage --lang de --run $RUN --out models/de
$ASR leaderboard --config recipes/release/leaderboard-de.toml
$PY recipes/release_model.py card --lang de --run $RUN --data data/release-de-20h --out models/de \
  --leaderboard runs/release/de/leaderboard/leaderboard.json \
  --command "bash recipes/release.sh de (HOURS=20, 5218 steps, SpecAugment off, EXPORT='--bits 4'; as run: docs/results/release-de/specaug-off/run.sh, ship.sh)"
cp runs/release/de/leaderboard/leaderboard.{json,md,png} docs/results/release-de/
