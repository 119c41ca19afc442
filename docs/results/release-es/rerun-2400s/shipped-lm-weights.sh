# The rerun's model and LM decoded at the shipped model's LM weights (2.5, word score 1.5) instead of its own
# (2.5, 0): is its loss with the LM the weights one dev voice chose? shipped-lm-weights.log: no, +2.6 [+1.0, +4.2].
.venv/bin/python recipes/release_model.py stage --lang es --run runs/release/es --out /tmp/es-rerun
.venv/bin/python -c "import json; p='/tmp/es-rerun/lm/tuned.json'; t=json.load(open(p)); t['word_score']=1.5; json.dump(t, open(p,'w'), indent=2)"
.venv/bin/asr eval --model /tmp/es-rerun --baseline models/es --manifest data/release-es/test-300.jsonl
