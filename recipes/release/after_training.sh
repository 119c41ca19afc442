# What the release recipe does with a trained run: the checkpoint to ship, how much of its fine-tuning to keep, the
# LMs built and tuned on dev, greedy decoding's dev WER. Sourced with L, RUN, DATA, ASR and PY set by recipes/release.sh
# and recipes/candidate.sh; each step is skipped where its output is there. Sets WEIGHT, for the export's
# --fine-tuned-weight.

# The checkpoint shipped (shipped.safetensors): the end of the schedule, unless the run's best on the dev voice decodes
# dev better by a paired-bootstrap interval that excludes a tie: one dev voice ranks close checkpoints by chance.
if [ ! -f $RUN/shipped.json ]; then
  [ ! -f $RUN/last.safetensors ] || $ASR eval --model $RUN/last.safetensors --baseline $RUN/best.safetensors \
    --manifest $DATA/dev.jsonl --decoder greedy --json $RUN/last-vs-best.json
  $PY recipes/release_model.py choose --run $RUN
fi

# The share of what fine-tuning changed in the encoder that the export keeps, the rest the pretrained weights'
# (WiSE-FT: `asr export --fine-tuned-weight`), chosen on 300 dev utterances greedy (release_model.py weigh). Each
# weight's model is a 16-bit export, which decodes as the checkpoint does.
head -n 300 $DATA/dev.jsonl > $DATA/dev-300.jsonl
for weight in $FINE_TUNED_WEIGHTS; do
  [ -f $RUN/weights/dev-300-w$weight.json ] && continue
  $ASR export --model $RUN/shipped.safetensors --bits 16 --fine-tuned-weight $weight --out $RUN/weights/w$weight.safetensors
  $ASR eval --model $RUN/weights/w$weight.safetensors --decoder greedy --manifest $DATA/dev-300.jsonl \
    --json $RUN/weights/dev-300-w$weight.json
done
[ -f $RUN/fine-tuned-weight.json ] || $PY recipes/release_model.py weigh --run $RUN
WEIGHT=$($PY -c 'import json, sys; print(format(json.load(open(sys.argv[1]))["chosen"], "g"))' $RUN/fine-tuned-weight.json)
cp $RUN/weights/w$WEIGHT.safetensors $RUN/weighted.safetensors   # the model shipped, before its export's rounding

# LM: the train split's sentences, 4-gram, its lexicon widened by the language's spell-checker word list; unpruned
# and singletons pruned, each tuned on 300 dev utterances (Spanish, the first with the word list, did best at the
# old grid's largest word score, 0, so the grid reaches past it).
for prune in 0 1; do
  [ -f $RUN/lm-prune$prune/tuned.json ] && continue
  $ASR lm build --lang "$L" --order 4 --prune $prune --out $RUN/lm-prune$prune
  $ASR lm tune --lm $RUN/lm-prune$prune --model $RUN/weights/w$WEIGHT.safetensors --manifest $DATA/dev-300.jsonl \
    --lm-weights 1.5,2.5,3.5 --word-scores=-1,0,1.5
done

# Greedy decoding on the same 300, recorded on the model card beside the LMs' dev WER (release_model.py stage).
[ -f $RUN/dev-300-greedy.json ] || cp $RUN/weights/dev-300-w$WEIGHT.json $RUN/dev-300-greedy.json
