#!/usr/bin/env bash
# The Spanish release recipe (recipes/release/es.toml, the shipped model's 2300 steps) on the corpus the builder makes
# since 101b64b: es4, the one MBROLA voice the shipped model heard, spoken without the diphones espeak-ng's table for it
# left silent, and MBROLA es1, es2, mx1, mx2 and vz1 added (asr.corpora.synth.MBROLA_PHONEMES); dev and test are the
# same files as the shipped model's corpus (the builder's dev and test plans do not depend on the train voices). Then
# the candidate against models/es on the whole held-out-voice test set and its telephone variant, default decoding and
# greedy, paired bootstrap (recipes/candidate.sh).
#   bash docs/results/release-es/mbrola-voices/run.sh 2>&1 | tee -a runs/candidate-es-mbrola.log
set -euo pipefail
cd "$(dirname "$0")/../../../.."
ASR=${ASR:-.venv/bin/asr}
# dev and test as built before (hard links: the builder keeps WAVs it finds), the train split anew
mkdir -p data/release-es-mbrola/wav
[ -d data/release-es-mbrola/wav/test ] || cp -al data/release-es/wav/dev data/release-es/wav/test data/release-es-mbrola/wav/
[ -f data/release-es-mbrola/dataset_card.json ] || $ASR data synth --lang es --hours 10 --out data/release-es-mbrola
for f in dev-300 test-300; do cp -n data/release-es/$f.jsonl data/release-es-mbrola/; done
[ -d data/release-es-mbrola-telephone ] || cp -al data/release-es-telephone data/release-es-mbrola-telephone
DATA=data/release-es-mbrola bash recipes/candidate.sh es mbrola-voices --max-steps 2300 \
  --train-manifest data/release-es-mbrola/train.jsonl
