"""asr.streaming.stream: windows that tile the stream, incremental decoding equal to decoding everything at once, endpointing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from asr.checkpoint import ModelBundle
from asr.decoding import greedy_decode
from asr.features import FrontendConfig, LogMelFrontend
from asr.streaming.options import ChunkingOptions, EndpointOptions
from asr.streaming.stream import Stream, Window, window_log_probs
from asr.text import Vocabulary
from asr.transcribe import Transcriber
from tests.tiny import tiny_bundle, tone

VOCABULARY = Vocabulary.from_transcripts(["abc def"])  # <blank> | <unk> a b c d e f
TONES = {"a": 500.0, "b": 1000.0, "|": 2000.0}


class ToneModel(torch.nn.Module):
    """A model whose output a test can predict: per 20 ms frame, the token of the loudest known tone, blank where quiet.

    It stands in for WhisperCTC (same inputs, outputs and frame rate), so the
    whole streaming path runs unchanged; it counts its forward passes.
    """

    def __init__(self, vocabulary: Vocabulary = VOCABULARY):
        super().__init__()
        frontend = LogMelFrontend(FrontendConfig())
        tone_bins = {vocabulary.tokens.index(t): int(frontend(torch.from_numpy(tone(0.5, f))).mean(-1).argmax()) for t, f in TONES.items()}
        ids, bins = torch.tensor(list(tone_bins)), torch.tensor(list(tone_bins.values()))
        nearest = (torch.arange(frontend.config.n_mels)[:, None] - bins[None, :]).abs().argmin(dim=1)
        self.register_buffer("token_of_bin", ids[nearest])
        self.vocab_size = len(vocabulary)
        self.blank_id = vocabulary.blank_id
        self.calls = 0

    def forward(self, features: torch.Tensor, feature_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls += 1
        frames = features[:, :, ::2]  # output frame j sits on mel frame 2j, as after Whisper's stride-2 conv
        loud = frames.max(dim=1).values > 0.0  # Whisper's log-mel is about -0.7 in a pause next to a tone, +1.3 in it
        ids = torch.where(loud, self.token_of_bin[frames.argmax(dim=1)], self.blank_id)
        logits = torch.nn.functional.one_hot(ids, self.vocab_size).float() * 12.0
        return logits.log_softmax(dim=-1), (feature_lengths + 1) // 2

    @staticmethod
    def seconds_per_output_frame(seconds_per_feature_frame: float) -> float:
        return 2 * seconds_per_feature_frame


def tone_bundle() -> ModelBundle:
    return ModelBundle("tone-test-model", {}, ToneModel(), VOCABULARY, FrontendConfig(), "de")


def speech(*parts: tuple[str | None, float], rate: int = 16000) -> np.ndarray:
    """Audio from (token, seconds) parts: the token's tone, or silence for None."""
    pieces = [tone(s, TONES[t], rate) if t else np.zeros(int(s * rate), np.float32) for t, s in parts]
    return np.concatenate(pieces)


# "ab ba", a pause, "ab": the utterances and word times tests expect.
UTTERANCES = speech((None, 0.3), ("a", 0.2), ("b", 0.2), ("|", 0.1), ("b", 0.2), ("a", 0.2), (None, 1.2), ("a", 0.2), ("b", 0.2), (None, 0.1))
EXPECTED_WORDS = [[("ab", 0.3, 0.7), ("ba", 0.8, 1.2)], [("ab", 2.4, 2.8)]]


def run_stream(transcriber: Transcriber, wave: np.ndarray, chunking: ChunkingOptions, endpointing: EndpointOptions, piece: int = 1234,
               early_interim: bool = False):
    """Utterances of `wave` streamed in pieces of `piece` samples, one window at a time."""
    stream = Stream.for_model(transcriber, chunking, endpointing, early_interim=early_interim)
    utterances = []

    def drain() -> None:
        while (window := stream.next_window()) is not None:
            (log_probs,) = window_log_probs(transcriber, [window])
            utterances.extend(stream.accept(window, log_probs))

    for first in range(0, len(wave), piece):
        stream.append(torch.from_numpy(wave[first : first + piece]))
        drain()
    stream.close()
    drain()
    assert stream.done
    final = stream.finish()
    return utterances + ([final] if final else []), stream


