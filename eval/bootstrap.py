"""Is a WER difference real? The paired bootstrap over utterances (Bisani & Ney, 2004).

Both systems transcribed the same utterances, so their errors are paired: an
utterance that is hard for one is usually hard for the other. Resampling
utterance indices with replacement, and scoring both systems on the *same*
resample, keeps that pairing; the spread of the difference over resamples is
what the difference would do on another test set like this one.

Each resample recomputes corpus-level WER (sum of edits over sum of reference
words), the statistic that is reported, not a mean of per-utterance rates. With
several test sets the statistic is the mean of their corpus WERs (the
leaderboard's average) and each set is resampled on its own (stratified).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

# Index draws held in memory at once (per block of resamples): about 8 MB of int64.
_BLOCK_DRAWS = 1_000_000


@dataclass(frozen=True)
class Comparison:
    """A system against a baseline. Differences are system minus baseline: negative means fewer errors."""

    system_wer: float
    baseline_wer: float
    difference: float  # absolute: 0.02 is two WER points
    low: float  # percentile interval of the difference
    high: float
    relative: float | None  # difference / baseline WER; None when the baseline makes no errors
    relative_low: float | None
    relative_high: float | None
    p_value: float  # two-sided: how often a resample's difference has the other sign, times two
    confidence: float
    resamples: int
    seed: int

    @property
    def significant(self) -> bool:
        """The interval excludes zero."""
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict:
        return {**asdict(self), "significant": self.significant}


def paired_bootstrap(
    test_sets: Sequence[tuple[Sequence[int], Sequence[int], Sequence[int]]],
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """Compare two systems from their per-utterance word edits.

    `test_sets` holds, for each test set, (system edits, baseline edits,
    reference words), one entry per utterance in the same order for all three.
    Deterministic for a given seed.
    """
    if not test_sets:
        raise ValueError("nothing to compare: no test sets")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    rng = np.random.default_rng(seed)
    system_wer, baseline_wer = 0.0, 0.0
    resampled_system, resampled_baseline = np.zeros(resamples), np.zeros(resamples)
    for number, (system, baseline, words) in enumerate(test_sets, start=1):
        if not len(system) == len(baseline) == len(words) > 0:
            raise ValueError(f"test set {number}: give edits and reference words for the same, non-empty list of utterances")
        columns = np.array([system, baseline, words], dtype=np.int64)
        if columns[2].sum() == 0:
            raise ValueError(f"test set {number}: the references hold no words")
        system_wer += columns[0].sum() / columns[2].sum()
        baseline_wer += columns[1].sum() / columns[2].sum()
        sums = _resampled_sums(rng, columns, resamples)
        # A resample of only empty references has no WER; it is dropped below.
        with np.errstate(divide="ignore", invalid="ignore"):
            resampled_system += sums[0] / sums[2]
            resampled_baseline += sums[1] / sums[2]
    system_wer /= len(test_sets)
    baseline_wer /= len(test_sets)
    resampled_system /= len(test_sets)
    resampled_baseline /= len(test_sets)

    valid = np.isfinite(resampled_system) & np.isfinite(resampled_baseline)
    differences = (resampled_system - resampled_baseline)[valid]
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(differences, [tail, 100 - tail])
    at_most_zero = np.count_nonzero(differences <= 0)
    at_least_zero = np.count_nonzero(differences >= 0)
    # +1 on both sides: a p-value estimated from finitely many resamples is never 0.
    p_value = min(1.0, 2 * (min(at_most_zero, at_least_zero) + 1) / (len(differences) + 1))

    relative = relative_low = relative_high = None
    if baseline_wer > 0:
        relative = (system_wer - baseline_wer) / baseline_wer
        positive = resampled_baseline[valid] > 0
        relative_low, relative_high = (
            float(x) for x in np.percentile(differences[positive] / resampled_baseline[valid][positive], [tail, 100 - tail])
        )
    return Comparison(
        system_wer=float(system_wer),
        baseline_wer=float(baseline_wer),
        difference=float(system_wer - baseline_wer),
        low=float(low),
        high=float(high),
        relative=relative,
        relative_low=relative_low,
        relative_high=relative_high,
        p_value=float(p_value),
        confidence=confidence,
        resamples=resamples,
        seed=seed,
    )


def wer_interval(
    edits: Sequence[int], words: Sequence[int], resamples: int = 10_000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile interval of one system's corpus WER from its per-utterance word edits and reference words: what its
    WER would do on another test set like this one. Deterministic for a given seed."""
    if not len(edits) == len(words) > 0:
        raise ValueError("give edits and reference words for the same, non-empty list of utterances")
    if sum(words) == 0:
        raise ValueError("the references hold no words")
    sums = _resampled_sums(np.random.default_rng(seed), np.array([edits, words], dtype=np.int64), resamples)
    with np.errstate(divide="ignore", invalid="ignore"):
        wer = sums[0] / sums[1]
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(wer[np.isfinite(wer)], [tail, 100 - tail])
    return float(low), float(high)


def _resampled_sums(rng: np.random.Generator, columns: np.ndarray, resamples: int) -> np.ndarray:
    """(3, resamples) sums of each column over `resamples` draws of utterance indices with replacement."""
    n = columns.shape[1]
    block = max(1, _BLOCK_DRAWS // n)
    sums = np.empty((columns.shape[0], resamples), dtype=np.int64)
    for start in range(0, resamples, block):
        stop = min(start + block, resamples)
        indices = rng.integers(0, n, size=(stop - start, n))
        sums[:, start:stop] = columns[:, indices].sum(axis=2)
    return sums
