# Transfer ASR. The README's two commands: `make demo` and `make test`.
# Each sets up everything it needs on a fresh machine first (`make setup`).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DATA := data/synth-de
DEMO_RUNS := runs/demo
# The same step cap and wall-clock budget for the fine-tuned model and the from-scratch baseline: whichever comes first ends a run.
DEMO_MAX_STEPS ?= 400
DEMO_TRAIN_SECONDS ?= 300

.PHONY: setup system test demo bench clean

setup: system $(VENV)/.installed $(VENV)/bin/lmplz

system:
	bash scripts/setup_system.sh

# Reinstalled only when pyproject.toml changes. One pip resolve for everything.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[weights,test,bench,onnx]"
	touch $@

# KenLM's lmplz and build_binary for `asr lm build`, built once from the kenlm sdist.
$(VENV)/bin/lmplz: $(VENV)/.installed
	bash scripts/build_kenlm.sh $(VENV)

test: setup
	$(BIN)/python -m pytest

# Rerunning resumes each run folder: finished runs are not trained again.
demo: setup
	$(BIN)/asr data synth --lang de --utterances 1000 --out $(DEMO_DATA)
	$(BIN)/asr train --train-manifest $(DEMO_DATA)/train.jsonl --dev-manifest $(DEMO_DATA)/dev.jsonl \
		--out-dir $(DEMO_RUNS)/whisper-base-de --init whisper-base --freeze-layers 3 --lr-head 2e-3 --lr-encoder 2e-4 \
		--warmup-steps 20 --batch-seconds 30 --max-steps $(DEMO_MAX_STEPS) --time-budget $(DEMO_TRAIN_SECONDS)
	$(BIN)/asr train --train-manifest $(DEMO_DATA)/train.jsonl --dev-manifest $(DEMO_DATA)/dev.jsonl \
		--out-dir $(DEMO_RUNS)/scratch-de --init whisper-base --random-init --lr-head 1e-3 --lr-encoder 5e-4 \
		--warmup-steps 20 --batch-seconds 30 --max-steps $(DEMO_MAX_STEPS) --time-budget $(DEMO_TRAIN_SECONDS)
	$(BIN)/asr eval --model $(DEMO_RUNS)/whisper-base-de/last.safetensors --baseline $(DEMO_RUNS)/scratch-de/last.safetensors \
		--manifest $(DEMO_DATA)/test.jsonl --json $(DEMO_RUNS)/eval.json --markdown $(DEMO_RUNS)/eval.md
	$(BIN)/asr leaderboard --config leaderboard.toml
	$(BIN)/asr transcribe $$(ls $(DEMO_DATA)/wav/test/*.wav | head -n 1) \
		--model $(DEMO_RUNS)/whisper-base-de/last.safetensors --format all --output-dir $(DEMO_RUNS)/transcripts
	$(BIN)/asr transcribe $$(ls $(DEMO_DATA)/wav/test/*.wav | head -n 1) --model de --output-dir $(DEMO_RUNS)/transcripts-shipped

# Regenerate serving/proto's stubs from protos/ (asr/v1 and google/cloud/speech/v1; a test checks they are current).
.PHONY: protos
protos:
	$(BIN)/python -m serving.proto.generate

bench: setup
	$(BIN)/python bench/transcribe_rtfx.py
	$(BIN)/python bench/train_throughput.py

clean:
	rm -rf $(VENV) data runs
