import numpy as np
import pytest
import soundfile
import torch

from asr.audio import AudioError, write_audio
from asr.checkpoint import save_checkpoint
from asr.decoding import Hypothesis, Word
from asr.features import FRAME_MULTIPLE
from asr.transcribe import Segment, Transcriber, TranscribeOptions, Transcription, resolve_device

RATE = 16000
FRAME = 320  # samples per encoder output frame (20 ms)


# A fake acoustic model: the test audio is silence with "words" of constant amplitude
# (k + 1) / 64 for word k. The fake decoder finds them in each chunk it is given and
# reports them in chunk time, quantised to 20 ms frames like greedy_decode.
def word_wave(seconds: float, words: list[tuple[float, float]], first_id: int = 0) -> torch.Tensor:
    wave = torch.zeros(int(round(seconds * RATE)))
    for k, (start, end) in enumerate(words, start=first_id):
        wave[int(round(start * RATE)) : int(round(end * RATE))] = (k + 1) / 64
    return wave


def find_words(wave: torch.Tensor) -> list[Word]:
    x = wave.numpy()
    nonzero = np.concatenate([[False], x != 0, [False]])
    edges = np.flatnonzero(np.diff(nonzero.astype(np.int8)))
    words = []
    for start, end in zip(edges[::2], edges[1::2]):
        k = int(round(float(x[start]) * 64)) - 1
        words.append(Word(f"w{k}", (start // FRAME) * 0.02, (end // FRAME) * 0.02, 0.9))
    return words


class FakeDecoder:
    def __init__(self):
        self.calls: list[list[int]] = []

    def __call__(self, waves, decoder=None):
        self.calls.append([len(w) for w in waves])
        hypotheses = []
        for wave in waves:
            words = find_words(wave)
            hypotheses.append(Hypothesis(" ".join(w.word for w in words), words))
        return hypotheses


@pytest.fixture
def bundle(make_bundle):
    return make_bundle(seed=0)


def fake_transcriber(bundle, monkeypatch, **options) -> tuple[Transcriber, FakeDecoder]:
    transcriber = Transcriber(bundle, device="cpu", options=TranscribeOptions(**options))
    fake = FakeDecoder()
    monkeypatch.setattr(transcriber, "decode", fake)
    return transcriber, fake


# --- the real path with a tiny random model ----------------------------------------------


def test_transcribe_with_tiny_model(bundle):
    transcriber = Transcriber(bundle, device="cpu")
    g = torch.Generator().manual_seed(0)
    waves = [0.1 * torch.randn(n, generator=g) for n in (16000, 8000, 40000, 100)]
    results = transcriber.transcribe(waves)
    assert len(results) == 4
    for wave, result in zip(waves, results):
        assert isinstance(result, Transcription)
        assert result.duration == pytest.approx(len(wave) / RATE)
        assert result.language == "en"
        assert result.text == " ".join(w.word for w in result.words)
        for word in result.words:
            assert 0 <= word.start < word.end <= result.duration + 0.02
            assert set(word.word) <= set(bundle.vocabulary.tokens) | set("<unk>")
        assert [w.start for w in result.words] == sorted(w.start for w in result.words)
    assert transcriber.transcribe([]) == []


def test_decode_matches_model_output(bundle):
    transcriber = Transcriber(bundle, device="cpu")
    g = torch.Generator().manual_seed(1)
    waves = [0.1 * torch.randn(12000, generator=g), 0.1 * torch.randn(6400, generator=g)]
    batched = transcriber.decode(waves)
    alone = [transcriber.decode([w])[0] for w in waves]
    assert len(batched) == 2
    # the padded one has an even frame count (40), so padding stays invisible (see test_models)
    assert [h.text for h in batched] == [h.text for h in alone]


def test_inputs_are_padded_to_a_few_shapes_and_give_the_same_frames(bundle):
    # A long-running server's memory grew with every new input length (CPU kernels are kept per shape).
    transcriber = Transcriber(bundle, device="cpu", precision="fp32")
    shapes = []
    transcriber.model.register_forward_pre_hook(lambda module, args: shapes.append(args[0].shape[-1]))
    g = torch.Generator().manual_seed(3)
    for n in range(3200, 48000, 997):
        wave = 0.1 * torch.randn(n, generator=g)
        log_probs, frames = transcriber.log_probs([wave])
        with torch.inference_mode():
            features = transcriber.frontend(wave)[None]
            unpadded, unpadded_frames = transcriber.model(features, torch.tensor([features.shape[-1]]))
        assert frames.tolist() == unpadded_frames.tolist()
        torch.testing.assert_close(log_probs[0, : frames[0]], unpadded[0, : frames[0]], atol=1e-4, rtol=1e-4)
    padded = shapes[::2]  # each step ran the model twice: through log_probs, then unpadded
    assert all(length % FRAME_MULTIPLE == 0 for length in padded)
    assert len(set(padded)) <= 48000 // 160 // FRAME_MULTIPLE + 1 < len(set(shapes[1::2]))


def test_long_audio_with_tiny_model(bundle):
    transcriber = Transcriber(bundle, device="cpu", options=TranscribeOptions(chunk_seconds=4, overlap_seconds=1))
    wave = 0.1 * torch.randn(15 * RATE, generator=torch.Generator().manual_seed(2))
    [result] = transcriber.transcribe([wave])
    assert result.duration == pytest.approx(15.0)
    assert all(0 <= w.start <= w.end <= 15.0 + 1e-6 for w in result.words)


def test_transcriber_loads_a_checkpoint_path(tmp_path, bundle):
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, bundle)
    transcriber = Transcriber(str(path), device="cpu")
    wave = 0.1 * torch.randn(16000, generator=torch.Generator().manual_seed(3))
    assert transcriber.transcribe([wave])[0].text == Transcriber(bundle, device="cpu").transcribe([wave])[0].text


def test_options_are_checked():
    with pytest.raises(ValueError, match="overlap_seconds"):
        TranscribeOptions(chunk_seconds=4, overlap_seconds=2)
    with pytest.raises(ValueError, match="overlap_seconds"):
        TranscribeOptions(overlap_seconds=-1)
    with pytest.raises(ValueError, match="batch_size"):
        TranscribeOptions(batch_size=0)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")


# --- chunking and stitching ---------------------------------------------------------------

# 37 words of 0.3 s every 0.4 s: some cross the chunk edges (3.0, 7.0, 10.0, ...) and the seams
WORDS_15S = [(0.1 + 0.4 * k, 0.4 + 0.4 * k) for k in range(37)]


@pytest.mark.parametrize("batch_size", [8, 2, 1])
def test_long_audio_words_appear_once_at_absolute_times(bundle, monkeypatch, batch_size):
    transcriber, fake = fake_transcriber(bundle, monkeypatch, chunk_seconds=4, overlap_seconds=1, batch_size=batch_size)
    [result] = transcriber.transcribe([word_wave(15, WORDS_15S)])

    # 15 s in 4 s windows every 3 s: 0-4, 3-7, 6-10, 9-13, 12-15
    chunk_lengths = sorted((n for call in fake.calls for n in call), reverse=True)
    assert chunk_lengths == [4 * RATE] * 4 + [3 * RATE]
    assert all(len(call) <= batch_size for call in fake.calls)

    assert [w.word for w in result.words] == [f"w{k}" for k in range(37)]
    for word, (start, end) in zip(result.words, WORDS_15S):
        assert word.start == pytest.approx(start, abs=1e-9)
        assert word.end == pytest.approx(end, abs=1e-9)
        assert word.confidence == 0.9
    assert result.text == " ".join(f"w{k}" for k in range(37))
    assert result.duration == pytest.approx(15.0)


def test_several_long_and_short_waves(bundle, monkeypatch):
    transcriber, _ = fake_transcriber(bundle, monkeypatch, chunk_seconds=4, overlap_seconds=1, batch_size=3)
    short_words = [(0.5, 0.8), (1.2, 1.6)]
    mid_words = [(0.2 + 0.7 * k, 0.6 + 0.7 * k) for k in range(12)]  # 8.8 s of words in 9 s
    waves = [word_wave(15, WORDS_15S), word_wave(2, short_words, first_id=40), word_wave(9, mid_words, first_id=50)]
    results = transcriber.transcribe(waves)
    assert [len(r.words) for r in results] == [37, 2, 12]
    assert [w.word for w in results[1].words] == ["w40", "w41"]
    assert [w.word for w in results[2].words] == [f"w{50 + k}" for k in range(12)]
    for word, (start, end) in zip(results[2].words, mid_words):
        assert (word.start, word.end) == (pytest.approx(start), pytest.approx(end))
    assert [r.duration for r in results] == [pytest.approx(15), pytest.approx(2), pytest.approx(9)]


def test_word_on_a_seam_appears_once(bundle, monkeypatch):
    transcriber, _ = fake_transcriber(bundle, monkeypatch, chunk_seconds=4, overlap_seconds=1)
    # midpoints exactly on the seams at 3.5 s and 6.5 s, and just before / after them
    words = [(3.3, 3.7), (6.4, 6.6), (9.38, 9.6), (12.4, 12.62)]
    [result] = transcriber.transcribe([word_wave(15, words)])
    assert [w.word for w in result.words] == ["w0", "w1", "w2", "w3"]


@pytest.mark.parametrize(
    "chunk,overlap,word",
    [(7.3, 1.1, (31.40, 31.70)), (6, 1.2, (58.10, 58.30))],
    ids=["lost", "doubled"],
)
def test_word_on_a_fractional_seam_appears_once(bundle, monkeypatch, chunk, overlap, word):
    transcriber, _ = fake_transcriber(bundle, monkeypatch, chunk_seconds=chunk, overlap_seconds=overlap)
    [result] = transcriber.transcribe([word_wave(60, [word])])
    assert [w.word for w in result.words] == ["w0"]


def test_audio_of_exactly_one_chunk_is_not_split(bundle, monkeypatch):
    transcriber, fake = fake_transcriber(bundle, monkeypatch, chunk_seconds=4, overlap_seconds=1)
    [result] = transcriber.transcribe([word_wave(4, [(3.8, 4.0)])])
    assert fake.calls == [[4 * RATE]]
    assert [(w.word, w.start, w.end) for w in result.words] == [("w0", pytest.approx(3.8), pytest.approx(4.0))]


def test_tail_shorter_than_the_overlap(bundle, monkeypatch):
    # 7.2 s: windows 0-4, 3-7 and 6-7.2; words near the end are still found once
    transcriber, _ = fake_transcriber(bundle, monkeypatch, chunk_seconds=4, overlap_seconds=1)
    words = [(0.1 + 0.5 * k, 0.4 + 0.5 * k) for k in range(14)]  # last one 6.6-6.9
    [result] = transcriber.transcribe([word_wave(7.2, words)])
    assert [w.word for w in result.words] == [f"w{k}" for k in range(14)]
    assert result.words[-1].start == pytest.approx(6.6)


# --- files --------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 2, 8])
def test_transcribe_files(tmp_path, bundle, monkeypatch, batch_size):
    transcriber, _ = fake_transcriber(bundle, monkeypatch, batch_size=batch_size)
    a = tmp_path / "a.wav"
    write_audio(a, word_wave(1.0, [(0.2, 0.5)]))
    b = tmp_path / "b.flac"  # another format
    soundfile.write(str(b), word_wave(2.5, [(0.5, 0.8), (1.5, 2.0)], first_id=10).numpy(), RATE, subtype="PCM_16")
    c = tmp_path / "c.wav"
    write_audio(c, word_wave(3.0, [(1.0, 1.4), (2.0, 2.2), (2.5, 2.9)], first_id=20))
    missing = tmp_path / "missing.wav"
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF not really a wave file" * 10)

    results = list(transcriber.transcribe_files([a, missing, b, corrupt, str(c)]))

    assert sorted(str(path) for path, _ in results) == sorted(str(p) for p in [a, missing, b, corrupt, c])
    errors = {path: result for path, result in results if isinstance(result, AudioError)}
    assert set(errors) == {missing, corrupt}
    for path, error in errors.items():
        assert str(path) in str(error)
    done = [(path, result) for path, result in results if not isinstance(result, AudioError)]
    assert [path for path, _ in done] == [a, b, c]  # in input order
    for path, result in done:
        assert isinstance(result, Transcription)
        assert result.source == str(path)
    texts = {path.name: result.text for path, result in done}
    assert texts == {"a.wav": "w0", "b.flac": "w10 w11", "c.wav": "w20 w21 w22"}
    durations = {path.name: result.duration for path, result in done}
    assert durations == {"a.wav": pytest.approx(1.0), "b.flac": pytest.approx(2.5), "c.wav": pytest.approx(3.0)}


def test_transcribe_files_batches_similar_lengths_across_a_window(tmp_path, bundle, monkeypatch):
    transcriber, fake = fake_transcriber(bundle, monkeypatch, batch_size=2)
    paths = []
    for k, seconds in enumerate([1, 3, 1, 3, 1, 3, 1, 3, 2]):  # nine files: a window of 4 batches holds eight
        paths.append(tmp_path / f"{k}.wav")
        write_audio(paths[-1], word_wave(seconds, [(0.2, 0.5)], first_id=k))
    results = list(transcriber.transcribe_files(paths))
    assert [path for path, _ in results] == paths  # in input order
    assert [result.text for _, result in results] == [f"w{k}" for k in range(9)]
    # longest first across the window, not file by file: [3, 1] four times would pad every batch
    assert fake.calls == [[3 * RATE] * 2] * 2 + [[RATE] * 2] * 2 + [[2 * RATE]]


def test_transcribe_files_all_missing(tmp_path, bundle):
    transcriber = Transcriber(bundle, device="cpu")
    results = list(transcriber.transcribe_files([tmp_path / "x.wav", tmp_path / "y.mp3"]))
    assert [p.name for p, _ in results] == ["x.wav", "y.mp3"]
    assert all(isinstance(r, AudioError) for _, r in results)


# --- segments -----------------------------------------------------------------------------


def segments_of(bundle, monkeypatch, words, **options) -> list[Segment]:
    transcriber = Transcriber(bundle, device="cpu", options=TranscribeOptions(**options))
    monkeypatch.setattr(transcriber, "decode", lambda waves, decoder=None: [Hypothesis(" ".join(w.word for w in words), words) for _ in waves])
    [result] = transcriber.transcribe([torch.zeros(10 * RATE)])
    assert result.words == words
    return result.segments


def test_segments_split_at_pauses(bundle, monkeypatch):
    words = [
        Word("one", 0.0, 0.5, 0.9), Word("two", 0.6, 1.0, 0.9),
        Word("three", 1.85, 2.0, 0.9),  # 0.85 s pause: a new segment
        Word("four", 2.7, 3.0, 0.9),  # 0.7 s pause: same segment
        Word("five", 4.0, 4.2, 0.9),  # 1.0 s pause
    ]
    segments = segments_of(bundle, monkeypatch, words)
    assert [s.text for s in segments] == ["one two", "three four", "five"]
    assert [(s.start, s.end) for s in segments] == [(0.0, 1.0), (1.85, 3.0), (4.0, 4.2)]
    assert segments[1].words == words[2:4]

    # a longer allowed pause joins them all
    assert [s.text for s in segments_of(bundle, monkeypatch, words, segment_pause_seconds=1.5)] == ["one two three four five"]


def test_segments_split_when_too_long(bundle, monkeypatch):
    words = [Word(f"w{k}", 0.9 * k, 0.9 * k + 0.6, 0.9) for k in range(10)]  # 0.3 s gaps, 8.7 s in all
    segments = segments_of(bundle, monkeypatch, words, segment_max_seconds=3.0)
    # a segment may span at most 3 s: w0 (0.0) .. w2 (ends 2.4); w3 would end at 3.3
    assert [s.text for s in segments] == ["w0 w1 w2", "w3 w4 w5", "w6 w7 w8", "w9"]
    assert all(s.end - s.start <= 3.0 for s in segments)
    assert [w for s in segments for w in s.words] == words


def test_no_words_no_segments(bundle, monkeypatch):
    assert segments_of(bundle, monkeypatch, []) == []
