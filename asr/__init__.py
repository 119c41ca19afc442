"""Transfer ASR's core: audio, features, text, models, pretrained import, checkpoints, decoding, transcription."""

__version__ = "0.1.0"
