cd /work/main
for set in data/release-es/test-300.jsonl data/release-es-telephone/test-300.jsonl; do
  tag=$(basename $(dirname $set))
  .venv/bin/asr eval --model models/es --baseline /tmp/old-ship/models/es --manifest $set --json /tmp/cmp-es/$tag-default.json
  .venv/bin/asr eval --model models/es --decoder greedy --baseline /tmp/old-ship/models/es --manifest $set --json /tmp/cmp-es/$tag-greedy.json
done
echo done
