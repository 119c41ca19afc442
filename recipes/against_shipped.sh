#!/usr/bin/env bash
# A release candidate (models/LANG as recipes/release.sh staged it, not yet committed) against the model shipped at
# COMMIT, paired on the same 300 test utterances, clean and telephone, with each model's default decoding (beam
# search with its LM) and greedy; the printed tables are the record, the per-utterance JSON goes to
# /tmp/against-shipped-LANG (0.35 MB each). A candidate that loses is reverted with `git checkout models/LANG`.
#   bash recipes/against_shipped.sh it HEAD
set -euo pipefail
cd "$(dirname "$0")/.."
USAGE="usage: bash recipes/against_shipped.sh LANG COMMIT"
L=${1:?$USAGE} COMMIT=${2:?$USAGE}
ASR=${ASR:-.venv/bin/asr}
SHIPPED=/tmp/against-shipped-$L-checkout OUT=/tmp/against-shipped-$L
git worktree add --force --detach "$SHIPPED" "$COMMIT" >/dev/null
trap 'git worktree remove --force "$SHIPPED"' EXIT
mkdir -p "$OUT"
for set in data/release-$L/test-300.jsonl data/release-$L-telephone/test-300.jsonl; do
  tag=$(basename "$(dirname "$set")")
  $ASR eval --model models/$L --baseline "$SHIPPED/models/$L" --manifest "$set" --json "$OUT/$tag-default.json"
  $ASR eval --model models/$L --decoder greedy --baseline "$SHIPPED/models/$L" --manifest "$set" --json "$OUT/$tag-greedy.json"
done
