"""Random requests against a live server, both gRPC APIs: only documented status codes, no traceback logged, healthy afterwards.

Hypothesis draws configs (every field, in and out of range), audio bytes (random, raw
PCM of random framing, WAV headers with random rates and channels) and whole raw
message bodies. Bounded to about half a minute so that `make test` stays fast.
"""

from __future__ import annotations

import logging
import struct

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
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def server():
    limits = Limits(max_realtime_factor=0, max_stream_seconds=5, max_chunk_bytes=8192, max_recognize_bytes=256 * 1024,
                    idle_timeout_seconds=2)
    running = ServerThread(ServerOptions(listen="127.0.0.1:0", chunking=CHUNKING, batching=BatchOptions(max_wait_ms=5), limits=limits))
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
