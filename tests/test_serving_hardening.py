"""The defects an outside probe found in the server, each kept fixed: decode bombs, idle streams, the
streaming audio metric, malformed bodies, authentication before work, the receive limit, finals of a
stream cut at its maximum duration, echoed values and the bearer scheme's case."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import struct
import time

import grpc
import numpy as np
import pytest

from serving.options import Limits, ServerOptions
from serving.session import AudioIntake, RequestError
from serving.proto import recognizer_pb2 as pb
from tests.test_serving import audio, collect, config, pcm16
from tests.test_streaming import UTTERANCES

Code = grpc.StatusCode


def wav_claiming(rate: int, data_bytes: int = 2000, channels: int = 1) -> bytes:
    """A 16-bit PCM WAV file whose header says `rate` Hz: small on the wire, however long it claims to be."""
    block = 2 * channels
    header = b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, 16)
    return header + b"data" + struct.pack("<I", data_bytes) + bytes(data_bytes)


def recognize(stub, data: bytes, metadata=None, **fields):
    request = pb.RecognizeRequest(config=pb.RecognitionConfig(**fields), audio_content=data)
    try:
        return stub.Recognize(request, metadata=metadata, timeout=30), Code.OK, ""
    except grpc.RpcError as error:
        return None, error.code(), error.details()


def streamed_seconds(server) -> float:
    text = server.running.metrics.text()
    lines = [line for line in text.splitlines() if line.startswith('asr_audio_seconds_total{method="StreamingRecognize"}')]
    return float(lines[0].split()[-1]) if lines else 0.0  # the label appears with the first stream


@pytest.mark.parametrize("rate", [1, 4_000_000])
def test_a_file_header_with_an_absurd_rate_is_refused_before_decoding(make_server, rate):
    server = make_server()
    started = time.monotonic()
    _, code, details = recognize(server.stub, wav_claiming(rate))
    assert code == Code.INVALID_ARGUMENT and f"{rate} Hz" in details
    assert time.monotonic() - started < 2.0


def test_a_file_longer_than_the_limit_is_refused_from_its_header(make_server):
    server = make_server(limits=Limits(max_realtime_factor=0, max_stream_seconds=5))
    _, code, details = recognize(server.stub, wav_claiming(8000, data_bytes=2 * 8000 * 6))  # 6 s
    assert code == Code.OUT_OF_RANGE and "5 s" in details
    _, code, _ = recognize(server.stub, wav_claiming(8000, data_bytes=2 * 8000 * 4))  # 4 s: fine
    assert code == Code.OK


def test_an_idle_stream_frees_its_slot(make_server):
    server = make_server(limits=Limits(max_realtime_factor=0, max_streams=1, idle_timeout_seconds=0.5))

    def config_then_silence():
        yield config()
        time.sleep(3)

    started = time.monotonic()
    _, code, details = collect(server.stub, config_then_silence())
    assert code == Code.OUT_OF_RANGE and "no audio arrived for 0.5 s" in details
    assert time.monotonic() - started < 2.5

    def nothing():
        time.sleep(3)
        yield config()

    _, code, details = collect(server.stub, nothing())
    assert code == Code.OUT_OF_RANGE and "no streaming_config arrived for 0.5 s" in details
    # the slot is free again: a real stream is served
    _, code, _ = collect(server.stub, [config(), *audio(pcm16(UTTERANCES))])
    assert code == Code.OK


def test_the_streaming_audio_metric_counts_each_second_once(make_server):
    server = make_server()
    before = streamed_seconds(server)
    _, code, _ = collect(server.stub, [config(), *audio(pcm16(UTTERANCES))])
    assert code == Code.OK
    assert streamed_seconds(server) - before == pytest.approx(len(UTTERANCES) / 16000, rel=0.01, abs=0.021)


def test_malformed_bodies_are_invalid_arguments_without_a_logged_traceback(make_server, caplog):
    server = make_server()
    garbage = os.urandom(64) + b"\xff\xff\xff\xff"
    recognize_raw = server.channel.unary_unary("/asr.v1.Recognizer/Recognize", request_serializer=None, response_deserializer=None)
    with caplog.at_level(logging.ERROR):
        with pytest.raises(grpc.RpcError) as error:
            recognize_raw(garbage, timeout=10)
        assert error.value.code() == Code.INVALID_ARGUMENT and "does not parse" in error.value.details()
        stream_raw = server.channel.stream_stream("/asr.v1.Recognizer/StreamingRecognize", request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as error:
            list(stream_raw(iter([garbage]), timeout=10))
        assert error.value.code() == Code.INVALID_ARGUMENT
        # a good config, then a damaged audio message
        with pytest.raises(grpc.RpcError) as error:
            list(stream_raw(iter([config().SerializeToString(), garbage]), timeout=10))
        assert error.value.code() == Code.INVALID_ARGUMENT
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


def test_authentication_comes_before_the_body_is_read_or_parsed(make_server):
    server = make_server(token="s3cret")
    started = time.monotonic()
    _, code, _ = recognize(server.stub, bytes(30 * 1024 * 1024))  # 30 MB, no token
    assert code == Code.UNAUTHENTICATED
    recognize_raw = server.channel.unary_unary("/asr.v1.Recognizer/Recognize", request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.RpcError) as error:
        recognize_raw(b"\xff\xff\xff\xff", timeout=10)
    assert error.value.code() == Code.UNAUTHENTICATED  # not the parse error: who asks comes first
    assert time.monotonic() - started < 10
    # RFC 6750: the scheme is case-insensitive
    for scheme in ("Bearer", "bearer", "BEARER"):
        _, code, _ = recognize(server.stub, wav_claiming(16000), metadata=[("authorization", f"{scheme} s3cret")])
        assert code == Code.OK, scheme
    _, code, _ = recognize(server.stub, wav_claiming(16000), metadata=[("authorization", "bearer wrong")])
    assert code == Code.UNAUTHENTICATED


def test_a_request_over_the_limit_gets_the_documented_status(make_server):
    server = make_server(limits=Limits(max_realtime_factor=0, max_recognize_bytes=1024 * 1024))
    for size in (1024 * 1024 + 10_000, 2 * 1024 * 1024):  # just over, and far over: one limit, one status
        _, code, _ = recognize(server.stub, bytes(size), encoding=pb.RecognitionConfig.LINEAR16, sample_rate_hertz=16000)
        assert code == Code.RESOURCE_EXHAUSTED, size
    _, code, _ = recognize(server.stub, bytes(512 * 1024), encoding=pb.RecognitionConfig.LINEAR16, sample_rate_hertz=16000)
    assert code == Code.OK


def test_a_stream_cut_at_its_maximum_duration_gets_the_final_of_its_open_utterance(make_server):
    server = make_server(limits=Limits(max_realtime_factor=0, max_stream_seconds=2.6))
    # the second utterance ("ab" at 2.4-2.8 s) is open when the 2.6-s limit cuts the stream
    responses, code, details = collect(server.stub, [config(interim=False), *audio(pcm16(np.concatenate([UTTERANCES, UTTERANCES])))])
    assert code == Code.OUT_OF_RANGE and "2.6 s" in details
    finals = [r.alternatives[0].transcript for response in responses for r in response.results if r.is_final]
    assert finals[0] == "ab ba" and len(finals) == 2


def test_an_overlong_value_is_not_echoed_back_whole(make_server):
    server = make_server()
    _, code, details = recognize(server.stub, wav_claiming(16000), language_code="x" * 10_000)
    assert code == Code.INVALID_ARGUMENT
    assert "10000 characters" in details and len(details) < 400


def test_the_served_process_hands_the_gil_to_its_inference_thread_within_the_switch_interval(monkeypatch):
    """Python's 5-ms interval let a busy event loop hold a forward pass up 14-fold (bench/gil_contention.py)."""
    import asyncio
    import sys

    from serving import server

    monkeypatch.setattr(server, "load_models", lambda *args: [])
    monkeypatch.setattr(asyncio, "run", lambda coroutine: coroutine.close())  # not serving: only what serve sets up
    before = sys.getswitchinterval()
    try:
        assert server.serve([], "cpu", ServerOptions(gil_switch_ms=0.5)) == 0
        assert sys.getswitchinterval() == pytest.approx(0.0005)
    finally:
        sys.setswitchinterval(before)
    with pytest.raises(ValueError, match="gil_switch_ms"):
        ServerOptions(gil_switch_ms=0)