@pytest.mark.parametrize("chunking", [ChunkingOptions(320, 1600, 160), ChunkingOptions(100, 300, 0), ChunkingOptions(1000, 0, 200)])
def test_tone_stream_gives_utterances_and_word_times(chunking):
    utterances, _ = run_stream(Transcriber(tone_bundle(), device="cpu"), UTTERANCES, chunking, EndpointOptions(stop_history_ms=800))
    assert [u.endpointed for u in utterances] == [True, False]
    for utterance, expected in zip(utterances, EXPECTED_WORDS):
        assert [w.word for w in utterance.words] == [word for word, _, _ in expected]
        for w, (_, start, end) in zip(utterance.words, expected):
            assert w.start == pytest.approx(start, abs=0.03) and w.end == pytest.approx(end, abs=0.03)
    assert utterances[0].end == pytest.approx(1.2 + 0.8, abs=0.05)  # the pause reached 800 ms
    assert utterances[1].end == pytest.approx(len(UTTERANCES) / 16000)


def test_without_endpointing_one_utterance_holds_every_word():
    utterances, _ = run_stream(Transcriber(tone_bundle(), device="cpu"), UTTERANCES, ChunkingOptions(), EndpointOptions(stop_history_ms=0))
    # Blank frames do not break a word (only the word-break token does), as in batch decoding.
    assert [[w.word for w in u.words] for u in utterances] == [["ab", "baab"]]


def test_an_utterance_no_pause_ends_is_cut_at_word_boundaries_and_loses_no_word():
    # Twelve words, 0.5 s each, no pause: one utterance without the cut.
    words = ["ab", "ba"] * 6
    wave = speech((None, 0.2), *[part for word in words for part in ((word[0], 0.2), (word[1], 0.2), ("|", 0.1))])
    transcriber = Transcriber(tone_bundle(), device="cpu")
    (whole,), _ = run_stream(transcriber, wave, ChunkingOptions(), EndpointOptions(stop_history_ms=0))
    assert [w.word for w in whole.words] == words
    utterances, _ = run_stream(transcriber, wave, ChunkingOptions(), EndpointOptions(stop_history_ms=0, max_utterance_ms=1200))
    assert len(utterances) >= 4 and not any(u.endpointed for u in utterances)
    assert [w for u in utterances for w in u.words] == whole.words  # the same words at the same times
    # An utterance ends where its next word starts, and holds at most the limit and one window's frames of speech
    # (a chunk's; the stream's last window also the lookahead's).
    last_window_from = len(wave) / 16000 - (ChunkingOptions().chunk_ms + ChunkingOptions().lookahead_ms) / 1000
    for u, after in zip(utterances, utterances[1:]):
        assert u.end == pytest.approx(after.words[0].start)
        if u.end < last_window_from:
            assert u.words[-1].end - u.words[0].start <= 1.2 + ChunkingOptions().chunk_ms / 1000
    with pytest.raises(ValueError, match="max_utterance_ms"):
        EndpointOptions(max_utterance_ms=0)


def test_quiet_audio_counts_as_a_pause_whatever_the_model_says(tiny_always_a):
    # The biased tiny model emits "a" everywhere; only the level threshold can find the pause.
    wave = np.concatenate([0.3 * np.ones(8000, np.float32), np.zeros(24000, np.float32), 0.3 * np.ones(8000, np.float32)])
    utterances, _ = run_stream(Transcriber(tiny_always_a, device="cpu"), wave, ChunkingOptions(), EndpointOptions(stop_history_ms=800))
    assert [u.endpointed for u in utterances] == [True, False]


@pytest.fixture
def tiny_always_a() -> ModelBundle:
    bundle = tiny_bundle()
    with torch.no_grad():
        bundle.model.head.bias[bundle.vocabulary.tokens.index("a")] += 20.0
    return bundle


def test_one_window_equals_batch_decoding():
    # A chunk longer than the stream: one window over all of it, the exact computation of Transcriber.decode.
    transcriber = Transcriber(tiny_bundle(seed=3), device="cpu")
    wave = torch.from_numpy(np.random.default_rng(0).normal(0, 0.1, 24_321).astype(np.float32))
    utterances, _ = run_stream(transcriber, wave.numpy(), ChunkingOptions(chunk_ms=2000, left_context_ms=0, lookahead_ms=0), EndpointOptions(stop_history_ms=0))
    (batch,) = transcriber.decode([wave])
    assert [w for u in utterances for w in u.words] == batch.words


