"""Phrase boosting for beam search: boosted phrases, and a flashlight LM that adds their bonus to the words.

`asr.decoding.BeamDecoder` puts `BoostedLM` in place of the plain KenLM model
when a request has boosts.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

from torchaudio.models.decoder import CTCDecoderLM, CTCDecoderLMState

from asr.text import Vocabulary


@dataclass(frozen=True)
class Boost:
    """A phrase whose words get `boost` added to their log10 LM score while the beam spells it."""

    phrase: str
    boost: float = 5.0


def parse_boosts(items: list[str]) -> tuple[Boost, ...]:
    """Boosts from "phrase" or "phrase:BOOST" strings (a CLI flag, a line of a file)."""
    boosts = []
    for item in items:
        phrase, _, value = item.rpartition(":") if ":" in item else (item, "", "")
        try:
            boost = float(value) if value else Boost.boost
        except ValueError:
            raise ValueError(f"boost {item!r}: write PHRASE or PHRASE:NUMBER") from None
        if not phrase.strip():
            raise ValueError(f"boost {item!r} has no phrase")
        # Lower case and NFC, like the transcripts (asr.text) the lexicon's words come from.
        boosts.append(Boost(" ".join(unicodedata.normalize("NFC", phrase).lower().split()), boost))
    return tuple(boosts)


def read_boosts(path: str | Path) -> tuple[Boost, ...]:
    """Boosts from a file: one "phrase" or "phrase:BOOST" a line; # starts a comment."""
    lines = [line.split("#", 1)[0].strip() for line in Path(path).read_text(encoding="utf-8").splitlines()]
    return parse_boosts([line for line in lines if line])



class BoostedLM(CTCDecoderLM):
    """A KenLM word model (or none) plus phrase boosts, as a flashlight LM.

    A state is the LM's state and the boosted phrases partly spelled so far.
    Each unit (word, or token when lexicon-free) that continues or starts
    a boosted phrase earns the phrase's boost, divided by the decoder's LM
    weight so that a boost means the same whatever the weight. Scores are log10
    like KenLM's, so the boosted and unboosted paths agree where no phrase matches.
    """

    def __init__(self, units: list[str], boosts: tuple[Boost, ...], lm_weight: float, kenlm_path: Path | None = None,
                 spelling: Vocabulary | None = None):
        super().__init__()
        self.units = units
        if spelling is not None:  # the units are the vocabulary's tokens, not words
            self.phrases = [(tuple(units[i] for i in spelling.encode(b.phrase)), b.boost) for b in boosts]
        else:
            self.phrases = [(tuple(b.phrase.split()), b.boost) for b in boosts]
        self.scale = 1.0 / lm_weight if lm_weight else 0.0
        self.model = None
        if kenlm_path is not None:
            try:
                import kenlm
            except ImportError:
                raise ImportError("phrase boosting with an LM needs the kenlm package: pip install kenlm") from None
            self.model, self.new_state = kenlm.Model(str(kenlm_path)), kenlm.State
        self.states: dict = {}

    def fresh(self) -> BoostedLM:
        """This LM without its states, sharing the KenLM model: each search needs its own, as `start` clears them."""
        lm = BoostedLM.__new__(BoostedLM)
        CTCDecoderLM.__init__(lm)  # the C++ side of flashlight's LM
        lm.__dict__.update(self.__dict__, states={})
        return lm

    def start(self, start_with_nothing: bool):
        self.states.clear()  # one utterance's states at a time
        state = CTCDecoderLMState()
        lm_state = None
        if self.model is not None:
            lm_state = self.new_state()
            (self.model.NullContextWrite if start_with_nothing else self.model.BeginSentenceWrite)(lm_state)
        self.states[state] = (lm_state, (), 0.0)
        return state

    def score(self, state, usr_token_idx: int):
        # States are a tree of histories (CTCDecoderLMState.child): each history is scored once.
        child = state.child(usr_token_idx)
        if child not in self.states:
            self.states[child] = self._advance(self.states[state], self.units[usr_token_idx])
        return child, self.states[child][2]

    def _advance(self, before: tuple, unit: str) -> tuple:
        lm_state, matched, _ = before
        score, out_state = 0.0, lm_state
        if self.model is not None:
            out_state = self.new_state()
            score = self.model.BaseScore(lm_state, unit, out_state)
        bonus, progress = 0.0, []
        for p, (phrase, boost) in enumerate(self.phrases):
            # Continue a partial match of the phrase, or start one.
            for position in [position for q, position in matched if q == p] + [0]:
                if phrase[position] == unit:
                    bonus = max(bonus, boost)
                    if position + 1 < len(phrase):
                        progress.append((p, position + 1))
                    break
        return out_state, tuple(progress), score + bonus * self.scale

    def finish(self, state):
        lm_state, matched, _ = self.states[state]
        score = self.model.BaseScore(lm_state, "</s>", self.new_state()) if self.model is not None else 0.0
        child = state.child(-1)
        self.states[child] = (lm_state, matched, score)
        return child, score
