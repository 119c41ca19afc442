"""Random requests against a live server, both gRPC APIs and OpenAI's over HTTP: only documented status codes, no
traceback logged, healthy afterwards.

Hypothesis draws configs (every field, in and out of range), audio bytes (random, raw
PCM of random framing, WAV headers with random rates and channels), whole raw
message bodies, and HTTP forms whose framing, part headers and encodings may be
wrong. Bounded to about a minute so that `make test` stays fast.
"""

from __future__ import annotations

import gzip
import http.client
import json
import logging
import struct
import zlib

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serving.options import BatchOptions, Limits, ServerOptions
from serving.proto import recognizer_pb2 as pb
from tests.test_serving import CHUNKING, ServerThread

Code = grpc.StatusCode
DOCUMENTED = {Code.OK, Code.INVALID_ARGUMENT, Code.OUT_OF_RANGE, Code.RESOURCE_EXHAUSTED}
HTTP_DOCUMENTED = {200, 400, 413, 429}
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def server():
    limits = Limits(max_realtime_factor=0, max_stream_seconds=5, max_chunk_bytes=8192, max_recognize_bytes=256 * 1024,
                    idle_timeout_seconds=2)
    running = ServerThread(ServerOptions(listen="127.0.0.1:0", chunking=CHUNKING, batching=BatchOptions(max_wait_ms=5), limits=limits,
                                         http_port=0))
    yield running
    health = health_pb2_grpc.HealthStub(running.channel)
    assert health.Check(health_pb2.HealthCheckRequest(service="")).status == health_pb2.HealthCheckResponse.SERVING
    running.stop()


@pytest.fixture(autouse=True)
def no_tracebacks(caplog):
    with caplog.at_level(logging.WARNING):
        yield
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage() or "Unexpected" in r.getMessage()]


def wav(rate: int, channels: int, payload: bytes) -> bytes:
    block = 2 * max(channels, 1)
    header = b"RIFF" + struct.pack("<I", 36 + len(payload)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, rate & 0xFFFFFFFF, (rate * block) & 0xFFFFFFFF, block & 0xFFFF, 16)
    return header + b"data" + struct.pack("<I", len(payload)) + payload


int32 = st.integers(-(2**31), 2**31 - 1)
configs = st.builds(
    pb.RecognitionConfig,
    encoding=st.integers(0, 5),
    sample_rate_hertz=st.one_of(st.sampled_from([0, 8000, 16000, 44100, 48000]), int32),
    audio_channel_count=st.one_of(st.integers(0, 3), int32),
    language_code=st.one_of(st.sampled_from(["", "de", "de-DE", "xx"]), st.text(max_size=300)),
    model=st.one_of(st.just(""), st.just("tone"), st.text(max_size=50)),
    max_alternatives=st.one_of(st.integers(0, 3), int32),
    enable_word_time_offsets=st.booleans(),
    speech_contexts=st.lists(st.builds(pb.SpeechContext, phrases=st.lists(st.text(max_size=20), max_size=3),
                                       boost=st.floats(-100, 100, allow_nan=False)), max_size=2),
)
audio_bytes = st.one_of(
    st.binary(max_size=4096),
    st.builds(wav, st.one_of(st.sampled_from([1, 8000, 16000, 4_000_000]), st.integers(0, 2**32 - 1)), st.integers(0, 300), st.binary(max_size=4096)),
)


@FUZZ
@given(config=configs, data=audio_bytes)
def test_recognize_answers_random_requests_with_documented_codes(server, config, data):
    try:
        server.stub.Recognize(pb.RecognizeRequest(config=config, audio_content=data), timeout=20)
    except grpc.RpcError as error:
        assert error.code() in DOCUMENTED, (error.code(), error.details())


