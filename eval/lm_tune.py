"""Tuning a language model's weights for beam search: a grid search scored like every other evaluation.

The acoustic model runs once over the dev set; only the beam search repeats
for each (LM weight, word score) pair. WER comes from `eval.scoring` after the
test set's normaliser, as in `asr eval`, so a tuned weight is chosen by the
same measure it is later judged by.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from asr.audio import load_audio
from asr.decoding import BeamDecoder, DecodeOptions
from asr.lm.folder import check_lm_dir, write_weights
from eval.normalize import get_normalizer
from eval.scoring import score
from eval.testset import load_test_set


def tune(
    transcriber, manifest: str | Path, lm_dir: str | Path, lm_weights: list[float], word_scores: list[float],
    beam_size: int = 50, progress: bool = True,
) -> dict:
    """Grid-search LM weight and word score by WER on a dev manifest; write the best to LM_DIR/tuned.json."""
    lm_dir = check_lm_dir(lm_dir)
    test_set = load_test_set(manifest, language=transcriber.bundle.language)
    normalizer = get_normalizer("auto", test_set.language)
    references = [normalizer(u.text) for u in test_set.utterances]
    emissions = []
    batch = transcriber.options.batch_size
    for first in range(0, len(test_set.utterances), batch):
        waves = [load_audio(u.audio_filepath, transcriber.sample_rate) for u in test_set.utterances[first : first + batch]]
        log_probs, lengths = transcriber.log_probs(waves)
        emissions.extend(log_probs[i, : int(lengths[i])] for i in range(len(waves)))
    results = []
    for lm_weight in lm_weights:
        for word_score in word_scores:
            options = DecodeOptions(method="beam", lm_dir=str(lm_dir), lm_weight=lm_weight, word_score=word_score, beam_size=beam_size)
            decoder = BeamDecoder(transcriber.bundle.vocabulary, options)
            hypotheses = [decoder(e[None], torch.tensor([len(e)]), transcriber.seconds_per_frame)[0].text for e in emissions]
            wer = score(references, [normalizer(h) for h in hypotheses]).wer
            results.append({"lm_weight": lm_weight, "word_score": word_score, "wer": round(wer, 5)})
            if progress:
                print(f"lm_weight {lm_weight:g} word_score {word_score:g}: WER {100 * wer:.2f} %", file=sys.stderr)
    best = min(results, key=lambda r: r["wer"])
    tuned = {**best, "manifest": str(manifest), "utterances": len(references), "normalizer": normalizer.name,
             "beam_size": beam_size, "grid": results}
    write_weights(lm_dir, tuned)
    return tuned
