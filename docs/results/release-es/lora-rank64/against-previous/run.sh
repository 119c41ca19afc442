# The LoRA candidate (recipes/release/es.toml with lora_rank = 64, lr_adapters = 1e-3), staged by `bash recipes/release.sh es`,
# against the model shipped at 586b6cd (HEAD then): run.log. It loses with the LM: not shipped, models/es reverted.
bash recipes/release.sh es
bash recipes/against_shipped.sh es HEAD
