"""CTC decoding: from frame log-probabilities to words with times and confidences."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

import torch

from asr.lm import folder as lm_folder
from asr.lm.boosting import Boost, BoostedLM
from asr.text import WORD_DELIMITER, Vocabulary


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
    score: float = 0.0  # beam search: the decoder's total log score; greedy: 0
    alternatives: tuple[Hypothesis, ...] = ()  # beam search with nbest > 1: the runners-up, best first


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


# --- beam search ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecodeOptions:
    """How CTC output becomes text. The default, greedy, has no settings.

    method="beam" runs flashlight's beam search (through torchaudio): with
    `lm_dir` (from `asr lm build`) it is lexicon-constrained and scored by the
    word n-gram LM; with lexicon_free, it may spell any character sequence and
    uses no word LM. lm_weight and word_score of None take the LM folder's
    tuned values (`asr lm tune`), else 1 and 0.
    """

    method: str = "greedy"  # greedy | beam
    lm_dir: str | None = None
    lexicon_free: bool = False
    lm_weight: float | None = None
    word_score: float | None = None
    # 500, not 50: the shipped German model's dev WER 9.1 % against 10.5 %, test 18.2 % against 20.3 %, at a third of
    # the decoding speed (recipes/release/beam-size-de.toml; 1500 was no better on dev).
    beam_size: int = 500
    beam_threshold: float = 25.0  # hypotheses this far (in log score) below the best are pruned
    nbest: int = 1
    boosts: tuple[Boost, ...] = ()

    def __post_init__(self) -> None:
        if self.method not in ("greedy", "beam"):
            raise ValueError(f"decoding method must be greedy or beam, got {self.method!r}")
        if self.method == "greedy" and (self.lm_dir or self.lexicon_free or self.boosts or self.nbest != 1):
            raise ValueError("an LM, lexicon-free decoding, boosts and n-best lists need --decoder beam")
        if self.method == "beam" and not self.lm_dir and not self.lexicon_free:
            raise ValueError("beam search needs an LM folder (--lm DIR, from `asr lm build`) or --lexicon-free")
        if self.lm_dir and self.lexicon_free:
            raise ValueError("a word LM needs its lexicon: give --lm or --lexicon-free, not both")
        if self.beam_size < 1 or self.nbest < 1 or self.nbest > self.beam_size:
            raise ValueError(f"need 1 <= nbest <= beam_size, got nbest {self.nbest} and beam_size {self.beam_size}")

    @property
    def label(self) -> str:
        """In words, for system names and the line a decoding command prints: "greedy", "beam 500, LM lm"."""
        if self.method == "greedy":
            return "greedy"
        what = f"beam {self.beam_size}" + (f", LM {Path(self.lm_dir).name}" if self.lm_dir else ", lexicon-free")
        return what + (f", {len(self.boosts)} boosts" if self.boosts else "")

    @property
    def fingerprint(self) -> dict:
        """Every setting that changes the output, for caches; the LM's files are hashed by the caller."""
        return dataclasses.asdict(self)


def make_decoder(vocabulary: Vocabulary, options: DecodeOptions):
    """A callable (log_probs, lengths, seconds_per_frame) -> list[Hypothesis] for `options`."""
    if options.method == "greedy":
        return lambda log_probs, lengths, seconds_per_frame: greedy_decode(log_probs, lengths, vocabulary, seconds_per_frame)
    return BeamDecoder(vocabulary, options)


def flashlight_decoder():
    """torchaudio's CTC decoder module, which needs flashlight-text (greedy decoding does not)."""
    try:
        from torchaudio.models import decoder

        decoder.ctc_decoder  # torchaudio imports flashlight-text on first use
    except (ImportError, RuntimeError) as error:
        raise ImportError("beam search needs the flashlight-text package (and kenlm for phrase boosts with an LM): "
                          "pip install flashlight-text kenlm") from error
    return decoder


@dataclass(frozen=True)
class Lexicon:
    """The words a lexicon-constrained search may spell, and the trie it spells them with: each word's path carries
    its LM score, smeared so that a prefix holds the best score of the words it starts (the search's look-ahead; a
    finished word gets its LM score in context). The costly part of a search (the German model's 365,000 words:
    about 4 s and 440 MB here) and read-only once built, so every search over the same words shares one."""

    units: list[str]  # flashlight's word indices: <unk>, then the words
    word_dict: object  # flashlight Dictionary of `units`
    tokens_dict: object  # flashlight Dictionary of the model's tokens
    trie: object
    kenlm: object  # flashlight's KenLM over `word_dict`, the scores in the trie

    def spells(self, word: str) -> bool:
        return self.word_dict.contains(word)


