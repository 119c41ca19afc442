"""Evaluation of Transfer ASR models: WER and CER against a baseline, with significance, and the leaderboard.

Builds on `asr` only (never `training` or `serving`); checkpoints are run by
`asr.transcribe.Transcriber`, the path every consumer uses.

- `normalize`: the scoring normalisers, chosen by name
- `scoring`: corpus WER/CER, per-utterance edits and alignments, by jiwer
- `bootstrap`: the paired bootstrap over utterances
- `systems`: checkpoints and faster-whisper behind one interface
- `testset`: manifests as test sets, with a fingerprint
- `evaluate`: transcribe a test set once, score the saved transcripts
- `report`: the `asr eval` report (Markdown, JSON, rescoring)
- `leaderboard`, `chart`: models x test sets, cached; Markdown, CSV, JSON, PNG
"""
