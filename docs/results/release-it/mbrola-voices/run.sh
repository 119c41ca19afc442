#!/usr/bin/env bash
# The Italian release recipe (recipes/release/it.toml, the shipped model's 2149 steps) on the corpus the builder makes
# since 101b64b: MBROLA it1 (training) and it2 (dev) spoken without the diphones espeak-ng's tables for them left
# silent (asr.corpora.synth.MBROLA_PHONEMES); test is the same files as data/release-it's. Then the candidate against
# models/it on the whole held-out-voice test set and its telephone variant, default decoding and greedy, paired
# bootstrap (recipes/candidate.sh).
#   bash docs/results/release-it/mbrola-voices/run.sh 2>&1 | tee -a runs/candidate-it-mbrola.log
set -euo pipefail
cd "$(dirname "$0")/../../../.."
ASR=${ASR:-.venv/bin/asr}
# test as built before (hard links: the builder keeps WAVs it finds), train and dev anew
mkdir -p data/release-it-mbrola/wav
[ -d data/release-it-mbrola/wav/test ] || cp -al data/release-it/wav/test data/release-it-mbrola/wav/
[ -f data/release-it-mbrola/dataset_card.json ] || $ASR data synth --lang it --hours 10 --out data/release-it-mbrola
[ -d data/release-it-mbrola-telephone ] || cp -al data/release-it-telephone data/release-it-mbrola-telephone
DATA=data/release-it-mbrola bash recipes/candidate.sh it mbrola-voices --max-steps 2149 \
  --train-manifest data/release-it-mbrola/train.jsonl --dev-manifest data/release-it-mbrola/dev.jsonl
