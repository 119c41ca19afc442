"""OpenAI's transcription API, served by `asr serve --http-port`, driven by the official `openai` client."""

from __future__ import annotations

import json
import urllib.request

import pytest
import soundfile

from asr.audio import load_audio
from serving.options import Limits
from tests.test_streaming import UTTERANCES

openai = pytest.importorskip("openai", reason="the official client: pip install openai")


@pytest.fixture
def speech_file(tmp_path):
    path = tmp_path / "speech.wav"
    soundfile.write(str(path), UTTERANCES, 16000, subtype="PCM_16")
    return path


def client(server, key: str = "anything") -> "openai.OpenAI":
    return openai.OpenAI(base_url=f"http://127.0.0.1:{server.running.http_port}/v1", api_key=key, max_retries=0)


def test_every_response_format_gives_asr_transcribes_transcript(make_server, speech_file):
    server = make_server(http_port=0)
    expected = server.transcriber.transcribe([load_audio(speech_file)])[0]
    api = client(server)
    with open(speech_file, "rb") as f:
        assert api.audio.transcriptions.create(model="whisper-1", file=f).text == expected.text
    with open(speech_file, "rb") as f:
        assert api.audio.transcriptions.create(model="de", file=f, response_format="text").strip() == expected.text
    with open(speech_file, "rb") as f:
        srt = api.audio.transcriptions.create(model="tone", file=f, response_format="srt")
    assert srt.startswith("1\n00:00:00,300 --> ") and expected.segments[0].text in srt
    with open(speech_file, "rb") as f:
        vtt = api.audio.transcriptions.create(model="tone", file=f, response_format="vtt")
    assert vtt.startswith("WEBVTT") and expected.segments[0].text in vtt
    with open(speech_file, "rb") as f:
        verbose = api.audio.transcriptions.create(model="tone", file=f, language="de", response_format="verbose_json",
                                                  timestamp_granularities=["word", "segment"], prompt="ab", temperature=0.0)
    assert verbose.text == expected.text and verbose.language == "de"
    assert verbose.duration == pytest.approx(len(UTTERANCES) / 16000, abs=1e-3)
    assert [w.word for w in verbose.words] == [w.word for w in expected.words]
    assert verbose.words[0].start == pytest.approx(expected.words[0].start, abs=1e-3)
    assert [s.text for s in verbose.segments] == [s.text for s in expected.segments]
    assert [m.id for m in api.models.list().data] == ["tone"]


def test_limits_and_bad_input_reach_the_client_as_its_own_errors(make_server, speech_file, tmp_path):
    server = make_server(http_port=0, token="s3cret", limits=Limits(max_realtime_factor=0, max_recognize_bytes=200_000))
    with open(speech_file, "rb") as f, pytest.raises(openai.AuthenticationError):
        client(server, "wrong").audio.transcriptions.create(model="whisper-1", file=f)
    api = client(server, "s3cret")
    (tmp_path / "noise.wav").write_bytes(b"RIFF not really a wave file")
    with open(tmp_path / "noise.wav", "rb") as f, pytest.raises(openai.BadRequestError) as error:
        api.audio.transcriptions.create(model="whisper-1", file=f)
    assert "cannot decode" in error.value.message
    with open(speech_file, "rb") as f, pytest.raises(openai.BadRequestError) as error:
        api.audio.transcriptions.create(model="whisper-1", file=f, language="fr")
    assert "fr" in error.value.message and error.value.param == "language"  # OpenAI's errors name the field
    soundfile.write(str(tmp_path / "long.wav"), UTTERANCES.repeat(4), 16000, subtype="PCM_16")  # 370 kB
    with open(tmp_path / "long.wav", "rb") as f, pytest.raises(openai.APIStatusError) as error:
        api.audio.transcriptions.create(model="whisper-1", file=f)
    assert error.value.status_code == 413 and error.value.body["code"] == "file_too_large"
    # still healthy, and still serving
    health = urllib.request.urlopen(f"http://127.0.0.1:{server.running.http_port}/healthz", timeout=10)
    assert health.status == 200 and json.loads(health.read())["status"] == "ok"
    with open(speech_file, "rb") as f:
        assert api.audio.transcriptions.create(model="whisper-1", file=f).text


