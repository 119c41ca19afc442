"""Word error rate scoring of Transfer ASR models."""