@FUZZ
@given(
    config=st.one_of(configs, st.builds(pb.RecognitionConfig, encoding=st.just(1), sample_rate_hertz=st.sampled_from([8000, 16000]))),
    interim=st.booleans(),
    single=st.booleans(),
    config_first=st.booleans(),
    pieces=st.lists(st.binary(max_size=9000), max_size=6),
    extra_config=st.booleans(),
)
def test_streams_of_random_messages_end_with_documented_codes(server, config, interim, single, config_first, pieces, extra_config):
    streaming = pb.StreamingRecognitionConfig(config=config, interim_results=interim, single_utterance=single)
    requests = [pb.StreamingRecognizeRequest(audio_content=p) for p in pieces]
    if config_first:
        requests.insert(0, pb.StreamingRecognizeRequest(streaming_config=streaming))
    if extra_config:
        requests.append(pb.StreamingRecognizeRequest(streaming_config=streaming))
    try:
        list(server.stub.StreamingRecognize(iter(requests), timeout=20))
    except grpc.RpcError as error:
        assert error.code() in DOCUMENTED, (error.code(), error.details())


@FUZZ
@given(bodies=st.lists(st.binary(max_size=512), min_size=1, max_size=3), unary=st.booleans(),
       service=st.sampled_from(["/asr.v1.Recognizer/", "/google.cloud.speech.v1.Speech/"]))
def test_raw_bodies_that_may_not_parse_end_with_documented_codes(server, bodies, unary, service):
    try:
        if unary:
            server.channel.unary_unary(service + "Recognize")(bodies[0], timeout=20)
        else:
            list(server.channel.stream_stream(service + "StreamingRecognize")(iter(bodies), timeout=20))
    except grpc.RpcError as error:
        assert error.code() in DOCUMENTED, (error.code(), error.details())


FORM_FIELDS = ["file", "model", "language", "response_format", "timestamp_granularities[]", "prompt", "temperature", "_charset_"]
PART_HEADERS = st.sampled_from([
    "Content-Type: audio/wav", "Content-Type: text/plain; charset=x-bogus", "Content-Type: multipart/mixed; boundary=inner",
    "Content-Transfer-Encoding: base64", "Content-Transfer-Encoding: quoted-printable", "Content-Transfer-Encoding: x-bogus",
    "Content-Encoding: gzip", "Content-Encoding: deflate", "X-Broken header", ""])
form_parts = st.lists(st.tuples(
    st.one_of(st.sampled_from(FORM_FIELDS), st.text(max_size=20)),
    st.one_of(audio_bytes, st.sampled_from([b"tone", b"de", b"whisper-1", b"verbose_json", b"srt", b"word", b"segment"]),
              st.binary(max_size=64)),
    st.one_of(st.none(), st.sampled_from(["a.wav", ""]), st.text(max_size=20)),
    PART_HEADERS,
), max_size=5)


def multipart(parts, boundary: str) -> bytes:
    body = b""
    for name, value, filename, header in parts:
        disposition = f'form-data; name="{name}"' + ("" if filename is None else f'; filename="{filename}"')
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n{header}\r\n\r\n".encode(errors="replace")
        body += value + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


@FUZZ
@given(parts=form_parts, content_type=st.sampled_from(["multipart", "no boundary", "other boundary", "urlencoded", "json", None]),
       cut=st.one_of(st.none(), st.integers(0, 2000)), body_encoding=st.sampled_from([None, "gzip", "deflate", "gzip, not"]),
       raw=st.one_of(st.none(), st.binary(max_size=512)))
def test_openai_http_answers_random_forms_with_documented_statuses(server, parts, content_type, cut, body_encoding, raw):
    body = raw if raw is not None else multipart(parts, "XyZ")[:cut]
    headers = {"Content-Type": {"multipart": "multipart/form-data; boundary=XyZ", "no boundary": "multipart/form-data",
                                "other boundary": "multipart/form-data; boundary=other", "json": "application/json",
                                "urlencoded": "application/x-www-form-urlencoded", None: ""}[content_type]}
    if body_encoding:  # the whole body compressed, or said to be and not
        headers["Content-Encoding"] = body_encoding.split(",")[0]
        body = body if body_encoding.endswith("not") else gzip.compress(body) if body_encoding == "gzip" else zlib.compress(body)
    connection = http.client.HTTPConnection("127.0.0.1", server.running.http_port, timeout=20)
    try:
        connection.request("POST", "/v1/audio/transcriptions", body=body, headers=headers)
        response = connection.getresponse()
        assert response.status in HTTP_DOCUMENTED, (response.status, response.read()[:300])
        if response.status != 200:
            assert "error" in json.loads(response.read())  # OpenAI's error shape, which its clients read
    finally:
        connection.close()
