#!/usr/bin/env bash
# After run.sh, the candidate having won: it is shipped as models/es, scored and carded as recipes/release.sh's last
# steps do it (the release leaderboard reads runs/release/es, linked to the candidate's run; zero-shot Whisper's
# transcripts come from an earlier Spanish leaderboard's cache, the same audio). The corpus it trained on becomes
# data/release-es, the one release.sh keeps as built (the old one moves aside; dev and test are the same files).
#   bash docs/results/release-es/mbrola-voices/ship.sh 2>&1 | tee -a runs/candidate-es-mbrola.log
set -euo pipefail
cd "$(dirname "$0")/../../../.."
ASR=${ASR:-.venv/bin/asr} PY=${PY:-.venv/bin/python}
RUN=runs/mbrola-voices-es
if [ ! -L data/release-es-mbrola ]; then
  mv data/release-es data/release-es-2026-12-03 && mv data/release-es-mbrola data/release-es
  ln -s release-es data/release-es-mbrola   # the paths the run's config and records name
fi
mkdir -p runs/release $RUN/leaderboard
ln -sfn ../mbrola-voices-es runs/release/es
[ -d runs/specaug-off-es/leaderboard/cache ] && cp -rn runs/specaug-off-es/leaderboard/cache $RUN/leaderboard/
head -n 300 data/release-es-telephone/test.jsonl > data/release-es-telephone/test-300.jsonl
$PY recipes/release_model.py stage --lang es --run $RUN --out models/es
$ASR leaderboard --config recipes/release/leaderboard-es.toml
$PY recipes/release_model.py card --lang es --run $RUN --data data/release-es --out models/es \
  --leaderboard runs/release/es/leaderboard/leaderboard.json \
  --command "bash recipes/release.sh es (HOURS=10, 2300 steps, EXPORT='--rank 64'; as run: docs/results/release-es/mbrola-voices/run.sh, ship.sh)"
cp runs/release/es/leaderboard/leaderboard.{json,md,png} docs/results/release-es/
