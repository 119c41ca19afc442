cd /work/main
for set in data/release-de/test-300.jsonl data/release-de-telephone/test-300.jsonl; do
  tag=$(basename $(dirname $set))
  .venv/bin/asr eval --model models/de --baseline /tmp/old-ship/models/de --manifest $set --json /tmp/cmp/$tag-default.json
  .venv/bin/asr eval --model models/de --decoder greedy --baseline /tmp/old-ship/models/de --manifest $set --json /tmp/cmp/$tag-greedy.json
done
echo done