@pytest.mark.parametrize("samples", [16_000, 24_321, 16_150, 399])
def test_windows_tile_the_stream_frame_for_frame(samples):
    transcriber = Transcriber(tiny_bundle(), device="cpu")
    stream = Stream.for_model(transcriber, ChunkingOptions(160, 320, 80), EndpointOptions(stop_history_ms=0))
    stream.append(torch.zeros(samples))
    stream.close()
    frames = 0
    while (window := stream.next_window()) is not None:
        assert window.first_frame == frames
        (log_probs,) = window_log_probs(transcriber, [window])
        lookahead = 0 if window.keep_to is None else 4
        assert len(log_probs) == (window.keep_to or window.keep_from + len(log_probs)) - window.keep_from + lookahead
        stream.accept(window, log_probs)
        frames = stream.next_frame
    # As many frames as the whole stream gives in one pass.
    features, lengths = transcriber.frontend.batch([torch.zeros(samples)])
    assert frames == int(transcriber.model(features, lengths)[1][0])
    assert stream.done and stream.decoded_seconds == samples / 16000


def test_incremental_decoding_equals_decoding_all_frames():
    # Random frames in random-sized pieces: closed words move out of the tail as
    # word breaks pass, and the result must equal one greedy decode of it all.
    generator = torch.Generator().manual_seed(0)
    frames = 600
    logits = torch.randn(frames, len(VOCABULARY), generator=generator)
    logits[:, VOCABULARY.blank_id] += 1.5  # mostly blanks, as CTC models emit
    log_probs = logits.log_softmax(-1)
    stream = Stream(VOCABULARY, 16000, ChunkingOptions(), EndpointOptions(stop_history_ms=0))
    first, interim_fixed = 0, []
    sizes = torch.randint(1, 40, (frames,), generator=generator).tolist()
    for size in sizes:
        if first >= frames:
            break
        piece = log_probs[first : first + size]
        stream.accept(Window(torch.zeros(len(piece) * 320), 0, len(piece), first), piece)
        first += len(piece)
        words, fixed = stream.interim()
        interim_fixed.append(words[:fixed])
    stream.close()
    utterance = stream.finish()
    (expected,) = greedy_decode(log_probs[None], torch.tensor([frames]), VOCABULARY, 0.02)
    assert [w.word for w in utterance.words] == [w.word for w in expected.words]
    for got, want in zip(utterance.words, expected.words):
        assert got.start == pytest.approx(want.start) and got.end == pytest.approx(want.end)
        assert got.confidence == pytest.approx(want.confidence)
    # Words reported as fixed never change afterwards.
    for fixed in interim_fixed:
        assert fixed == utterance.words[: len(fixed)]


def test_bad_chunking_is_refused():
    with pytest.raises(ValueError, match="multiple of 20"):
        ChunkingOptions(chunk_ms=250)
    with pytest.raises(ValueError, match="30 s"):
        ChunkingOptions(chunk_ms=1000, left_context_ms=29_000, lookahead_ms=20)


def test_interim_words_come_from_the_lookahead_before_they_are_fixed():
    transcriber = Transcriber(tone_bundle(), device="cpu")
    stream = Stream.for_model(transcriber, ChunkingOptions(chunk_ms=160, left_context_ms=640, lookahead_ms=640), EndpointOptions())
    stream.append(torch.from_numpy(UTTERANCES))
    window = stream.next_window()
    (log_probs,) = window_log_probs(transcriber, [window])
    stream.accept(window, log_probs)
    words, fixed = stream.interim()
    # Only 160 ms are fixed, but the model has heard 800 ms: "ab" (0.3 to 0.7 s) shows, provisionally.
    assert stream.next_frame * 0.02 == pytest.approx(0.16) and stream.decoded_seconds == pytest.approx(0.8)
    assert [w.word for w in words] == ["ab"] and fixed == 0


