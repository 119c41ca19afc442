"""The leaderboard as a PNG: WER per model and test set, best model on top."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server or in CI

import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)


def wer_chart(title: str, models: list[str], test_sets: list[str], wers: list[list[float]], averages: list[float]) -> bytes:
    """Grouped horizontal bars: one group per model (in the given order, top to bottom), one bar per test set.

    `wers[m][t]` and `averages[m]` are fractions; the average goes in the model's label.
    """
    bar = 0.8 / len(test_sets)
    figure, axes = plt.subplots(figsize=(10, 1.4 + 0.3 * len(models) * (len(test_sets) + 1)))
    for t, name in enumerate(test_sets):
        positions = [m - 0.4 + bar * (t + 0.5) for m in range(len(models))]
        bars = axes.barh(positions, [100 * wers[m][t] for m in range(len(models))], height=bar, label=name)
        axes.bar_label(bars, fmt="%.1f", padding=2, fontsize=8)
    axes.set_yticks(range(len(models)), [f"{name}\naverage {100 * a:.1f}" for name, a in zip(models, averages)])
    axes.invert_yaxis()  # rank 1 at the top, as in the table
    axes.set_xlabel("WER %")
    axes.set_xlim(0, 1.1 * max(100, max(100 * w for row in wers for w in row)))
    axes.set_title(title)
    axes.legend(title="test set", loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    figure.tight_layout()
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=120)
    plt.close(figure)
    return png.getvalue()
