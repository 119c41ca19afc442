#!/usr/bin/env bash
# The German release recipe on twice the hours (20 h corpus: 16 h of training speech, about 14,000 training sentences
# against 7,089), at the shipped run's 5218 steps, everything else as recipes/release.sh de does it; then the candidate
# against the shipped models/de on the whole held-out-voice test set of the 10 h corpus (the 20 h corpus's first test
# utterances are the same jobs) and its telephone variant, default decoding and greedy, paired bootstrap.
#   bash docs/results/release-de/hours-20/run.sh 2>&1 | tee -a runs/hours-20-de.log
set -euo pipefail
cd "$(dirname "$0")/../../../.."
ASR=${ASR:-.venv/bin/asr}
DATA=data/release-de-20h OUT=docs/results/release-de/hours-20
# The 10 h corpus's WAVs are the 20 h build's first jobs: linked, not synthesized again.
[ -d $DATA ] || cp -al data/release-de $DATA
$ASR data synth --lang de --hours 20 --out $DATA   # resumes: a finished build only checks its files
cp $DATA/dataset_card.json $OUT/dataset_card.json; cp $DATA/README.md $OUT/dataset.md
# Same steps as the shipped run (its schedule set from its own budget), not a time budget: equal compute on any machine.
# Written inline when it ran; the same steps since in recipes/candidate.sh, which this calls.
DATA=data/release-de bash recipes/candidate.sh de hours-20 --train-manifest data/release-de-20h/train.jsonl --max-steps 5218