def test_early_looks_come_every_interim_step_with_their_own_left_context_and_change_no_final():
    transcriber = Transcriber(tone_bundle(), device="cpu")
    chunking = ChunkingOptions(chunk_ms=320, left_context_ms=640, lookahead_ms=960, interim_step_ms=100, interim_context_ms=200)
    stream = Stream.for_model(transcriber, chunking, EndpointOptions(stop_history_ms=800), early_interim=True)
    looks = []  # (message, window)
    for message, first in enumerate(range(0, int(2.0 * 16000), 1600), start=1):  # 100 ms messages
        stream.append(torch.from_numpy(UTTERANCES[first : first + 1600]))
        while (window := stream.next_window()) is not None:
            stream.accept(window, window_log_probs(transcriber, [window])[0])
            looks.append((message, window))
    # Until the first chunk's lookahead is in (1.28 s, the 13th message), each message brings one early look.
    assert [(m, w.provisional) for m, w in looks[:13]] == [(m, True) for m in range(1, 13)] + [(13, False)]
    # Once 640 ms (32 frames) lie before the chunk, its early looks read 200 ms (10 frames) of them, its full window all.
    later = [w for _, w in looks if w.first_frame >= 32]
    assert {w.provisional for w in later} == {True, False}
    assert all(w.keep_from == (10 if w.provisional else 32) for w in later)
    # After a full window, a look starts where that window's lookahead ends: it reads the audio since, not the lookahead again.
    full_end = None
    for _, w in looks:
        if w.provisional and full_end is not None:
            assert w.first_frame == full_end and len(w.wave) < (10 + 16) * 320  # its context and less than a chunk
        elif not w.provisional:
            full_end = (w.first_frame - w.keep_from) + len(w.wave) // 320
    assert full_end is not None
    steps, _ = run_stream(transcriber, UTTERANCES, chunking, EndpointOptions(stop_history_ms=800), piece=1600, early_interim=True)
    plain, _ = run_stream(transcriber, UTTERANCES, ChunkingOptions(320, 640, 960), EndpointOptions(stop_history_ms=800), piece=1600)
    assert [[(w.word, w.start, w.end) for w in u.words] for u in steps] == [[(w.word, w.start, w.end) for w in u.words] for u in plain]


@pytest.mark.parametrize("chunking", [
    ChunkingOptions(interim_step_ms=100, interim_context_ms=320),  # a CPU's default with native bf16
    ChunkingOptions(chunk_ms=640, left_context_ms=960, interim_step_ms=160, interim_context_ms=320),  # without
    ChunkingOptions(),  # a GPU's: a chunk's worth, so the full window always comes first
])
def test_early_looks_ms_are_the_looks_a_stream_takes_between_two_full_windows(chunking):
    """What the server's capacity estimate at start counts (serving.server._warm_up)."""
    vocabulary = Vocabulary.from_transcripts(["abc"])
    stream = Stream(vocabulary, 16000, chunking, EndpointOptions(stop_history_ms=0), early_interim=True)
    windows = []  # (provisional, ms)
    for _ in range(500):  # 10 s arriving steadily, 20 ms at a time
        stream.append(torch.zeros(320))
        while (window := stream.next_window()) is not None:
            windows.append((window.provisional, len(window.wave) * 1000 // 16000))
            stream.accept(window, torch.zeros(len(window.wave) // 320 - window.keep_from, len(vocabulary)))
    fulls = [i for i, (provisional, _) in enumerate(windows) if not provisional]
    between = [tuple(ms for _, ms in windows[a + 1 : b]) for a, b in zip(fulls[2:], fulls[3:])]  # once past the start
    assert between and set(between) == {chunking.early_looks_ms}


def test_an_early_look_cannot_read_more_context_than_is_kept():
    with pytest.raises(ValueError, match="interim_context_ms must be at most left_context_ms"):
        ChunkingOptions(left_context_ms=640, interim_context_ms=960)


def test_early_interim_words_come_before_the_lookahead_and_change_no_final():
    transcriber = Transcriber(tone_bundle(), device="cpu")
    chunking = ChunkingOptions(chunk_ms=320, left_context_ms=640, lookahead_ms=960)
    stream = Stream.for_model(transcriber, chunking, EndpointOptions(stop_history_ms=800), early_interim=True)
    stream.append(torch.from_numpy(UTTERANCES[: int(0.8 * 16000)]))  # "ab ba" spoken up to 1.2 s: its first chunks are in
    seen = []
    while (window := stream.next_window()) is not None:
        assert window.provisional  # no chunk has its 960 ms lookahead yet
        (log_probs,) = window_log_probs(transcriber, [window])
        assert stream.accept(window, log_probs) == []
        seen.append(stream.interim()[0])
    assert len(seen) == 1 and [w.word for w in seen[0]] == ["ab"]  # one look at all that came, words already
    stream.append(torch.from_numpy(UTTERANCES[int(0.8 * 16000) : int(1.2 * 16000)]))  # a chunk more: another look
    window = stream.next_window()
    assert window.provisional and stream.accept(window, window_log_probs(transcriber, [window])[0]) == []
    assert [w.word for w in stream.interim()[0]] == ["ab", "ba"]
    assert stream.next_frame == 0  # nothing decided
    early, _ = run_stream(transcriber, UTTERANCES, chunking, EndpointOptions(stop_history_ms=800), early_interim=True)
    plain, _ = run_stream(transcriber, UTTERANCES, chunking, EndpointOptions(stop_history_ms=800))
    assert [[(w.word, w.start, w.end) for w in u.words] for u in early] == [[(w.word, w.start, w.end) for w in u.words] for u in plain]