def build_lexicon(lm_dir: str | Path, vocabulary: Vocabulary, extra_words: tuple[str, ...] = ()) -> Lexicon:
    """The lexicon of an LM folder: the LM's words and `extra_words` with their LM scores, then the folder's dictionary
    (words known not to be the LM's) with <unk>'s score without asking the LM, which for the German model's 334,000
    saves a third of a second. Only words the model's alphabet spells.

    torchaudio's `ctc_decoder(lexicon=FILE)` copies the lexicon between C++ and Python dicts twice and makes
    a dozen Python-to-C++ calls a word to fill its trie: 10 to 13 s for a 365,000-word dictionary on this
    project's CPU (bench/lm_load.py). Built here from lists, one call a word, the same trie takes under 2 s."""
    from flashlight.lib.text.decoder import SmearingMode, Trie
    from flashlight.lib.text.decoder.kenlm import KenLM
    from flashlight.lib.text.dictionary import Dictionary

    tokens_dict = Dictionary(list(vocabulary.tokens))
    scored = lm_folder.spellable_words([*lm_folder.lm_words(lm_dir), *extra_words], vocabulary)
    known = set(scored)
    spellable = scored + [w for w in lm_folder.spellable_words(lm_folder.dictionary_words(lm_dir), vocabulary) if w not in known]
    units = [UNK_WORD, *spellable]  # <unk> first: flashlight wants it in the word dictionary
    word_dict = Dictionary(units)
    kenlm = KenLM(str(lm_folder.lm_path(lm_dir)), word_dict)
    silence = tokens_dict.get_index(WORD_DELIMITER)
    trie = Trie(tokens_dict.index_size(), silence)
    start = kenlm.start(False)
    # <unk>, spelled with the model's <unk> token, comes out only where the model itself emits <unk>.
    unknown_score = kenlm.score(start, 0)[1]
    trie.insert([vocabulary.unknown_id, silence], 0, unknown_score)
    for i, word in enumerate(spellable, start=1):
        score = kenlm.score(start, i)[1] if i <= len(scored) else unknown_score
        trie.insert([*vocabulary.spell(word), silence], i, score)
    trie.smear(SmearingMode.MAX)  # a prefix carries the best score of the words it starts, as torchaudio does
    return Lexicon(units, word_dict, tokens_dict, trie, kenlm)


@functools.lru_cache(maxsize=4)
def _shared_lexicon(lm_dir: Path, files: tuple[tuple[str, int], ...], tokens: tuple[str, ...]) -> Lexicon:
    return build_lexicon(lm_dir, Vocabulary(tokens))


def shared_lexicon(lm_dir: str | Path, vocabulary: Vocabulary) -> Lexicon:
    """An LM folder's lexicon, built once a process while its files stay as they are: `asr lm tune`'s grid, the
    leaderboard's decodings of one model, and the server's searches with other n-best sizes or phrase boosts all
    search over the same words. Kept to the process's end, so that a command's last act is not to free it."""
    lm_dir = lm_folder.check_lm_dir(lm_dir).resolve()
    files = tuple((f.name, f.stat().st_mtime_ns) for f in sorted(lm_dir.iterdir()) if f.name != lm_folder.TUNED)
    return _shared_lexicon(lm_dir, files, vocabulary.tokens)


