# The Spanish model trained on the H200 (models/es as release.sh staged it) against the model shipped before it
# (a worktree at /tmp/old-ship-es of 4d6e5bd, the commit before this run was recorded), paired on the same 300 test
# utterances, clean and telephone, with each model's default decoding (beam + its LM) and greedy.
set -euo pipefail
cd /work/main
out=/tmp/cmp-es  # per-utterance JSON, 0.35 MB each: the tables in run.log are the record
mkdir -p $out
for set in data/release-es/test-300.jsonl data/release-es-telephone/test-300.jsonl; do
  tag=$(basename $(dirname $set))
  .venv/bin/asr eval --model models/es --baseline /tmp/old-ship-es/models/es --manifest $set --json $out/$tag-default.json
  .venv/bin/asr eval --model models/es --decoder greedy --baseline /tmp/old-ship-es/models/es --manifest $set --json $out/$tag-greedy.json
done
echo done
