"""google.cloud.speech.v1.Speech, served beside asr.v1.Recognizer, driven by Google's own client library.

The client runs in a subprocess (tests/google_speech_client.py): the official package and the
server's generated modules define the same protobuf symbols and cannot share a process.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
import soundfile

from asr.audio import load_audio
from serving.options import Limits
from tests.test_serving import ROOT
from tests.test_streaming import EXPECTED_WORDS, UTTERANCES

# Looked up, not imported: importing it here would clash with the server's generated modules.
if importlib.util.find_spec("google.cloud.speech_v1") is None:
    pytest.skip("the official client is not installed: pip install google-cloud-speech", allow_module_level=True)


def official_client(address: str, audio, token: str | None = None) -> dict:
    command = [sys.executable, str(ROOT / "tests" / "google_speech_client.py"), address, str(audio), *([token] if token else [])]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_googles_client_recognizes_streams_and_gets_googles_errors(make_server, tmp_path):
    audio = tmp_path / "speech.wav"
    soundfile.write(str(audio), UTTERANCES, 16000, subtype="PCM_16")
    server = make_server(limits=Limits(max_realtime_factor=0, max_recognize_bytes=2 * 1024 * 1024))
    result = official_client(server.address, audio)

    # Recognize: the same transcript as asr.v1 (and `asr transcribe`) for the same audio and decoding
    expected = [t.text for t in server.transcriber.transcribe([load_audio(audio)])]
    recognize = result["recognize"]
    assert " ".join(recognize["transcripts"]) == expected[0] and expected[0].startswith("ab ba")
    first = recognize["words"][0][0]
    assert first[0] == "ab" and first[1] == pytest.approx(0.3, abs=0.03) and 0 < first[3] <= 1
    assert recognize["billed"] == pytest.approx(len(UTTERANCES) / 16000, abs=1e-3)

    # StreamingRecognize: interim results, then the finals with word times
    results = result["streaming"]["results"]
    assert any(not final for final, *_ in results)
    finals = [(transcript, words) for final, transcript, _, words in results if final]
    assert [t for t, _ in finals] == [" ".join(w for w, *_ in u) for u in EXPECTED_WORDS]
    for (_, words), expected_words in zip(finals, EXPECTED_WORDS):
        for (word, start, end, confidence), (want, want_start, want_end) in zip(words, expected_words):
            assert word == want and start == pytest.approx(want_start, abs=0.03) and end == pytest.approx(want_end, abs=0.03)
            assert confidence == 0.0  # enable_word_confidence was not asked for

    # single_utterance: the first utterance, END_OF_SINGLE_UTTERANCE, and no more
    single = result["single_utterance"]
    assert "END_OF_SINGLE_UTTERANCE" in single["events"]
    assert [t for final, t, *_ in single["results"] if final] == ["ab ba"]

    assert result["bad_rate"]["error"] == "InvalidArgument" and "sample_rate_hertz 1" in result["bad_rate"]["message"]
    assert result["long_running"]["error"] == "MethodNotImplemented" and "StreamingRecognize" in result["long_running"]["message"]
    assert result["unknown_language"]["error"] == "InvalidArgument" and "fr-FR" in result["unknown_language"]["message"]
    assert result["too_large"]["error"] == "ResourceExhausted"
    assert official_client(server.address, audio)["recognize"]["transcripts"]  # and the server goes on


def test_googles_client_is_refused_without_the_token_and_served_with_it(make_server, tmp_path):
    audio = tmp_path / "speech.wav"
    soundfile.write(str(audio), UTTERANCES, 16000, subtype="PCM_16")
    server = make_server(limits=Limits(max_realtime_factor=0), token="s3cret")
    assert official_client(server.address, audio)["recognize"]["error"] == "Unauthenticated"
    assert official_client(server.address, audio, token="s3cret")["recognize"]["transcripts"][0].startswith("ab ba")
