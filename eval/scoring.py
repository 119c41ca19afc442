"""Word and character error rates, scored by jiwer over a whole test set.

jiwer aligns every utterance once; the corpus totals, the per-utterance edit
counts (which the bootstrap resamples) and the alignments of the worst
utterances are all read off that one alignment, so they always agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import jiwer

_MARKS = {"equal": " ", "substitute": "S", "delete": "D", "insert": "I"}


@dataclass(frozen=True)
class UtteranceScore:
    reference: str  # normalised
    hypothesis: str
    word_edits: int  # substitutions + deletions + insertions
    reference_words: int
    character_edits: int
    reference_characters: int
    alignment: str  # REF / HYP / edit-mark lines

    @property
    def wer(self) -> float | None:
        """Edits over reference words; None for an empty reference (any insertion is infinitely many)."""
        return self.word_edits / self.reference_words if self.reference_words else None

    @property
    def cer(self) -> float | None:
        return self.character_edits / self.reference_characters if self.reference_characters else None


@dataclass(frozen=True)
class Scores:
    wer: float  # word edits over reference words, over the whole set
    cer: float
    substitutions: int
    deletions: int
    insertions: int
    reference_words: int
    character_edits: int
    reference_characters: int
    utterances: int
    per_utterance: tuple[UtteranceScore, ...]

    def to_dict(self) -> dict:
        """The corpus-level figures (per-utterance scores are listed separately, they are long)."""
        return {
            "wer": self.wer, "cer": self.cer, "substitutions": self.substitutions, "deletions": self.deletions,
            "insertions": self.insertions, "reference_words": self.reference_words,
            "character_edits": self.character_edits, "reference_characters": self.reference_characters,
            "utterances": self.utterances,
        }

    def worst(self, count: int) -> list[tuple[int, UtteranceScore]]:
        """(index, score) of the `count` utterances with the most word edits: the ones that cost the most WER."""
        ranked = sorted(
            (i for i, u in enumerate(self.per_utterance) if u.word_edits),
            key=lambda i: (-self.per_utterance[i].word_edits, -(self.per_utterance[i].wer or float("inf")), i),
        )
        return [(i, self.per_utterance[i]) for i in ranked[:count]]


def score(references: list[str], hypotheses: list[str]) -> Scores:
    """Corpus-level rates: total edits over total reference words (or characters), not a mean of rates."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    if not references or not any(r.strip() for r in references):
        raise ValueError("nothing to score: every reference is empty")
    words = jiwer.process_words(references, hypotheses)
    characters = jiwer.process_characters(references, hypotheses)
    per_utterance = tuple(
        UtteranceScore(
            reference=" ".join(ref_words),
            hypothesis=" ".join(hyp_words),
            word_edits=_edits(word_chunks),
            reference_words=len(ref_words),
            character_edits=_edits(char_chunks),
            reference_characters=len(ref_chars),
            alignment=_render(ref_words, hyp_words, word_chunks),
        )
        for ref_words, hyp_words, word_chunks, ref_chars, char_chunks in zip(
            words.references, words.hypotheses, words.alignments, characters.references, characters.alignments
        )
    )
    reference_characters = sum(u.reference_characters for u in per_utterance)
    character_edits = sum(u.character_edits for u in per_utterance)
    return Scores(
        wer=words.wer,
        cer=characters.cer,
        substitutions=words.substitutions,
        deletions=words.deletions,
        insertions=words.insertions,
        reference_words=words.hits + words.substitutions + words.deletions,
        character_edits=character_edits,
        reference_characters=reference_characters,
        utterances=len(references),
        per_utterance=per_utterance,
    )


def _edits(chunks: list[jiwer.AlignmentChunk]) -> int:
    # A substitution spans as many reference as hypothesis tokens; a deletion only
    # reference tokens, an insertion only hypothesis tokens.
    return sum(
        max(c.ref_end_idx - c.ref_start_idx, c.hyp_end_idx - c.hyp_start_idx) for c in chunks if c.type != "equal"
    )


def _render(reference: list[str], hypothesis: list[str], chunks: list[jiwer.AlignmentChunk]) -> str:
    """jiwer's alignment as three aligned lines, like `jiwer.visualize_alignment` for one sentence."""
    ref_row, hyp_row, mark_row = [], [], []
    for c in chunks:
        ref = reference[c.ref_start_idx : c.ref_end_idx]
        hyp = hypothesis[c.hyp_start_idx : c.hyp_end_idx]
        for k in range(max(len(ref), len(hyp))):
            r = ref[k] if k < len(ref) else ""
            h = hyp[k] if k < len(hyp) else ""
            width = max(len(r), len(h))
            ref_row.append((r or "*" * width).ljust(width))
            hyp_row.append((h or "*" * width).ljust(width))
            mark_row.append(_MARKS[c.type].ljust(width))
    return "\n".join(
        (label + " ".join(row)).rstrip() for label, row in (("REF: ", ref_row), ("HYP: ", hyp_row), ("     ", mark_row))
    )
