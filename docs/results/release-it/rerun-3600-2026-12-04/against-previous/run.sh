# The Italian release rerun at 3600 s (models/it as release.sh staged it) against the model shipped before it
# (a worktree at /tmp/old-ship-it of 18b8b1d, the commit before this run was recorded), paired on the same 300 test
# utterances, clean and telephone.
set -euo pipefail
cd /work/main
mkdir -p /tmp/cmp-it
for set in data/release-it/test-300.jsonl data/release-it-telephone/test-300.jsonl; do
  tag=$(basename $(dirname $set))
  .venv/bin/asr eval --model models/it --baseline /tmp/old-ship-it/models/it --manifest $set --json /tmp/cmp-it/$tag-default.json
  .venv/bin/asr eval --model models/it --decoder greedy --baseline /tmp/old-ship-it/models/it --manifest $set --json /tmp/cmp-it/$tag-greedy.json
done
echo done
