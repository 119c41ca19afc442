"""Speech corpora: manifests, synthesis, augmentation, importers and statistics.

Builds on the inference path (audio, text) and is never imported by it.
"""