def lexicon_searches(lexicon: Lexicon, vocabulary: Vocabulary, language_model, options: DecodeOptions,
                     lm_weight: float, word_score: float):
    """A function that makes lexicon-constrained searches over `lexicon`'s words with `language_model`: the lexicon's
    KenLM or a BoostedLM of the same KenLM file. Each search is its own torchaudio CTCDecoder; all share the trie and
    the KenLM model. With boosts, a phrase's words earn their boost when finished: the trie's look-ahead is the LM's."""
    from flashlight.lib.text.decoder import CriterionType, LexiconDecoder, LexiconDecoderOptions

    if isinstance(language_model, BoostedLM):
        language_model.units = lexicon.units  # the decoder numbers words as the lexicon does
    silence = lexicon.tokens_dict.get_index(WORD_DELIMITER)
    decoder_options = LexiconDecoderOptions(
        beam_size=options.beam_size, beam_size_token=len(vocabulary.tokens), beam_threshold=options.beam_threshold,
        lm_weight=lm_weight, word_score=word_score, unk_score=float("-inf"), sil_score=0.0, log_add=False,
        criterion_type=CriterionType.CTC,
    )

    def new_search():
        lm = language_model.fresh() if isinstance(language_model, BoostedLM) else language_model
        decoder = _torchaudio_decoder(options.nbest, lexicon.word_dict, lexicon.tokens_dict, vocabulary.blank_id, lm)
        decoder.decoder = LexiconDecoder(decoder_options, lexicon.trie, lm, silence, vocabulary.blank_id, 0, [], False)
        return decoder

    return new_search


def lexicon_free_searches(vocabulary: Vocabulary, language_model, options: DecodeOptions, lm_weight: float, word_score: float):
    """A function that makes beam searches over any character sequence, with `language_model`: a character-level
    BoostedLM or None. Each search is its own torchaudio CTCDecoder."""
    ctc_decoder = flashlight_decoder().ctc_decoder

    def new_search():
        return ctc_decoder(
            lexicon=None, tokens=list(vocabulary.tokens),
            lm=language_model.fresh() if language_model is not None else None,
            nbest=options.nbest, beam_size=options.beam_size, beam_threshold=options.beam_threshold,
            lm_weight=lm_weight, word_score=word_score, blank_token=vocabulary.tokens[vocabulary.blank_id],
            sil_token=WORD_DELIMITER, unk_word=UNK_WORD,
        )

    return new_search


def _torchaudio_decoder(nbest: int, word_dict, tokens_dict, blank: int, language_model):
    """torchaudio's CTCDecoder (its online decoding and results) around a flashlight decoder the caller sets."""
    from torchaudio.models.decoder import CTCDecoder

    decoder = CTCDecoder.__new__(CTCDecoder)  # its lexicon loading is what lexicon_searches replaces
    decoder.nbest, decoder.word_dict, decoder.tokens_dict, decoder.blank = nbest, word_dict, tokens_dict, blank
    decoder.lm = language_model  # kept alive: the C++ decoder holds only a reference
    return decoder


class BeamDecoder:
    """CTC beam search with torchaudio's flashlight decoder, optionally a KenLM word LM and phrase boosts.

    Without boosts the LM is flashlight's own KenLM binding (C++ all the way);
    with boosts it is `BoostedLM`, the same KenLM model queried from Python
    with the boosts added, so both score the same way.

    Words get times from the decoder's timesteps (the first frame of each
    character) and end after the last character's run of frames. A word's
    confidence is, as in greedy decoding, the mean probability the acoustic
    model gave the word's characters over their frames; the LM does not enter
    it. Hypothesis.score is the beam's total (acoustic + weighted LM + word
    scores) and alternatives hold the rest of the n-best list, best first.
    """

    def __init__(self, vocabulary: Vocabulary, options: DecodeOptions):
        flashlight_decoder()  # checks that flashlight-text is there
        self.vocabulary = vocabulary
        self.options = options
        weights = lm_folder.read_weights(options.lm_dir) if options.lm_dir else lm_folder.LMWeights(lm_weight=0.0)
        lm_weight = weights.lm_weight if options.lm_weight is None else options.lm_weight
        word_score = weights.word_score if options.word_score is None else options.word_score
        self.lexicon: Lexicon | None = None  # lexicon-free
        if options.lm_dir:
            self.lexicon = lexicon = shared_lexicon(options.lm_dir, vocabulary)
            boosted = lm_folder.spellable_words([w for b in options.boosts for w in b.phrase.split()], vocabulary)
            unknown = tuple(word for word in boosted if not lexicon.spells(word))
            if unknown:  # a boosted word missing from the lexicon could never be spelled: a lexicon with it
                self.lexicon = lexicon = build_lexicon(options.lm_dir, vocabulary, extra_words=unknown)
            language_model = (BoostedLM([], options.boosts, lm_weight, kenlm_path=lm_folder.lm_path(options.lm_dir))
                              if options.boosts else lexicon.kenlm)
            self._new_search = lexicon_searches(lexicon, vocabulary, language_model, options, lm_weight, word_score)
        else:
            language_model = None
            if options.boosts:
                # Lexicon-free: the LM sees the model's tokens, and a phrase is its spelling with word delimiters.
                lm_weight = 1.0
                language_model = BoostedLM(list(vocabulary.tokens), options.boosts, lm_weight, spelling=vocabulary)
            self._new_search = lexicon_free_searches(vocabulary, language_model, options, lm_weight, word_score)

    def search(self) -> BeamSearch:
        """A search of one utterance whose frames come in pieces (`BeamSearch.step`); each has its own state."""
        return BeamSearch(self, self._new_search())

    def __call__(self, log_probs: torch.Tensor, lengths: torch.Tensor, seconds_per_frame: float) -> list[Hypothesis]:
        hypotheses = []
        for b in range(log_probs.shape[0]):
            search = self.search()
            search.step(log_probs[b, : int(lengths[b])])
            hypotheses.append(search.result(seconds_per_frame))
        return hypotheses


