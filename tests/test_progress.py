import io

from tqdm import tqdm

from asr.progress import LogProgress, progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_live_bar_and_a_log_gets_plain_lines():
    assert isinstance(progress(total=3, file=Terminal()), tqdm)
    assert isinstance(progress(total=3, file=io.StringIO()), LogProgress)


def test_a_log_gets_a_line_every_tenth_and_a_last_one_without_carriage_returns():
    log = io.StringIO()
    with progress(total=1000, desc="synthesizing de", unit="utt", file=log) as bar:
        for _ in range(1000):
            bar.update(1)
            bar.set_postfix(hours="0.500")
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert len(lines) == 10
    assert lines[0].startswith("synthesizing de:  10% 100/1000 utt")
    assert lines[-1].startswith("synthesizing de: 100% 1000/1000 utt") and lines[-1].endswith("hours=0.500")


def test_a_log_line_also_comes_every_so_many_seconds_and_for_an_open_total(monkeypatch):
    clock = iter(range(0, 10_000, 7))
    monkeypatch.setattr("asr.progress.time.monotonic", lambda: next(clock))
    log = io.StringIO()
    bar = LogProgress(desc="importing", unit="file", file=log, every_seconds=20)
    for _ in range(9):
        bar.update(1)
    bar.close()
    lines = log.getvalue().splitlines()
    assert 3 <= len(lines) <= 5  # 63 s of updates: one line per 20 s and the last
    assert lines[-1].startswith("importing: 9 file")


def test_an_iterable_is_counted_and_a_disabled_bar_prints_nothing():
    log = io.StringIO()
    assert list(progress(range(5), desc="x", file=log)) == list(range(5))
    assert log.getvalue().splitlines()[-1].startswith("x: 100% 5/5")
    quiet = io.StringIO()
    with progress(total=5, file=quiet, disable=True) as bar:
        bar.update(5)
    assert quiet.getvalue() == ""
