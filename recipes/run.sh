#!/usr/bin/env bash
# The recipes of Transfer ASR's transfer-learning claim, end to end: data, training runs, test-set
# evaluations, then docs/RESULTS.md. Budgets are wall-clock seconds of training per model, the same for
# every model it is compared with; set them higher on a GPU. Rerunning resumes what is already done.
#
#   BUDGET=480 SHORT=150 bash recipes/run.sh [transfer] [data_efficiency] [augmentation] [paper]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
ASR=${ASR:-.venv/bin/asr}
BUDGET=${BUDGET:-480}      # transfer vs. baseline, per model, evaluated at a quarter, half and all of it
SHORT=${SHORT:-150}        # each data-efficiency and paper run
UTTERANCES=${UTTERANCES:-2000}
RUNS=runs/recipes
DE=data/recipes/synth-de
EN=data/recipes/synth-en

test_eval() {  # run folder, budget tag[, manifest]
  $ASR eval --model "$1/last.safetensors" --manifest "${3:-$DE/test.jsonl}" --json "$1/test-$2.json"
}

# 1. Transfer vs. baseline at equal wall-clock checkpoints: each segment resumes the run exactly.
transfer() {
  for model in whisper-base scratch; do
    for budget in $((BUDGET / 4)) $((BUDGET / 2)) "$BUDGET"; do
      $ASR train --config recipes/transfer_vs_baseline/$model.toml --out-dir $RUNS/transfer/$model --time-budget "$budget"
      test_eval $RUNS/transfer/$model "$budget"
    done
  done
}

# 2. Data efficiency: the same comparison on 10 %, 30 % and 100 % of the training hours.
data_efficiency() {
  for fraction in 0.1 0.3 1.0; do
    for model in whisper-base scratch; do
      run=$RUNS/data_efficiency/$model-$fraction
      $ASR train --config recipes/transfer_vs_baseline/$model.toml --out-dir $run --train-fraction $fraction \
        --time-budget "$SHORT" --eval-every 0
      test_eval $run "$SHORT"
    done
  done
}

# 3. Augmentation against the synthetic-to-telephone gap: the fine-tune with and without on-the-fly
#    augmentation, same budget, scored on the test voices passed through a telephone channel.
augmentation() {
  $ASR data augment $DE/test.jsonl --telephone --out $DE-telephone
  for augment in off default; do
    run=$RUNS/augmentation/$augment
    $ASR train --config recipes/transfer_vs_baseline/whisper-base.toml --out-dir $run --augment $augment \
      --time-budget "$SHORT" --eval-every 0
    test_eval $run "$SHORT" $DE-telephone/test.jsonl
  done
}

# 4. The paper's system: Wav2Letter on English, transferred to German with 0, 6, 8 and 10 layers frozen,
#    against Wav2Letter trained on German from scratch.
paper() {
  $ASR data synth --lang en --utterances "$UTTERANCES" --out $EN
  $ASR train --config recipes/paper_wav2letter/english.toml --out-dir $RUNS/paper/english --time-budget "$BUDGET"
  test_eval $RUNS/paper/english "$BUDGET" $EN/test.jsonl
  for frozen in 0 6 8 10; do
    run=$RUNS/paper/german-frozen-$frozen
    $ASR train --config recipes/paper_wav2letter/german.toml --out-dir $run --init $RUNS/paper/english/last.safetensors \
      --freeze-layers $frozen --time-budget "$SHORT"
    test_eval $run "$SHORT"
  done
  $ASR train --config recipes/paper_wav2letter/german.toml --out-dir $RUNS/paper/german-scratch --init none --time-budget "$SHORT"
  test_eval $RUNS/paper/german-scratch "$SHORT"
}

$ASR data synth --lang de --utterances "$UTTERANCES" --out $DE
for section in "${@:-transfer data_efficiency augmentation paper}"; do
  for name in $section; do "$name"; done
done
.venv/bin/python recipes/report.py --runs $RUNS --out docs/RESULTS.md