class BeamSearch:
    """One utterance's beam search, fed its frames in order, in pieces of any size; `result` ends it.

    Searching the frames as they come gives the same result as one search of
    them all, and spreads its cost: a stream's utterance ends without a search
    of its whole length (100 to 300 ms for 5 s of German on a 2-core CPU, with
    the LM and a 500-wide beam), during which flashlight holds the GIL and a
    server's event loop would serve no other stream.

    Fed in pieces, it settles what lies more than `keep_frames` behind the
    newest frame: the best path's words up to its last word boundary there are
    final, and flashlight's prune drops the alternatives before it (the LM
    context goes on). Without that, the search kept every frame's beam: 74 MB
    a stream at a 30-s utterance with the German LM, against 27 MB with 250
    frames kept and 12 MB with 100, the words the same in 2 minutes of speech
    (bench/results/stream_long-avx2/beam-settling). Scores are then counted
    from the settled point on: the alternatives' differences stay as they were.
    """

    keep_frames = 250  # 5 s of 20-ms frames: beams agree on words that old

    def __init__(self, beam: BeamDecoder, decoder):
        self._vocabulary = beam.vocabulary
        self._lexicon = beam.options.lm_dir is not None
        self._decoder = decoder
        self._frames = torch.zeros(0, len(beam.vocabulary))  # all stepped through, for the words' times and confidences
        self._settled: list[Word] = []  # the words of the settled frames, their times in frames
        self._settled_frames = 0  # frames settled: the decoder's paths start after them
        self._carried: int | None = None  # a settled word's last character that the paths start by repeating
        decoder.decode_begin()

    @property
    def frames(self) -> torch.Tensor:
        """The (frames, vocab) log-probabilities stepped through so far."""
        return self._frames

    def step(self, log_probs: torch.Tensor) -> None:
        """Search on through the next (frames, vocab) log-probabilities."""
        emissions = log_probs.detach().float().cpu().contiguous()
        if len(emissions):
            if len(self._frames) - self._settled_frames > 2 * self.keep_frames:  # between pieces: one search never settles
                self._settle()
            self._decoder.decode_step(emissions)
            self._frames = torch.cat([self._frames, emissions])

    def best(self, seconds_per_frame: float) -> Hypothesis:
        """The best path so far, its complete words only (with a lexicon: the words the LM has scored); the search goes on."""
        if not len(self._frames):
            return Hypothesis("", [])
        best = self._decoder.decoder.get_best_hypothesis()
        hypothesis = self._hypothesis(best, seconds_per_frame)
        if not self._lexicon and hypothesis.words and self._last_token(best) != self._vocabulary.delimiter_id:
            hypothesis = Hypothesis(" ".join(w.word for w in hypothesis.words[:-1]), hypothesis.words[:-1], hypothesis.score)
        return hypothesis

    def result(self, seconds_per_frame: float) -> Hypothesis:
        """The best hypothesis of all the frames stepped through, its runners-up in `alternatives`; ends the search."""
        self._decoder.decode_end()
        ranked = [self._hypothesis(h, seconds_per_frame) for h in self._decoder.decoder.get_all_final_hypothesis()[: self._decoder.nbest]]
        distinct: dict[str, Hypothesis] = {}
        for hypothesis in ranked:  # best first: each text keeps its best-scored path, in rank order
            distinct.setdefault(hypothesis.text, hypothesis)
        ranked = list(distinct.values()) or [Hypothesis("", [], float("-inf"))]
        return dataclasses.replace(ranked[0], alternatives=tuple(ranked[1:]))

    def _settle(self) -> None:
        """Make the best path's words before the last `keep_frames` final, and prune the search to what follows."""
        decoder = self._decoder.decoder
        # The best path back to its last complete word at least keep_frames before the newest frame (flashlight
        # goes back further to find one); prune cuts the search at that same state.
        settled = decoder.get_best_hypothesis(self.keep_frames)
        if len(settled.tokens) < 2:
            return
        # Settle only after a word: with a lexicon, the path's last state follows one (flashlight gives up looking
        # 100 frames further back); without, the path's last token is a word break.
        ends_a_word = settled.words[-2] >= 0 if self._lexicon else self._last_token(settled) == self._vocabulary.delimiter_id
        if not ends_a_word:
            return
        # Its last state is where the paths go on from: it belongs to them.
        self._settled += self._words(settled.tokens[:-1], settled.words[:-1])
        self._settled_frames += len(settled.tokens) - 1
        # The paths go on from the settled path's last state: if its token repeats the one before, that run of frames
        # is the settled word's last character, not a new one.
        last, before = settled.tokens[-1], settled.tokens[-2]
        self._carried = last if last == before and last != self._vocabulary.blank_id else None
        decoder.prune(self.keep_frames)

    def _last_token(self, result) -> int | None:
        """The last token a flashlight path emits (blanks are no tokens)."""
        emitted = [t for t in self._unsettled(result.tokens) if t != self._vocabulary.blank_id]
        return emitted[-1] if emitted else None

    def _unsettled(self, tokens: list[int]) -> list[int]:
        """A path's tokens, with those that repeat the settled word's last character blanked.

        Flashlight's paths start with the state before their first frame: the
        search's root (a word delimiter), or after a prune the state that
        followed the last settled word, which may go on repeating its last
        character.
        """
        tokens = list(tokens)
        if self._carried is not None:
            run = next((i for i, t in enumerate(tokens) if t != self._carried), len(tokens))
            tokens[:run] = [self._vocabulary.blank_id] * run
        return tokens

    def _hypothesis(self, result, seconds_per_frame: float) -> Hypothesis:
        """Words with times and confidences of one of flashlight's paths: the settled words, then the path's."""
        words = [dataclasses.replace(w, start=w.start * seconds_per_frame, end=w.end * seconds_per_frame)
                 for w in self._settled + self._words(result.tokens, result.words)]
        return Hypothesis(" ".join(w.word for w in words), words, float(result.score))

    def _words(self, tokens: list[int], decoded: list[int]) -> list[Word]:
        """The words of a flashlight path's `tokens` and word labels over the frames after the settled ones, their
        times in frames."""
        tokens = self._unsettled(tokens)
        # The path starts at the state before its first frame, so a token's index is one ahead of its frame.
        frames, offset = self._frames, self._settled_frames - 1
        blank = self._vocabulary.blank_id
        timesteps = [i for i, t in enumerate(tokens) if t != blank and (i == 0 or t != tokens[i - 1])]
        words: list[Word] = []
        chars: list[str] = []
        probs: list[torch.Tensor] = []
        first = last = 0
        best = frames.argmax(dim=-1)
        for step in timesteps:
            token, start = tokens[step], max(0, offset + step)
            if token == self._vocabulary.delimiter_id:
                if chars:
                    words.append(Word("".join(chars), first, last, float(torch.cat(probs).mean())))
                chars, probs = [], []
                continue
            # The character's frames: its first one, and those after where it stays the most likely token.
            end = start + 1
            while end < len(frames) and int(best[end]) == token:
                end += 1
            if not chars:
                first = start
            chars.append(self._vocabulary.tokens[token])
            probs.append(frames[start:end, token].exp())
            last = end
        if chars:
            words.append(Word("".join(chars), first, last, float(torch.cat(probs).mean())))
        if self._lexicon:
            # With a lexicon, a path may end in the first characters of a word it never completed:
            # only the decoder's words count.
            words = words[: sum(1 for w in decoded if w >= 0)]
        return words


UNK_WORD = "<unk>"
