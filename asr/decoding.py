"""CTC decoding: from frame log-probabilities to words with times and confidences."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from asr.text import Vocabulary


@dataclass(frozen=True)
class Word:
    word: str
    start: float  # seconds
    end: float
    confidence: float  # mean probability of the frames that emitted its characters


@dataclass(frozen=True)
class Hypothesis:
    text: str
    words: list[Word]


def greedy_decode(
    log_probs: torch.Tensor, lengths: torch.Tensor, vocabulary: Vocabulary, seconds_per_frame: float
) -> list[Hypothesis]:
    """Best path per utterance of a (batch, frames, vocab) batch: repeats collapsed, blanks dropped.

    A word starts at the first frame of its first character and ends after the
    last frame of its last character.
    """
    best_probs, best_ids = log_probs.detach().float().max(dim=-1)
    best_probs, best_ids = best_probs.exp().cpu(), best_ids.cpu()
    return [
        _words_of_path(best_ids[b, : int(lengths[b])], best_probs[b, : int(lengths[b])], vocabulary, seconds_per_frame)
        for b in range(best_ids.shape[0])
    ]


def _words_of_path(ids: torch.Tensor, probs: torch.Tensor, vocabulary: Vocabulary, seconds_per_frame: float) -> Hypothesis:
    # Runs of equal ids: each run is one emitted token (or a blank) over its frames.
    changes = torch.ones_like(ids, dtype=torch.bool)
    changes[1:] = ids[1:] != ids[:-1]
    starts = changes.nonzero().flatten().tolist()
    ends = starts[1:] + [len(ids)]
    words: list[Word] = []
    chars: list[str] = []
    first = last = 0
    frame_probs: list[torch.Tensor] = []

    def close_word() -> None:
        if chars:
            confidence = float(torch.cat(frame_probs).mean())
            words.append(Word("".join(chars), first * seconds_per_frame, last * seconds_per_frame, confidence))
            chars.clear()
            frame_probs.clear()

    for start, end in zip(starts, ends):
        token = int(ids[start])
        if token == vocabulary.blank_id:
            continue
        if token == vocabulary.delimiter_id:
            close_word()
            continue
        if not chars:
            first = start
        chars.append(vocabulary.tokens[token])
        frame_probs.append(probs[start:end])
        last = end
    close_word()
    return Hypothesis(" ".join(w.word for w in words), words)
