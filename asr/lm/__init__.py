"""Word language models for beam search: the LM folder's format, building one with KenLM, and phrase boosting.

Used by `asr.decoding.BeamDecoder`; imports no decoder. Tuning an LM's weights
is evaluation and lives in `eval.lm_tune`.
"""
