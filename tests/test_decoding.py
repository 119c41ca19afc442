import math

import pytest
import torch

from asr.decoding import Hypothesis, Word, greedy_decode
from asr.text import Vocabulary

SPF = 0.02  # seconds per output frame
VOCAB = Vocabulary.from_transcripts(["hello world"])  # <blank> | <unk> d e h l o r w


def log_probs_of(path: str, probs: list[float] | None = None) -> torch.Tensor:
    """(frames, vocab) log-probs whose best path is `path`: one char a frame, '_' blank, ' ' delimiter.

    The best token of frame t gets probability probs[t]; the rest share the remainder.
    """
    probs = probs or [0.9] * len(path)
    rows = []
    for char, p in zip(path, probs):
        token = VOCAB.blank_id if char == "_" else VOCAB.delimiter_id if char == " " else VOCAB.tokens.index(char)
        row = torch.full((len(VOCAB),), (1 - p) / (len(VOCAB) - 1))
        row[token] = p
        rows.append(row)
    return torch.stack(rows).log()


def decode_one(path: str, probs=None) -> Hypothesis:
    lp = log_probs_of(path, probs)
    [hyp] = greedy_decode(lp[None], torch.tensor([lp.shape[0]]), VOCAB, SPF)
    return hyp


def test_repeats_collapse():
    hyp = decode_one("hhheeelllooo")
    assert hyp.text == "helo"


def test_blank_separates_doubled_letters():
    assert decode_one("hh_e_ll_l__oo").text == "hello"
    assert decode_one("hel_lo").text == "hello"
    assert decode_one("h_e_l_l_o").text == "hello"


def test_word_delimiter_splits_words():
    hyp = decode_one("_hel_lo_  _world_")
    assert hyp.text == "hello world"
    assert [w.word for w in hyp.words] == ["hello", "world"]
    # several delimiters and leading / trailing ones make no empty words
    assert [w.word for w in decode_one("  he  lo  ").words] == ["he", "lo"]


def test_word_times_from_frames():
    # no delimiter between them: one word
    assert [w.word for w in decode_one("__hel_lo___wo_rld").words] == ["helloworld"]
    # frames:             0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
    hyp = decode_one("__hhe_l_lo  _wor")
    first, second = hyp.words
    # starts at the first frame of its first char, ends after the last frame of its last char
    assert first.word == "hello" and first.start == pytest.approx(2 * SPF) and first.end == pytest.approx(10 * SPF)
    assert second.word == "wor" and second.start == pytest.approx(13 * SPF) and second.end == pytest.approx(16 * SPF)


def test_other_frame_rate():
    lp = log_probs_of("__he")
    [hyp] = greedy_decode(lp[None], torch.tensor([4]), VOCAB, 0.04)
    assert hyp.words[0].start == pytest.approx(0.08) and hyp.words[0].end == pytest.approx(0.16)


def test_confidence_is_mean_probability_of_emitting_frames():
    path = "_hh_e_ w"
    probs = [0.99, 0.6, 0.8, 0.95, 0.5, 0.97, 0.9, 0.7]
    hyp = decode_one(path, probs)
    he, w = hyp.words
    # frames of 'h' (1, 2) and 'e' (4); blanks and the delimiter do not count
    assert he.word == "he" and he.confidence == pytest.approx((0.6 + 0.8 + 0.5) / 3, rel=1e-5)
    assert w.word == "w" and w.confidence == pytest.approx(0.7, rel=1e-5)
    for word in hyp.words:
        assert 0.0 <= word.confidence <= 1.0


def test_batch_ignores_frames_past_each_length():
    a = log_probs_of("_he_l_lo")  # 8 frames
    b = log_probs_of("wor_ld")  # 6 frames
    # b is padded with frames that would decode to more letters
    padding = log_probs_of("hh")
    batch = torch.stack([a, torch.cat([b, padding])])
    hyps = greedy_decode(batch, torch.tensor([8, 6]), VOCAB, SPF)
    assert [h.text for h in hyps] == ["hello", "world"]
    # a length shorter than the frames cuts the path there
    [cut] = greedy_decode(a[None], torch.tensor([4]), VOCAB, SPF)
    assert cut.text == "he"
    assert cut.words[0].end == pytest.approx(3 * SPF)


def test_repeat_across_the_length_boundary_is_not_merged():
    # frame 5 ('l') ends the valid part; the padding frame 6 is also 'l'
    lp = log_probs_of("_hel_ll")
    [hyp] = greedy_decode(lp[None], torch.tensor([6]), VOCAB, SPF)
    assert hyp.text == "hell"
    assert hyp.words[0].end == pytest.approx(6 * SPF)


def test_empty_output():
    hyp = decode_one("______")
    assert hyp == Hypothesis("", [])
    hyp = decode_one("_ _  _")
    assert hyp.text == "" and hyp.words == []
    [zero] = greedy_decode(log_probs_of("hello")[None], torch.tensor([0]), VOCAB, SPF)
    assert zero.text == "" and zero.words == []


def test_unknown_token_is_emitted():
    lp = log_probs_of("he_")
    lp[2] = torch.full((len(VOCAB),), math.log(0.01))
    lp[2, VOCAB.unknown_id] = math.log(0.9)
    assert decode_one_lp(lp).text == "he<unk>"


def decode_one_lp(lp):
    [hyp] = greedy_decode(lp[None], torch.tensor([lp.shape[0]]), VOCAB, SPF)
    return hyp


def test_accepts_half_precision_and_returns_plain_words():
    lp = log_probs_of("_he").half()
    [hyp] = greedy_decode(lp[None], torch.tensor([3]), VOCAB, SPF)
    assert len(hyp.words) == 1
    word = hyp.words[0]
    assert isinstance(word, Word)
    assert isinstance(word.start, float) and isinstance(word.end, float) and isinstance(word.confidence, float)
