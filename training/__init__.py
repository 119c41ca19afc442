"""Fine-tuning acoustic models with CTC: the transfer-learning half of Transfer ASR."""
