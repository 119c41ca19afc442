"""Progress of long work: a live bar on a terminal, plain lines now and then in a log.

tqdm redraws its bar with carriage returns, which a file or a CI log keeps as
hundreds of frames. `progress` gives tqdm when the output is a terminal and a
`LogProgress` otherwise: the same figures (count, percent, rate, elapsed,
remaining, postfix) on one line every few percent or every half minute,
whichever comes first, and a last line when it ends. Both take the same
arguments and have the same methods, as far as this project uses them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable

from tqdm import tqdm

EVERY_PERCENT = 10.0
EVERY_SECONDS = 60.0


def progress(iterable: Iterable | None = None, *, file=None, **kwargs):
    """A tqdm bar on a terminal, else a `LogProgress` writing plain lines; arguments as tqdm's."""
    stream = file if file is not None else sys.stderr
    if stream.isatty():
        return tqdm(iterable, file=stream, dynamic_ncols=True, **kwargs)
    return LogProgress(iterable, file=stream, **kwargs)


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


class LogProgress:
    """tqdm's interface, printing a line every `every_percent` % of the total or `every_seconds` s."""

    def __init__(
        self, iterable: Iterable | None = None, total: float | None = None, desc: str = "", unit: str = "it",
        initial: float = 0, disable: bool = False, file=None, every_percent: float = EVERY_PERCENT,
        every_seconds: float = EVERY_SECONDS, **_tqdm_only,
    ):
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.total, self.desc, self.unit, self.n, self.disable = total, desc, unit, initial, disable
        self.file = file if file is not None else sys.stderr
        self.every_percent, self.every_seconds = every_percent, every_seconds
        self.postfix = ""
        self._initial, self._started = initial, time.monotonic()
        self._printed_at, self._printed_percent, self._printed_n = self._started, self._percent(), None
        self._closed = False

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _percent(self) -> float | None:
        return 100.0 * self.n / self.total if self.total else None

    def update(self, n: float = 1) -> None:
        self.n += n
        now, percent = time.monotonic(), self._percent()
        crossed = percent is not None and (
            self._printed_percent is None or percent // self.every_percent > self._printed_percent // self.every_percent
        )
        if crossed or now - self._printed_at >= self.every_seconds:
            self._print(now, percent)

    def _print(self, now: float, percent: float | None) -> None:
        self._printed_at, self._printed_percent, self._printed_n = now, percent, self.n
        if not self.disable:
            print(self.line(now), file=self.file, flush=True)

    def line(self, now: float | None = None) -> str:
        elapsed = (now or time.monotonic()) - self._started
        rate = (self.n - self._initial) / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.desc}: " if self.desc else ""]
        if self.total:
            parts.append(f"{self._percent():3.0f}% {self.n:.0f}/{self.total:.0f} {self.unit}")
        else:
            parts.append(f"{self.n:.0f} {self.unit}")
        parts.append(f", {rate:.3g} {self.unit}/s, elapsed {_clock(elapsed)}")
        if self.total and rate > 0:
            parts.append(f", remaining {_clock(max(self.total - self.n, 0) / rate)}")
        if self.postfix:
            parts.append(f", {self.postfix}")
        return "".join(parts)

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **kwargs) -> None:
        values = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{key}={value}" for key, value in values.items())

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def refresh(self) -> None:
        """Nothing to redraw in a log; the next line shows the new figures."""

    def write(self, text: str, file=None) -> None:
        """Print a line, to standard output unless `file` says otherwise (as tqdm.write)."""
        print(text, file=file if file is not None else sys.stdout, flush=True)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self.n != self._printed_n:  # the last figures, unless the last line showed them
                self._print(time.monotonic(), self._percent())