@pytest.mark.parametrize("ending", ["oversize", "odd_bytes", "second_config", "idle", "good"])
def test_a_stream_is_freed_when_it_ends_not_by_a_later_garbage_collection(make_server, ending):
    # A failed stream's error, kept to be raised, held the traceback of the frame that kept it: a reference cycle
    # holding the whole stream (its audio, its beam search's native memory, the bad message) until the garbage
    # collector's next full pass. The service is driven directly here: gRPC holds its last calls' errors for a
    # while, which would hide the cycle.
    from asr.streaming.stream import Stream

    server = make_server(limits=Limits(max_realtime_factor=0, max_chunk_bytes=8000, idle_timeout_seconds=0.3))
    last = {"oversize": [pb.StreamingRecognizeRequest(audio_content=bytes(8002))],
            "odd_bytes": [pb.StreamingRecognizeRequest(audio_content=bytes(3))],
            "second_config": [config()], "idle": [None], "good": []}[ending]

    class Aborted(Exception):
        pass

    class Context:
        async def abort(self, code, details):
            raise Aborted(code)

    async def requests():
        for request in [config(), *audio(pcm16(UTTERANCES))[:5], *last]:
            if request is None:
                await asyncio.sleep(1)  # past the idle timeout
                return
            yield request

    async def call() -> Code:
        try:
            async for _ in server.service.StreamingRecognize(requests(), Context()):
                pass
        except Aborted as aborted:
            return aborted.args[0]
        return Code.OK

    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        code = server.call(call())
        gc.collect()
        held = sorted({type(o).__name__ for o in gc.garbage if isinstance(o, (Stream, AudioIntake, RequestError))})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert code == (Code.OK if ending == "good" else Code.OUT_OF_RANGE if ending == "idle" else Code.INVALID_ARGUMENT)
    assert held == []
