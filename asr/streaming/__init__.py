"""Streaming recognition: `options` (chunking and endpointing, importable without torch) and `stream` (a stream's
windows out, its frames in, its words back)."""
