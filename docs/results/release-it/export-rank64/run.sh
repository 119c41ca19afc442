# Italian and Spanish release runs exported two ways, paired on the same utterances with the same LM (each run's
# unpruned one, its weights tuned on dev): the change truncated to a low rank (each run's own export, made by
# recipes/release.sh at the time: Italian at rank 64, Spanish at 128) against the change whole at 4 bits. Run as written, on
# 2026-12-04 at about 21:10-21:40 UTC, on the 2-core EPYC build machine (nothing else heavy running); output: run.log.
set -e
cd /work/main
I=runs/release/it-3600-2026-12-04 R=runs/release/es-gpu-2026-12-04
mkdir -p /tmp/exp/it /tmp/exp/es
.venv/bin/asr export --model $I/shipped.safetensors --out /tmp/exp/it/int4.safetensors
.venv/bin/asr export --model $R/shipped.safetensors --out /tmp/exp/es/int4.safetensors
.venv/bin/asr eval --model /tmp/exp/it/int4.safetensors --model $I/shipped.safetensors --baseline $I/export/model.safetensors \
  --decoder beam --lm $I/lm-prune0 --manifest data/release-it/test-300.jsonl --json /tmp/exp/it/lm.json
.venv/bin/asr eval --model /tmp/exp/it/int4.safetensors --baseline $I/export/model.safetensors --decoder greedy \
  --manifest data/release-it/test-300.jsonl --json /tmp/exp/it/greedy.json
for set in data/release-es/test-300.jsonl data/release-es/dev-300.jsonl; do
  .venv/bin/asr eval --model /tmp/exp/es/int4.safetensors --baseline $R/export/model.safetensors --decoder beam \
    --lm $R/lm-prune0 --manifest $set --json /tmp/exp/es/$(basename $set .jsonl)-lm.json
done
.venv/bin/asr eval --model /tmp/exp/it/int4.safetensors --baseline $I/export/model.safetensors --decoder beam \
  --lm $I/lm-prune0 --manifest data/release-it/dev-300.jsonl --json /tmp/exp/it/dev-lm.json
# Then, on dev only, more ranks (2026-12-04, about 21:50 UTC; by then runs/release/es-gpu-2026-12-04/export/model.safetensors
# had been remade at rank 64 by `bash recipes/release.sh es`, see ../../gpu_release/es-2026-12-04/against-previous-rank64,
# so the Spanish baseline below is rank 64 where the tables above had rank 128):
for r in 32 128; do .venv/bin/asr export --model $I/shipped.safetensors --out /tmp/exp/it/rank$r.safetensors --rank $r; done
for r in 32 64; do .venv/bin/asr export --model $R/shipped.safetensors --out /tmp/exp/es/rank$r.safetensors --rank $r; done
.venv/bin/asr eval --model /tmp/exp/it/rank32.safetensors --model /tmp/exp/it/rank128.safetensors --model /tmp/exp/it/int4.safetensors \
  --baseline $I/export/model.safetensors --decoder beam --lm $I/lm-prune0 --manifest data/release-it/dev-300.jsonl --json /tmp/exp/it/dev-ranks.json
.venv/bin/asr eval --model /tmp/exp/es/rank32.safetensors --model /tmp/exp/es/rank64.safetensors --model /tmp/exp/es/int4.safetensors \
  --baseline $R/export/model.safetensors --decoder beam --lm $R/lm-prune0 --manifest data/release-es/dev-300.jsonl --json /tmp/exp/es/dev-ranks.json
