"""The gRPC service over loopback: results, limits and errors with their status codes, batching, operations, drain.

Most tests serve the tone model (tests/test_streaming.py), whose words a test
can predict, in this process; the end-to-end test runs `asr serve` with a
real (tiny) WhisperCTC in a subprocess and drains it with SIGTERM.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import pytest
import soundfile
import torch
from google.protobuf import descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from asr.checkpoint import save_checkpoint
from asr.cli import main
from asr.streaming.options import ChunkingOptions, EndpointOptions
from asr.transcribe import Transcriber
from serving.audio import StreamResampler, decode_mulaw
from serving.options import BatchOptions, Limits, ServerOptions
from serving.proto import generate
from serving.proto import recognizer_pb2 as pb
from serving.proto import recognizer_pb2_grpc as pb_grpc
from asr.decoding import DecodeOptions
from asr.lm.boosting import Boost
from serving.server import start_server
from tests.test_streaming import EXPECTED_WORDS, UTTERANCES, VOCABULARY, speech, tone_bundle
from tests.tiny import tiny_bundle

ROOT = Path(__file__).resolve().parents[1]
CHUNKING = ChunkingOptions(chunk_ms=160, left_context_ms=640, lookahead_ms=80)
UNLIMITED = Limits(max_realtime_factor=0)
Code = grpc.StatusCode


class ServerThread:
    """An in-process server on its own event-loop thread, for plain synchronous gRPC clients."""

    def __init__(self, options: ServerOptions, bundle=None, decoding: DecodeOptions = DecodeOptions()):
        # fp32: the tone model's outputs have near-ties that bf16's rounding would make a coin toss.
        self.transcriber = Transcriber(bundle or tone_bundle(), device="cpu", decoding=decoding, precision="fp32")
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.running = self.call(start_server([("tone", self.transcriber)], options))
        self.address = f"127.0.0.1:{self.running.port}"
        self.channel = grpc.insecure_channel(self.address)
        self.stub = pb_grpc.RecognizerStub(self.channel)

    def call(self, coroutine, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    @property
    def service(self):
        return self.running.service

    @property
    def forward_calls(self) -> int:
        return self.running.batchers[0].forward_calls

    def stop(self) -> None:
        self.channel.close()
        self.call(self.running.stop(0.5))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def server():
    running = ServerThread(ServerOptions(listen="127.0.0.1:0", chunking=CHUNKING, batching=BatchOptions(max_wait_ms=5), limits=UNLIMITED))
    yield running
    running.stop()


# --- requests and responses ----------------------------------------------------------------


def config(encoding=pb.RecognitionConfig.LINEAR16, rate=16000, channels=1, interim=True, words=True, **fields) -> pb.StreamingRecognizeRequest:
    endpointing = fields.pop("endpointing", None)
    single = fields.pop("single_utterance", False)
    recognition = pb.RecognitionConfig(encoding=encoding, sample_rate_hertz=rate, audio_channel_count=channels, enable_word_time_offsets=words, **fields)
    streaming = pb.StreamingRecognitionConfig(config=recognition, interim_results=interim, single_utterance=single, endpointing=endpointing)
    return pb.StreamingRecognizeRequest(streaming_config=streaming)


def pcm16(wave: np.ndarray) -> bytes:
    return (np.clip(wave, -1, 1) * 32767).round().astype("<i2").tobytes()


def mulaw(wave: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, wave, rate, format="RAW", subtype="ULAW")
    return buffer.getvalue()


def audio(data: bytes, piece: int = 3200) -> list[pb.StreamingRecognizeRequest]:
    return [pb.StreamingRecognizeRequest(audio_content=data[i : i + piece]) for i in range(0, len(data), piece)]


def collect(stub, requests, **kwargs) -> tuple[list[pb.StreamingRecognizeResponse], Code, str]:
    responses = []
    try:
        for response in stub.StreamingRecognize(iter(requests), **kwargs):
            responses.append(response)
    except grpc.RpcError as error:
        return responses, error.code(), error.details()
    return responses, Code.OK, ""


def finals(responses) -> list[pb.StreamingRecognitionResult]:
    return [r for response in responses for r in response.results if r.is_final]


def seconds(duration) -> float:
    return duration.ToTimedelta().total_seconds()


def assert_expected_words(results) -> None:
    assert [r.alternatives[0].transcript for r in results] == [" ".join(w for w, _, _ in ws) for ws in EXPECTED_WORDS]
    for result, expected in zip(results, EXPECTED_WORDS):
        for word, (text, start, end) in zip(result.alternatives[0].words, expected):
            assert word.word == text
            assert seconds(word.start_time) == pytest.approx(start, abs=0.03)
            assert seconds(word.end_time) == pytest.approx(end, abs=0.03)
            assert 0 < word.confidence <= 1


# --- protocol ----------------------------------------------------------------------------


def test_stubs_are_current(tmp_path):
    generated = generate.generate(tmp_path)
    for path in generated:
        committed = ROOT / "serving" / "proto" / path.name
        assert path.read_text() == committed.read_text(), f"{committed} is stale: run `make protos`"


def test_resampling_piece_by_piece_equals_resampling_whole():
    from asr.audio import resample

    rng = np.random.default_rng(0)
    for rate in (8000, 22050, 44100, 48000, 47999):  # 47,999 Hz: a ratio without small terms (asr.audio.resampling_ratio)
        wave = rng.normal(0, 0.1, rate * 2).astype(np.float32)
        resampler = StreamResampler(rate, 16000)
        cuts = np.sort(rng.integers(0, len(wave), 30))
        pieces = [resampler.push(p) for p in np.split(wave, cuts)] + [resampler.flush()]
        torch.testing.assert_close(torch.cat(pieces), resample(torch.from_numpy(wave), rate, 16000), atol=1e-6, rtol=0)


def test_mulaw_decoding_matches_libsndfile():
    every_byte = bytes(range(256))
    expected, _ = soundfile.read(io.BytesIO(every_byte), samplerate=8000, channels=1, format="RAW", subtype="ULAW", dtype="float32")
    np.testing.assert_allclose(decode_mulaw(every_byte, 1), expected, atol=1e-7)


# --- results ----------------------------------------------------------------------------


def test_interim_then_final_results_with_word_offsets_and_endpointing(server):
    responses, code, _ = collect(server.stub, [config()] + audio(pcm16(UTTERANCES)))
    assert code == Code.OK
    results = [r for response in responses for r in response.results]
    # Interim results grow word by word before the first final.
    first_final = next(i for i, r in enumerate(results) if r.is_final)
    interims = [r.alternatives[0].transcript for r in results[:first_final]]
    assert "ab" in interims and interims[-1] == "ab ba"
    assert all(0 <= r.stability <= 1 for r in results[:first_final])
    assert any(r.stability == 0.5 for r in results[:first_final])  # "ab" closed by the word break, "ba" still open
    # Finals: the pause ends the first utterance, the end of the audio the second; times from the stream start.
    assert_expected_words(finals(responses))
    endpoint = next(r for r in responses if r.speech_event_type == pb.StreamingRecognizeResponse.END_OF_UTTERANCE)
    assert seconds(endpoint.speech_event_time) == pytest.approx(2.0, abs=0.05)
    assert all(f.alternatives[0].confidence > 0 for f in finals(responses))
    # One response per decoded chunk, each saying how far decoding got.
    processed = [seconds(r.audio_processed) for r in responses]
    assert processed == sorted(processed) and processed[-1] == pytest.approx(len(UTTERANCES) / 16000)


def test_mulaw_at_8khz_stereo_gives_the_same_words(server):
    wave = speech((None, 0.3), ("a", 0.2), ("b", 0.2), ("|", 0.1), ("b", 0.2), ("a", 0.2), (None, 1.2), ("a", 0.2), ("b", 0.2), (None, 0.1), rate=8000)
    stereo = np.stack([wave, wave], axis=1)
    responses, code, _ = collect(server.stub, [config(pb.RecognitionConfig.MULAW, rate=8000, channels=2)] + audio(mulaw(stereo, 8000), 1600))
    assert code == Code.OK
    assert_expected_words(finals(responses))


def test_without_interim_results_only_finals_come(server):
    responses, code, _ = collect(server.stub, [config(interim=False, words=False)] + audio(pcm16(UTTERANCES)))
    assert code == Code.OK
    assert [[r.is_final for r in response.results] for response in responses] == [[True], [True]]
    assert [f.alternatives[0].transcript for f in finals(responses)] == ["ab ba", "ab"]
    assert not finals(responses)[0].alternatives[0].words


def test_single_utterance_ends_the_stream_after_the_first(server):
    responses, code, _ = collect(server.stub, [config(single_utterance=True)] + audio(pcm16(UTTERANCES)))
    assert code == Code.OK
    assert responses[-1].speech_event_type == pb.StreamingRecognizeResponse.END_OF_SINGLE_UTTERANCE
    assert [f.alternatives[0].transcript for f in finals(responses)] == ["ab ba"]


def test_endpointing_config_per_stream(server):
    # A pause longer than the stream's stop_history does not end the utterance; -1 turns endpointing off.
    for history in (1500, -1):
        endpointing = pb.EndpointingConfig(stop_history_ms=history)
        responses, _, _ = collect(server.stub, [config(interim=False, endpointing=endpointing)] + audio(pcm16(UTTERANCES)))
        assert [f.alternatives[0].transcript for f in finals(responses)] == ["ab baab"]


def test_the_servers_longest_utterance_cuts_a_stream_whose_client_turned_endpointing_off(make_server):
    server = make_server(endpointing=EndpointOptions(max_utterance_ms=600))
    # "ab ba", a pause, "ab": no pause ends an utterance, the limit cuts after each word.
    responses, code, _ = collect(server.stub, [config(interim=False, endpointing=pb.EndpointingConfig(stop_history_ms=-1))] + audio(pcm16(UTTERANCES)))
    assert code == Code.OK
    assert [f.alternatives[0].transcript for f in finals(responses)] == ["ab", "ba", "ab"]


def test_recognize_files_and_raw_audio(server):
    wave = speech((None, 0.3), ("a", 0.2), ("b", 0.2), ("|", 0.1), ("b", 0.2), ("a", 0.2), (None, 0.3), rate=44100)
    for fmt in ("WAV", "FLAC", "OGG"):
        buffer = io.BytesIO()
        soundfile.write(buffer, np.stack([wave, wave], axis=1), 44100, format=fmt)
        response = server.stub.Recognize(pb.RecognizeRequest(config=pb.RecognitionConfig(enable_word_time_offsets=True), audio_content=buffer.getvalue()))
        assert [r.alternatives[0].transcript for r in response.results] == ["ab ba"], fmt
        assert seconds(response.results[0].alternatives[0].words[0].start_time) == pytest.approx(0.3, abs=0.03)
        assert seconds(response.total_audio_duration) == pytest.approx(len(wave) / 44100, abs=1e-3)
    raw = pb.RecognitionConfig(encoding=pb.RecognitionConfig.LINEAR16, sample_rate_hertz=44100)
    response = server.stub.Recognize(pb.RecognizeRequest(config=raw, audio_content=pcm16(wave)))
    assert response.results[0].alternatives[0].transcript == "ab ba"


def test_list_models(server):
    response = server.stub.ListModels(pb.ListModelsRequest())
    (model,) = response.models
    assert (model.name, model.language_code, model.sample_rate_hertz) == ("tone", "de", 16000)
    assert seconds(model.chunk) == 0.16 and seconds(model.lookahead) == 0.08
    assert response.limits.max_streams == UNLIMITED.max_streams


# --- errors and limits ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "requests, code, message",
    [
        ([pb.StreamingRecognizeRequest(audio_content=b"\0\0")], Code.INVALID_ARGUMENT, "first message must hold streaming_config"),
        ([], Code.INVALID_ARGUMENT, "ended before its first message"),
        ([config(encoding=pb.RecognitionConfig.ENCODING_UNSPECIFIED)], Code.INVALID_ARGUMENT, "encoding must be set"),
        ([config(encoding=7)], Code.INVALID_ARGUMENT, "encoding 7 is not supported"),
        ([config(rate=4000)], Code.INVALID_ARGUMENT, "8000 to 48000"),
        ([config(channels=9)], Code.INVALID_ARGUMENT, "audio_channel_count"),
        ([config(language_code="fr-FR")], Code.INVALID_ARGUMENT, "recognises 'de'"),
        ([config(model="nope")], Code.INVALID_ARGUMENT, "available: tone"),
        ([config(max_alternatives=31)], Code.INVALID_ARGUMENT, "max_alternatives"),
        ([config(endpointing=pb.EndpointingConfig(stop_threshold=2))], Code.INVALID_ARGUMENT, "stop_threshold"),
        ([config(), config()], Code.INVALID_ARGUMENT, "only the first message may hold streaming_config"),
        ([config(), pb.StreamingRecognizeRequest(audio_content=b"\0\0\0")], Code.INVALID_ARGUMENT, "not a whole number of samples"),
    ],
)
def test_bad_requests_get_invalid_argument(server, requests, code, message):
    _, got, details = collect(server.stub, requests)
    assert got == code
    assert message in details


def test_language_with_region_is_accepted(server):
    _, code, _ = collect(server.stub, [config(language_code="de-AT")] + audio(pcm16(UTTERANCES[:8000])))
    assert code == Code.OK


def test_limits(make_server):
    limited = make_server(Limits(max_chunk_bytes=8000, max_stream_seconds=1.0, max_realtime_factor=0))
    _, code, details = collect(limited.stub, [config(), pb.StreamingRecognizeRequest(audio_content=bytes(8002))])
    assert code == Code.INVALID_ARGUMENT and "larger than this server's limit of 8000" in details
    _, code, details = collect(limited.stub, [config()] + audio(pcm16(np.zeros(24000, np.float32))))
    assert code == Code.OUT_OF_RANGE and "maximum of 1 s" in details
    paced = make_server(Limits(max_realtime_factor=1.0, realtime_burst_seconds=0.5))
    _, code, details = collect(paced.stub, [config()] + audio(pcm16(np.zeros(32000, np.float32))))
    assert code == Code.OUT_OF_RANGE and "too fast" in details
    assert paced.running.metrics.errors.labels("StreamingRecognize", "OUT_OF_RANGE")._value.get() == 1
    big = pb.RecognizeRequest(config=pb.RecognitionConfig(encoding=pb.RecognitionConfig.LINEAR16, sample_rate_hertz=16000), audio_content=bytes(40000))
    with pytest.raises(grpc.RpcError) as error:
        limited.stub.Recognize(big)
    assert error.value.code() == Code.OUT_OF_RANGE
    with pytest.raises(grpc.RpcError) as error:
        limited.stub.Recognize(pb.RecognizeRequest(audio_content=b"RIFF, but not a wave file"))
    assert error.value.code() == Code.INVALID_ARGUMENT and "audio_content: cannot decode audio" in error.value.details()


def held_stream(stub, release: threading.Event, **kwargs):
    """A stream that sends its config and a little audio, then waits for `release` before ending."""

    def requests():
        yield config()
        yield pb.StreamingRecognizeRequest(audio_content=pcm16(np.zeros(8000, np.float32)))
        release.wait(30)

    return stub.StreamingRecognize(requests(), **kwargs)


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_more_streams_than_the_maximum_are_refused(make_server):
    server = make_server(Limits(max_streams=2, max_realtime_factor=0))
    release = threading.Event()
    calls = [held_stream(server.stub, release) for _ in range(2)]
    wait_for(lambda: server.service.active_streams == 2)
    _, code, details = collect(server.stub, [config()])
    assert code == Code.RESOURCE_EXHAUSTED and "maximum of 2 concurrent streams" in details
    release.set()
    for call in calls:
        assert list(call) is not None
    wait_for(lambda: server.service.active_streams == 0)


def test_cancellation_and_deadlines_free_the_stream(make_server):
    server = make_server()
    release = threading.Event()
    call = held_stream(server.stub, release)
    next(iter(call))  # the server is decoding this stream
    assert server.service.active_streams == 1
    call.cancel()
    wait_for(lambda: server.service.active_streams == 0)
    _, code, _ = collect(server.stub, [config()] + [pb.StreamingRecognizeRequest(audio_content=bytes(320))] * 2, timeout=30)
    assert code == Code.OK
    late = held_stream(server.stub, release, timeout=0.5)
    with pytest.raises(grpc.RpcError) as error:
        list(late)
    assert error.value.code() == Code.DEADLINE_EXCEEDED
    wait_for(lambda: server.service.active_streams == 0)
    assert server.running.metrics.active_streams._value.get() == 0
    assert server.running.batchers[0]._queue.empty()
    release.set()


class BrokenModel(torch.nn.Module):
    """Passes the server's warm-up; fails every forward pass once `broken` is set."""

    broken = False

    def forward(self, features, feature_lengths):
        if self.broken:
            raise RuntimeError("CUDA out of memory (pretend)")
        return torch.zeros(features.shape[0], (features.shape[-1] + 1) // 2, len(VOCABULARY)), (feature_lengths + 1) // 2

    @staticmethod
    def seconds_per_output_frame(seconds_per_feature_frame: float) -> float:
        return 2 * seconds_per_feature_frame


def test_a_failed_forward_pass_ends_its_streams_with_internal_and_the_server_goes_on(make_server):
    bundle = tone_bundle()
    bundle.model = BrokenModel()
    server = make_server(bundle=bundle)
    bundle.model.broken = True
    _, code, details = collect(server.stub, [config()] + audio(pcm16(UTTERANCES)))
    assert code == Code.INTERNAL and "CUDA out of memory (pretend)" in details
    assert server.stub.ListModels(pb.ListModelsRequest()).models[0].name == "tone"
    assert server.service.active_streams == 0


def test_token_authentication(make_server):
    server = make_server(token="s3cret")
    with pytest.raises(grpc.RpcError) as error:
        server.stub.ListModels(pb.ListModelsRequest())
    assert error.value.code() == Code.UNAUTHENTICATED and "authorization: Bearer" in error.value.details()
    with pytest.raises(grpc.RpcError) as error:
        server.stub.ListModels(pb.ListModelsRequest(), metadata=[("authorization", "Bearer wrong")])
    assert error.value.code() == Code.UNAUTHENTICATED and "not valid" in error.value.details()
    _, code, _ = collect(server.stub, [config()])
    assert code == Code.UNAUTHENTICATED
    responses, code, _ = collect(server.stub, [config()] + audio(pcm16(UTTERANCES)), metadata=[("authorization", "Bearer s3cret")])
    assert code == Code.OK and len(finals(responses)) == 2
    health = health_pb2_grpc.HealthStub(server.channel).Check(health_pb2.HealthCheckRequest(service="asr.v1.Recognizer"))
    assert health.status == health_pb2.HealthCheckResponse.SERVING  # probes need no token


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make a certificate")
def test_tls(make_server, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server = make_server(tls_cert=cert, tls_key=key)
    with grpc.secure_channel(f"localhost:{server.running.port}", grpc.ssl_channel_credentials(cert.read_bytes())) as channel:
        response = pb_grpc.RecognizerStub(channel).ListModels(pb.ListModelsRequest(), timeout=10)
    assert response.models[0].name == "tone"
    with pytest.raises(grpc.RpcError):  # plaintext to a TLS port
        server.stub.ListModels(pb.ListModelsRequest(), timeout=2)


# --- batching ---------------------------------------------------------------------------------


def test_streams_share_forward_passes(make_server):
    streams = 6
    wave = pcm16(UTTERANCES)

    def run_all(server) -> list[list[str]]:
        results = [None] * streams

        def one(i: int) -> None:
            responses, code, _ = collect(server.stub, [config(interim=False)] + audio(wave))
            assert code == Code.OK
            results[i] = [f.alternatives[0].transcript for f in finals(responses)]

        threads = [threading.Thread(target=one, args=(i,)) for i in range(streams)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        return results

    alone = make_server(batching=BatchOptions(max_batch_size=1, max_wait_ms=0))
    batched = make_server(batching=BatchOptions(max_batch_size=64, max_wait_ms=50))
    assert run_all(alone) == run_all(batched) == [["ab ba", "ab"]] * streams
    windows = alone.forward_calls  # unbatched: one forward pass per window
    assert windows % streams == 0 and windows // streams >= 15
    assert batched.forward_calls < windows / 2
    sizes = batched.running.metrics.text()
    assert "asr_batch_size_count" in sizes


# --- operations ---------------------------------------------------------------------------------


def test_health_reflection_and_metrics(make_server):
    server = make_server(metrics_port=0)
    health = health_pb2_grpc.HealthStub(server.channel)
    for name in ("", "asr.v1.Recognizer"):
        assert health.Check(health_pb2.HealthCheckRequest(service=name)).status == health_pb2.HealthCheckResponse.SERVING
    pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(server.channel))
    service = pool.FindServiceByName("asr.v1.Recognizer")
    assert {m.name for m in service.methods} == {"StreamingRecognize", "Recognize", "ListModels"}
    assert pool.FindMessageTypeByName("asr.v1.WordInfo").fields_by_name["start_time"].message_type.full_name == "google.protobuf.Duration"
    collect(server.stub, [config()] + audio(pcm16(UTTERANCES)))
    collect(server.stub, [config(rate=1)])
    text = urllib.request.urlopen(f"http://127.0.0.1:{server.running.metrics_port}/metrics", timeout=10).read().decode()
    for name in ("asr_active_streams 0.0", "asr_chunk_latency_seconds_bucket", "asr_batch_size_bucket", "asr_batch_real_time_factor_bucket",
                 'asr_errors_total{code="INVALID_ARGUMENT",method="StreamingRecognize"} 1.0', 'asr_audio_seconds_total{method="StreamingRecognize"}'):  # fmt: skip
        assert name in text
    # The latency breakdown: every window decoded is counted once in the queue and once in decoding.
    values = {line.rpartition(" ")[0]: float(line.rpartition(" ")[2]) for line in text.splitlines() if line and not line.startswith("#")}
    assert values["asr_batch_size_sum"] > 0
    assert values["asr_queue_seconds_count"] == values["asr_batch_size_sum"] == values["asr_decode_seconds_count"]
    assert values["asr_forward_seconds_count"] == values["asr_batch_size_count"]


def always_a_checkpoint(path: Path) -> Path:
    """The tiny WhisperCTC with its head biased to "a": a real model whose transcript is known ("a")."""
    bundle = tiny_bundle()
    with torch.no_grad():
        bundle.model.head.bias[bundle.vocabulary.tokens.index("a")] += 20.0
    save_checkpoint(path, bundle)
    return path


def test_serve_and_stream_commands_end_to_end_then_sigterm_drains(tmp_path, capsys):
    checkpoint = always_a_checkpoint(tmp_path / "tiny-a.safetensors")
    soundfile.write(str(tmp_path / "speech.flac"), UTTERANCES, 16000)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "asr", "serve", "--model", str(checkpoint), "--device", "cpu", "--listen", "127.0.0.1:0",
         "--grace-seconds", "4", "--max-realtime-factor", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    try:
        line = server.stdout.readline()
        assert line.startswith("serving tiny-a on 127.0.0.1:"), line + server.stderr.read()
        address = line.split()[3]
        # The client command: JSON lines, interim results, then the final "a" over the whole file.
        assert main(["stream", str(tmp_path / "speech.flac"), "--server", address, "--json"]) == 0
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        assert lines[-1]["results"][-1]["is_final"] and lines[-1]["results"][-1]["transcript"] == "a"
        assert lines[-1]["audio_processed"] == pytest.approx(len(UTTERANCES) / 16000, abs=1e-3)
        assert any(not r["is_final"] for x in lines for r in x["results"])

        with grpc.insecure_channel(address) as channel:
            stub = pb_grpc.RecognizerStub(channel)
            stop_b = threading.Event()

            def paced(seconds: float | None):
                yield config(interim=False)
                sent = 0.0
                while (seconds is None or sent < seconds) and not stop_b.is_set():
                    yield pb.StreamingRecognizeRequest(audio_content=pcm16(np.full(1600, 0.1, np.float32)))
                    sent += 0.1
                    time.sleep(0.1)

            outcome = {}

            def run(name, seconds):
                outcome[name] = collect(stub, paced(seconds))

            a = threading.Thread(target=run, args=("a", 2.0))  # ends on its own within the grace period
            b = threading.Thread(target=run, args=("b", None))  # would go on forever: cut off, finals sent
            a.start(), b.start()
            time.sleep(0.5)
            server.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            _, code, _ = collect(stub, [config()])
            assert code == Code.UNAVAILABLE  # no new streams while draining
            a.join(15), b.join(15)
            stop_b.set()
        assert server.wait(15) == 0
        responses, code, _ = outcome["a"]
        assert code == Code.OK and [f.alternatives[0].transcript for f in finals(responses)] == ["a"]
        responses, code, details = outcome["b"]
        assert code == Code.UNAVAILABLE and "shutting down" in details
        assert [f.alternatives[0].transcript for f in finals(responses)] == ["a"]
        assert "stopped" in server.stderr.read()
    finally:
        server.kill()
        server.wait()


@pytest.mark.parametrize("command", ["serve", "stream"])
def test_help_shows_examples(command, capsys):
    with pytest.raises(SystemExit) as exit:
        main([command, "--help"])
    assert exit.value.code == 0
    assert f"asr {command} " in capsys.readouterr().out.split("examples:")[1]


def test_speech_contexts_need_beam_search(server):
    contexts = [pb.SpeechContext(phrases=["frau holle"], boost=8)]
    _, code, details = collect(server.stub, [config(speech_contexts=contexts)] + audio(pcm16(UTTERANCES[:8000])))
    assert code == Code.INVALID_ARGUMENT and "--decoder beam" in details
    _, code, details = collect(server.stub, [config(speech_contexts=[pb.SpeechContext(phrases=["x"], boost=99)])])
    assert code == Code.INVALID_ARGUMENT and "boost must be 0 to 20" in details


def test_speech_contexts_boost_the_streams_and_requests_that_send_them(make_server):
    running = make_server(decoding=DecodeOptions(method="beam", lexicon_free=True))
    contexts = [pb.SpeechContext(phrases=["Ab", " ba "], boost=7), pb.SpeechContext(phrases=["bab"])]
    responses, code, _ = collect(running.stub, [config(speech_contexts=contexts)] + audio(pcm16(UTTERANCES)))
    assert code == Code.OK and finals(responses)
    (key,) = running.service._boosted_decoders
    assert key == ("tone", (Boost("ab", 7.0), Boost("ba", 7.0), Boost("bab", 5.0)), 1)
    assert running.service._boosted_decoders[key].options.boosts == key[1]
    recognition = pb.RecognitionConfig(encoding=pb.RecognitionConfig.LINEAR16, sample_rate_hertz=16000, speech_contexts=contexts)
    running.stub.Recognize(pb.RecognizeRequest(config=recognition, audio_content=pcm16(UTTERANCES)))
    assert len(running.service._boosted_decoders) == 1  # the same boosts reuse their decoder


def test_max_alternatives_gives_distinct_n_best_alternatives_with_beam_search(make_server):
    running = make_server(decoding=DecodeOptions(method="beam", lexicon_free=True))
    recognition = pb.RecognitionConfig(encoding=pb.RecognitionConfig.LINEAR16, sample_rate_hertz=16000, max_alternatives=3)
    response = running.stub.Recognize(pb.RecognizeRequest(config=recognition, audio_content=pcm16(UTTERANCES)))
    (result,) = response.results  # the n-best list is of the whole audio
    transcripts = [a.transcript for a in result.alternatives]
    assert len(transcripts) == 3 and len(set(transcripts)) == 3
    # (which three: flashlight's lexicon-free search breaks the tone model's score ties differently from run to run)
    confidences = [a.confidence for a in result.alternatives]
    assert confidences == sorted(confidences, reverse=True) and 0 < sum(confidences) <= 1 + 1e-6
    responses, code, _ = collect(running.stub, [config(interim=False, max_alternatives=3)] + audio(pcm16(UTTERANCES)))
    assert code == Code.OK
    for final in finals(responses):
        texts = [a.transcript for a in final.alternatives]
        assert 1 <= len(texts) <= 3 and len(set(texts)) == len(texts)
    assert max(len(f.alternatives) for f in finals(responses)) == 3
    # greedy decoding has one alternative, whatever is asked
    greedy = make_server()
    response = greedy.stub.Recognize(pb.RecognizeRequest(config=recognition, audio_content=pcm16(UTTERANCES)))
    assert all(len(r.alternatives) == 1 for r in response.results)


@pytest.mark.parametrize("early", [True, False])
def test_interim_words_arrive_before_the_lookahead_with_early_interim(make_server, early):
    server = make_server(chunking=ChunkingOptions(chunk_ms=320, left_context_ms=640, lookahead_ms=960), early_interim=early)
    data = pcm16(UTTERANCES)
    rest_sent = []

    def requests():
        yield config(interim=True)
        # 0.8 s in one message: "ab" is in, no chunk has its 960 ms lookahead. (In pieces, the early look could
        # come after the first 0.32 s, and the next only after a further chunk of audio: a race with the sender.)
        yield from audio(data[: 2 * 12800], piece=2 * 12800)
        time.sleep(1.5)
        rest_sent.append(time.monotonic())
        yield from audio(data[2 * 12800 :])

    interims = [
        (time.monotonic(), r.alternatives[0].transcript)
        for response in server.stub.StreamingRecognize(requests())
        for r in response.results
        if not r.is_final and r.alternatives[0].transcript
    ]
    before_lookahead = [text for at, text in interims if at < rest_sent[0]]
    if early:
        assert any(text.startswith("ab") for text in before_lookahead), interims
    else:
        assert before_lookahead == []  # the lookahead had to arrive first


def test_the_server_says_at_start_how_many_real_time_streams_a_window_leaves_room_for_and_warns_below_one(capsys):
    from serving.server import _report_stream_capacity

    chunking = ChunkingOptions(chunk_ms=160, left_context_ms=1600, lookahead_ms=960)
    assert chunking.early_looks_ms == ()  # looks every chunk: the full window comes first
    _report_stream_capacity("de", 0.040, chunking, ())
    err = capsys.readouterr().err
    assert "one 2720-ms streaming window takes 40 ms per 160-ms chunk: room for about 4.0 real-time streams" in err
    assert "warning" not in err
    _report_stream_capacity("de", 0.184, chunking, ())  # fp32 on an AVX2-only CPU, measured
    err = capsys.readouterr().err
    assert "room for about 0.9 real-time streams" in err
    assert "warning: model de cannot keep up with even one real-time stream" in err and "--chunk-ms" in err
    # Early looks between two full windows count: each reads the interim context and the audio since the last window.
    assert ChunkingOptions(interim_step_ms=100, interim_context_ms=320).early_looks_ms == (420,)
    slow = ChunkingOptions(chunk_ms=640, left_context_ms=960, interim_step_ms=160, interim_context_ms=320)
    assert slow.early_looks_ms == (480, 640, 800)
    _report_stream_capacity("de", 0.320, slow, slow.early_looks_ms)
    assert ("one 2560-ms streaming window and 3 early looks (480, 640, 800 ms) take 320 ms per 640-ms chunk: room for "
            "about 2.0 real-time streams") in capsys.readouterr().err


@pytest.mark.parametrize("native_bf16", [True, False])
def test_serve_chunks_for_the_cpu_unless_told(native_bf16, monkeypatch, capsys):
    from serving.options import CHUNKING_WITH_BF16, CHUNKING_WITHOUT_BF16, default_chunking

    monkeypatch.setattr("serving.options.cpu_has_native_bf16", lambda: native_bf16)
    served = []
    monkeypatch.setattr("serving.server.serve", lambda models, device, options, decoding, precision, backend:
                        served.append((options.chunking, backend)) or 0)
    assert main(["serve", "--model", "m.safetensors", "--device", "cpu"]) == 0
    assert ("no native bf16: streams are decoded in 640-ms chunks with 960 ms of left context, interim results come every "
            "160 ms from 320 ms of context, on the onnx backend" in capsys.readouterr().err) == (not native_bf16)
    assert main(["serve", "--model", "m.safetensors", "--device", "cpu", "--chunk-ms", "320", "--left-context-ms", "1000",
                 "--interim-step-ms", "100", "--interim-context-ms", "200", "--backend", "torch"]) == 0
    assert "native bf16" not in capsys.readouterr().err  # all chosen by the user: nothing to explain
    defaults = CHUNKING_WITH_BF16 if native_bf16 else CHUNKING_WITHOUT_BF16
    assert served[0] == (defaults, "onnx")  # the int8 backend on every CPU: it kept up with more streams on all four measured
    assert CHUNKING_WITHOUT_BF16.chunk_ms > ChunkingOptions().chunk_ms  # fewer windows for the same audio
    for cpu in (CHUNKING_WITH_BF16, CHUNKING_WITHOUT_BF16):  # yet on a CPU a message waits less than a chunk
        assert 0 < cpu.interim_step_ms < cpu.chunk_ms and cpu.interim_context_ms < cpu.left_context_ms
    assert CHUNKING_WITH_BF16.interim_step_ms == 100  # the load test's messages, Google's recommended size
    assert default_chunking("cuda") == ChunkingOptions()
    assert served[1] == (ChunkingOptions(320, 1000, defaults.lookahead_ms, 100, 200), "torch")
    # A left context shorter than the default early looks' context bounds theirs, rather than failing the start.
    assert main(["serve", "--model", "m.safetensors", "--device", "cpu", "--left-context-ms", "200"]) == 0
    assert served[2][0].interim_context_ms == 200


def test_serve_batches_windows_unless_the_backend_runs_each_alone(monkeypatch):
    from serving.options import BatchOptions, default_batching

    served = []
    monkeypatch.setattr("serving.server.serve", lambda models, device, options, *rest: served.append(options.batching) or 0)
    assert main(["serve", "--model", "m.safetensors", "--device", "cpu"]) == 0
    assert main(["serve", "--model", "m.safetensors", "--device", "cpu", "--max-wait-ms", "3"]) == 0
    assert served == [None, BatchOptions(max_wait_ms=3)]  # None: each model's backend decides
    assert default_batching("torch") == BatchOptions() and default_batching("torch").max_batch_size > 1
    assert default_batching("onnx").max_batch_size == 1


def test_serve_falls_back_to_torch_without_onnxruntime_and_says_how_to_get_it(monkeypatch, capsys):
    monkeypatch.setattr("serving.options.cpu_has_native_bf16", lambda: False)
    monkeypatch.setattr("serving.options.onnxruntime_installed", lambda: False)
    served = []
    monkeypatch.setattr("serving.server.serve", lambda models, device, options, decoding, precision, backend: served.append(backend) or 0)
    assert main(["serve", "--model", "m.safetensors", "--device", "cpu"]) == 0
    assert served == ["torch"]
    assert "on the torch backend (pip install onnxruntime" in capsys.readouterr().err


def test_serve_takes_the_longest_utterance_and_refuses_a_bad_one(monkeypatch, capsys):
    served = []
    monkeypatch.setattr("serving.server.serve", lambda models, device, options, *rest: served.append(options.endpointing) or 0)
    assert main(["serve", "--model", "m.safetensors", "--device", "cpu", "--max-utterance-ms", "12000"]) == 0
    assert served[0].max_utterance_ms == 12000
    assert main(["serve", "--model", "m.safetensors", "--device", "cpu", "--max-utterance-ms", "0"]) == 2
    assert "max_utterance_ms must be at least 20" in capsys.readouterr().err
