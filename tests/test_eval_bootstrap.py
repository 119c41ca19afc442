import time

import numpy as np
import pytest

from eval.bootstrap import paired_bootstrap, wer_interval


def _errors(seed: int, utterances: int = 400, words: int = 12, rate: float = 0.2):
    rng = np.random.default_rng(seed)
    reference_words = rng.integers(words // 2, 2 * words, size=utterances)
    return rng.binomial(reference_words, rate), reference_words


def test_identical_systems_interval_covers_zero():
    edits, words = _errors(0)
    c = paired_bootstrap([(edits, edits, words)], resamples=2000)
    assert c.difference == 0 and c.low == 0 and c.high == 0
    assert not c.significant
    assert c.p_value == 1.0


def test_same_error_rate_on_different_utterances_is_not_significant():
    """The same errors moved to other utterances: equal corpus WER, different per-utterance errors."""
    edits, words = _errors(1)
    moved = np.random.default_rng(2).permutation(edits)
    c = paired_bootstrap([(moved, edits, words)], resamples=5000)
    assert c.difference == pytest.approx(0)
    assert c.low < 0 < c.high
    assert c.p_value > 0.5


def test_clearly_better_system_interval_excludes_zero():
    edits, words = _errors(3)
    better = np.maximum(edits - 2, 0)
    c = paired_bootstrap([(better, edits, words)], resamples=5000)
    assert c.system_wer == pytest.approx(better.sum() / words.sum())
    assert c.baseline_wer == pytest.approx(edits.sum() / words.sum())
    assert c.low < c.difference < c.high < 0
    assert c.significant and c.p_value < 0.001
    assert c.relative == pytest.approx(c.difference / c.baseline_wer)
    assert c.relative_low < c.relative < c.relative_high < 0


def test_wer_interval_holds_the_wer_and_narrows_with_more_utterances():
    edits, words = _errors(4, utterances=2000)
    wer = edits.sum() / words.sum()
    low, high = wer_interval(edits, words, resamples=2000)
    few_low, few_high = wer_interval(edits[:100], words[:100], resamples=2000)
    assert low < wer < high and high - low < 0.02
    assert few_high - few_low > 3 * (high - low)  # about sqrt(20) times as wide
    assert wer_interval(edits, words, resamples=2000) == (low, high)  # deterministic for a seed
    with pytest.raises(ValueError, match="no words"):
        wer_interval([0, 0], [0, 0])


def test_a_small_difference_on_few_utterances_is_noise():
    """Two points on 40 utterances: the interval says it may be nothing."""
    edits, words = _errors(4, utterances=40)
    worse = edits.copy()
    worse[:2] += words[:2] // 10 + 3  # a handful more errors in two utterances
    c = paired_bootstrap([(worse, edits, words)], resamples=5000)
    assert 0 < c.difference < 0.05
    assert c.low <= 0 and not c.significant


def test_deterministic_for_a_seed():
    edits, words = _errors(5)
    other, _ = _errors(6)
    first = paired_bootstrap([(other, edits, words)], resamples=1000, seed=7)
    assert paired_bootstrap([(other, edits, words)], resamples=1000, seed=7) == first
    assert paired_bootstrap([(other, edits, words)], resamples=1000, seed=8) != first


def test_several_test_sets_compare_the_mean_of_their_wers():
    a_edits, a_words = _errors(7, utterances=100)
    b_edits, b_words = _errors(8, utterances=300, rate=0.4)
    c = paired_bootstrap([(a_edits // 2, a_edits, a_words), (b_edits, b_edits, b_words)], resamples=2000)
    baseline = (a_edits.sum() / a_words.sum() + b_edits.sum() / b_words.sum()) / 2
    system = (((a_edits // 2).sum()) / a_words.sum() + b_edits.sum() / b_words.sum()) / 2
    assert c.baseline_wer == pytest.approx(baseline)
    assert c.system_wer == pytest.approx(system)
    assert c.high < 0


def test_ten_thousand_resamples_are_fast():
    edits, words = _errors(9, utterances=1000)
    started = time.perf_counter()
    paired_bootstrap([(edits, edits[::-1], words)], resamples=10_000)
    assert time.perf_counter() - started < 5  # about 0.3 s on one core; generous for a shared machine


def test_bad_input_is_an_error():
    with pytest.raises(ValueError, match="no test sets"):
        paired_bootstrap([])
    with pytest.raises(ValueError, match="same, non-empty"):
        paired_bootstrap([([1, 2], [1], [3, 3])])
    with pytest.raises(ValueError, match="no words"):
        paired_bootstrap([([0], [0], [0])])
    with pytest.raises(ValueError, match="resamples"):
        paired_bootstrap([([1], [1], [1])], resamples=0)