def test_whole_files_beyond_the_servers_limit_are_refused_at_once_while_the_admitted_ones_wait(make_server, speech_file):
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from serving.proto import recognizer_pb2 as pb
    from tests.test_serving_hardening import recognize

    server = make_server(http_port=0, limits=Limits(max_realtime_factor=0, max_file_requests=1))
    gate = threading.Event()
    server.service.recognize_executor.submit(gate.wait)  # the thread that transcribes files is busy
    linear16 = {"encoding": pb.RecognitionConfig.LINEAR16, "sample_rate_hertz": 16000}
    waiting = ThreadPoolExecutor(1).submit(recognize, server.stub, speech_file.read_bytes()[44:], **linear16)
    deadline = time.monotonic() + 10
    while server.service.active_files < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    _, code, message = recognize(server.stub, speech_file.read_bytes()[44:], **linear16)
    assert code.name == "RESOURCE_EXHAUSTED" and "maximum of 1 files" in message
    with open(speech_file, "rb") as f, pytest.raises(openai.RateLimitError) as error:
        client(server).audio.transcriptions.create(model="whisper-1", file=f)
    assert "maximum of 1 files" in error.value.message
    gate.set()
    response, code, _ = waiting.result(timeout=30)
    assert code.name == "OK" and response.results  # the admitted one was served
    with open(speech_file, "rb") as f:  # and the slot is free again
        assert client(server).audio.transcriptions.create(model="whisper-1", file=f).text


def test_malformed_forms_are_the_clients_error_and_leave_no_traceback(make_server, speech_file, caplog):
    import http.client
    import logging
    import time

    server = make_server(http_port=0)
    audio = speech_file.read_bytes()

    def form(*parts: tuple[str, bytes, str]) -> bytes:  # (name, value, extra part header lines)
        body = b"".join(b'--B\r\nContent-Disposition: form-data; name="%s"%s\r\n\r\n%s\r\n' % (n.encode(), h.encode(), v)
                        for n, v, h in parts)
        return body + b"--B--\r\n"

    whole = form(("file", audio, '; filename="a.wav"'))
    cases = {  # what is wrong: (body, request headers, words of the error message)
        "no boundary": (whole, {"Content-Type": "multipart/form-data"}, "not a form"),
        "cut short": (whole[:300], {}, "not a form"),
        "unknown transfer encoding": (form(("file", audio, '; filename="a.wav"\r\nContent-Transfer-Encoding: x-bogus')), {}, "not a form"),
        "not the gzip it says": (whole, {"Content-Encoding": "gzip"}, "not a form"),
        "field not UTF-8": (form(("file", audio, '; filename="a.wav"'), ("model", b"\xff\xfe", "")), {}, "not a form"),
        "model sent as a file": (form(("file", audio, '; filename="a.wav"'), ("model", b"tone", '; filename="m"')), {}, "'model' part must be text"),
    }
    with caplog.at_level(logging.WARNING):
        for what, (body, headers, words) in cases.items():
            connection = http.client.HTTPConnection("127.0.0.1", server.running.http_port, timeout=20)
            connection.request("POST", "/v1/audio/transcriptions", body=body,
                               headers={"Content-Type": "multipart/form-data; boundary=B", **headers})
            response = connection.getresponse()
            error = json.loads(response.read())["error"]
            assert response.status == 400 and words in error["message"], (what, error)
            assert error["param"] == ("model" if what == "model sent as a file" else None), (what, error)
            time.sleep(0.2)  # the connection held open: a body left unread is drained (and was logged as unhandled) now
            connection.close()
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
    with open(speech_file, "rb") as f:  # and it goes on serving
        assert client(server).audio.transcriptions.create(model="whisper-1", file=f).text


def test_an_upload_that_stops_arriving_gives_its_file_slot_back(make_server, speech_file):
    import socket
    import time

    server = make_server(http_port=0, limits=Limits(max_realtime_factor=0, max_file_requests=1, idle_timeout_seconds=0.5))
    slow = socket.create_connection(("127.0.0.1", server.running.http_port), timeout=20)
    slow.sendall(b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\n"
                 b"Content-Length: 100000\r\n\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\n")
    deadline = time.monotonic() + 10
    while server.service.active_files < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    with open(speech_file, "rb") as f, pytest.raises(openai.RateLimitError):  # the slow upload holds the one slot
        client(server).audio.transcriptions.create(model="whisper-1", file=f)
    answer = slow.recv(65536).decode()  # within twice the idle timeout of the last byte
    assert answer.startswith("HTTP/1.1 408") and "idle timeout" in answer
    assert slow.recv(65536) == b""  # and the connection is closed
    with open(speech_file, "rb") as f:  # the slot is free again
        assert client(server).audio.transcriptions.create(model="whisper-1", file=f).text
