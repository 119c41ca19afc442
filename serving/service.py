"""The Recognizer service: StreamingRecognize, Recognize and ListModels over asyncio gRPC.

A stream runs as two tasks: a reader that takes audio messages as they
arrive (so the limits see true arrival times) and appends them to the
stream's `asr.streaming.stream.Stream`, and the handler itself, which sends each
ready window to its model's batcher and turns the decoded frames into
responses. Everything a stream holds is freed when its handler returns,
whether it ended, failed or was cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from dataclasses import dataclass, replace

import grpc
import torch
from google.protobuf.duration_pb2 import Duration

from asr.audio import AudioError, AudioTooLong, load_audio, resample
from asr.decoding import Word, make_decoder
from asr.lm.boosting import Boost
from asr.streaming.options import ChunkingOptions, EndpointOptions
from asr.streaming.stream import Stream, Utterance
from serving.metrics import Metrics
from serving.proto import recognizer_pb2 as pb
from serving.proto import recognizer_pb2_grpc as pb_grpc
from serving.session import (
    AudioFormat,
    AudioIntake,
    Encoding,
    Limits,
    Model,
    RequestError,
    audio_format,
    decode_raw,
    endpoint_options,
    invalid,
    select_model,
)

Event = pb.StreamingRecognizeResponse.SpeechEventType
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamingSetup:
    model: Model
    fmt: AudioFormat
    interim_results: bool
    single_utterance: bool
    word_times: bool
    endpointing: EndpointOptions
    boosts: tuple[Boost, ...] = ()  # the request's speech contexts
    alternatives: int = 1  # the request's max_alternatives: n-best finals with beam search


MAX_BOOSTED_DECODERS = 16
MAX_BOOST = 20.0


def speech_context_boosts(config: pb.RecognitionConfig, model: Model) -> tuple[Boost, ...]:
    """The request's speech contexts as boosts; INVALID_ARGUMENT where the model cannot use them."""
    boosts = []
    for context in config.speech_contexts:
        if not 0 <= context.boost <= MAX_BOOST:
            raise invalid(f"speech_contexts boost must be 0 to {MAX_BOOST:g}, got {context.boost:g}")
        boosts += [Boost(phrase.strip().lower(), context.boost or Boost.boost) for phrase in context.phrases if phrase.strip()]
    if boosts and model.transcriber.decoding.method != "beam":
        raise invalid(f"speech_contexts need beam search, and model {model.name!r} is served with greedy decoding "
                      "(start the server with --decoder beam)")
    return tuple(boosts)


def _duration(seconds: float) -> Duration:
    d = Duration()
    d.FromNanoseconds(round(seconds * 1e9))
    return d


class RecognizerService(pb_grpc.RecognizerServicer):
    def __init__(
        self,
        models: dict[str, Model],
        chunking: ChunkingOptions,
        endpointing: EndpointOptions,
        limits: Limits,
        metrics: Metrics,
        recognize_executor: Executor,
        early_interim: bool = True,
    ):
        self.models = models
        self.early_interim = early_interim  # interim words from a chunk before its lookahead arrives
        self.chunking = chunking
        self.endpointing = endpointing
        self.limits = limits
        self.metrics = metrics
        self.recognize_executor = recognize_executor
        self.active_streams = 0
        self.active_files = 0  # whole-file requests being decoded or waiting to be transcribed
        self.draining = False  # no new streams
        self.cut_off = False  # open streams stop taking audio and send their finals
        self._wakers: set[asyncio.Event] = set()  # each open stream's "something happened" event
        # Beam decoders with a request's boosts, by model and boosts. One shares its model's lexicon unless a boosted
        # word is missing from it; then it builds its own (the German model's: about 4 s and 440 MB), which a caller
        # repeating its phrases pays once.
        self._boosted_decoders: dict[tuple[str, tuple[Boost, ...]], object] = {}

    def drain(self) -> None:
        """Refuse new streams; open ones go on until `cut_off_streams`."""
        self.draining = True

    def cut_off_streams(self) -> None:
        """Open streams stop taking audio, decode what they have, send its finals and end with UNAVAILABLE."""
        self.cut_off = True
        for event in self._wakers:
            event.set()

    @contextlib.contextmanager
    def file_request(self):
        """A slot for one whole-file request (Recognize, OpenAI's transcriptions), held until it is answered."""
        if self.active_files >= self.limits.max_file_requests:
            raise RequestError(grpc.StatusCode.RESOURCE_EXHAUSTED, f"the server is transcribing its maximum of "
                               f"{self.limits.max_file_requests} files at once; retry later, or stream the audio")
        self.active_files += 1
        try:
            yield
        finally:
            self.active_files -= 1

    # --- StreamingRecognize ------------------------------------------------------------

    async def StreamingRecognize(self, requests: AsyncIterator[pb.StreamingRecognizeRequest], context: grpc.aio.ServicerContext):
        self.metrics.streams.inc()
        try:
            if self.draining:
                raise RequestError(grpc.StatusCode.UNAVAILABLE, "the server is shutting down; connect to another instance or retry")
            if self.active_streams >= self.limits.max_streams:
                raise RequestError(grpc.StatusCode.RESOURCE_EXHAUSTED, f"the server is serving its maximum of {self.limits.max_streams} concurrent streams; retry later")
            self.active_streams += 1
            self.metrics.active_streams.inc()
            try:
                setup = self._streaming_setup(await self._first_message(requests))
                async for response in self._recognize_stream(setup, requests):
                    yield response
            finally:
                self.active_streams -= 1
                self.metrics.active_streams.dec()
        except RequestError as error:
            await self.abort(context, "StreamingRecognize", error)
        except Exception as error:  # a bug or a failed forward pass: this stream ends, the server goes on
            await self.abort(context, "StreamingRecognize", _internal(error))
        except asyncio.CancelledError:
            code = "DEADLINE_EXCEEDED" if (context.time_remaining() or 1) <= 0 else "CANCELLED"
            self.metrics.errors.labels("StreamingRecognize", code).inc()
            raise

    async def _first_message(self, requests) -> pb.StreamingRecognitionConfig:
        try:
            first = await asyncio.wait_for(anext(aiter(requests)), self.limits.idle_timeout_seconds)
        except StopAsyncIteration:
            raise invalid("the stream ended before its first message; send streaming_config first") from None
        except TimeoutError:
            raise idle(self.limits.idle_timeout_seconds, before_config=True) from None
        if first.WhichOneof("streaming_request") != "streaming_config":
            raise invalid("the first message must hold streaming_config (encoding, sample rate, ...); audio_content comes in later messages")
        return first.streaming_config

    def _streaming_setup(self, config: pb.StreamingRecognitionConfig) -> StreamingSetup:
        fmt = audio_format(config.config, streaming=True)
        model = select_model(config.config, self.models)
        return StreamingSetup(
            model=model,
            fmt=fmt,
            interim_results=config.interim_results,
            single_utterance=config.single_utterance,
            word_times=config.config.enable_word_time_offsets,
            endpointing=endpoint_options(config.endpointing, self.endpointing),
            boosts=speech_context_boosts(config.config, model),
            alternatives=max(1, config.config.max_alternatives),
        )

    async def _search_for(self, model: Model, boosts: tuple[Boost, ...], alternatives: int = 1):
        """The beam decoder with a request's boosts and n-best size, or None for the model's own.

        A model served with greedy decoding has one alternative whatever is asked (the boosts were refused before).
        """
        transcriber = model.transcriber
        # Several of a beam's best paths can spell the same text: search for more, keep the distinct ones.
        nbest = max(4 * alternatives if alternatives > 1 else 1, transcriber.decoding.nbest)
        if transcriber.decoding.method != "beam" or (not boosts and nbest == transcriber.decoding.nbest):
            return None
        key = (model.name, boosts, nbest)
        if key not in self._boosted_decoders:
            options = replace(transcriber.decoding, boosts=transcriber.decoding.boosts + boosts, nbest=nbest,
                              beam_size=max(transcriber.decoding.beam_size, nbest))
            decoder = await asyncio.to_thread(make_decoder, transcriber.bundle.vocabulary, options)
            if len(self._boosted_decoders) >= MAX_BOOSTED_DECODERS:
                self._boosted_decoders.pop(next(iter(self._boosted_decoders)))  # the oldest
            self._boosted_decoders[key] = decoder
        return self._boosted_decoders[key]

    async def _recognize_stream(self, setup: StreamingSetup, requests) -> AsyncIterator[pb.StreamingRecognizeResponse]:
        search = await self._search_for(setup.model, setup.boosts, setup.alternatives)
        stream = Stream.for_model(setup.model.transcriber, self.chunking, setup.endpointing, search,
                                  early_interim=self.early_interim and setup.interim_results)
        intake = AudioIntake(setup.fmt, stream, self.limits)
        arrived = asyncio.Event()  # set by the reader on audio, end or error, and by a cut-off
        failure: list[RequestError] = []
        cut = False

        async def read() -> None:
            try:
                async for request in requests:
                    if request.WhichOneof("streaming_request") != "audio_content":
                        raise invalid("only the first message may hold streaming_config; later ones hold audio_content")
                    intake.add(request.audio_content)
                    arrived.set()
                intake.end()
            except RequestError as error:
                failure.append(error)
                if error.code == grpc.StatusCode.OUT_OF_RANGE:
                    intake.end()  # a limit cut the stream: its audio so far still gets its finals
            finally:
                arrived.set()

        reader = asyncio.create_task(read())
        self._wakers.add(arrived)
        try:
            while True:
                if failure and failure[0].code != grpc.StatusCode.OUT_OF_RANGE:
                    raise failure[0]
                if self.cut_off and not stream.closed:
                    cut = True  # shutting down: decode what has arrived, send the finals
                    reader.cancel()
                    intake.end()
                window = stream.next_window()
                if window is None:
                    if stream.done:
                        break
                    arrived.clear()
                    try:
                        await asyncio.wait_for(arrived.wait(), self.limits.idle_timeout_seconds)
                    except TimeoutError:  # a stream that sends nothing must not hold its slot
                        failure.append(idle(self.limits.idle_timeout_seconds))
                        reader.cancel()
                        intake.end()
                    continue
                ready_at = intake.last_arrival or time.monotonic()
                log_probs = await setup.model.batcher.decode(window)
                decoding = time.monotonic()
                ended = stream.accept(window, log_probs)
                if setup.single_utterance and ended:
                    yield self._response(setup, stream, ended[:1], Event.END_OF_SINGLE_UTTERANCE, interim=False)
                    return
                response = self._response(setup, stream, ended, Event.END_OF_UTTERANCE if ended else None, setup.interim_results)
                self.metrics.decode_seconds.observe(time.monotonic() - decoding)
                if response is not None:
                    yield response
                    if not window.provisional:  # the chunk latency is of the chunk's decision, not of an early look
                        self.metrics.chunk_latency.observe(time.monotonic() - ready_at)
            final = stream.finish()
            if final is not None:
                yield self._response(setup, stream, [final], None, interim=False)
            if failure:
                raise failure[0]
            if cut:
                raise RequestError(grpc.StatusCode.UNAVAILABLE, f"the server is shutting down; results up to {stream.decoded_seconds:.2f} s of audio were sent; send the rest in a new stream")
        finally:
            reader.cancel()
            self._wakers.discard(arrived)
            # A raised error's traceback holds the frames whose `failure` holds the error: without this, that cycle
            # kept the whole stream (its audio, its search's native memory, the bad message) until the garbage
            # collector's next full pass.
            failure.clear()

    def _response(self, setup: StreamingSetup, stream: Stream, ended: list[Utterance], event, interim: bool) -> pb.StreamingRecognizeResponse | None:
        language = setup.model.transcriber.bundle.language
        results = [
            pb.StreamingRecognitionResult(
                alternatives=_nbest(u.words, u.score, u.alternatives[: setup.alternatives - 1], setup.word_times),
                is_final=True,
                result_end_time=_duration(u.end),
                language_code=language,
            )
            for u in ended
        ]
        if interim:
            words, fixed = stream.interim()
            if words:
                results.append(
                    pb.StreamingRecognitionResult(
                        alternatives=[_alternative(words, setup.word_times, final=False)],
                        is_final=False,
                        stability=fixed / len(words),
                        result_end_time=_duration(stream.decoded_seconds),
                        language_code=language,
                    )
                )
        elif not results:
            return None
        response = pb.StreamingRecognizeResponse(results=results, audio_processed=_duration(stream.decoded_seconds))
        if event is not None:
            response.speech_event_type = event
            response.speech_event_time.CopyFrom(_duration(ended[-1].end))
        return response

    # --- Recognize ----------------------------------------------------------------------

    async def Recognize(self, request: pb.RecognizeRequest, context: grpc.aio.ServicerContext) -> pb.RecognizeResponse:
        try:
            fmt = audio_format(request.config, streaming=False)
            model = select_model(request.config, self.models)
            alternatives = max(1, request.config.max_alternatives)
            search = await self._search_for(model, speech_context_boosts(request.config, model), alternatives)
            data = request.audio_content
            if not data:
                raise invalid("audio_content is empty")
            loop = asyncio.get_running_loop()
            with self.file_request():
                wave = await loop.run_in_executor(None, read_request_audio, data, fmt, model.transcriber.sample_rate, self.limits.max_stream_seconds)
                seconds = len(wave) / model.transcriber.sample_rate
                (transcription,) = await loop.run_in_executor(self.recognize_executor, model.transcriber.transcribe, [wave], search)
        except RequestError as error:
            await self.abort(context, "Recognize", error)
        except Exception as error:
            await self.abort(context, "Recognize", _internal(error))
        self.metrics.audio_seconds.labels("Recognize").inc(seconds)
        word_times = request.config.enable_word_time_offsets
        if alternatives > 1 and transcription.alternatives:
            # The n-best list is of the whole audio: one result carries it.
            results = [pb.SpeechRecognitionResult(
                alternatives=_nbest(transcription.words, transcription.score, transcription.alternatives[: alternatives - 1], word_times),
                result_end_time=_duration(transcription.duration),
                language_code=transcription.language,
            )]
        else:
            results = [
                pb.SpeechRecognitionResult(
                    alternatives=[_alternative(s.words, word_times, final=True)],
                    result_end_time=_duration(s.end),
                    language_code=transcription.language,
                )
                for s in transcription.segments
            ]
        return pb.RecognizeResponse(results=results, total_audio_duration=_duration(seconds))

    # --- ListModels ---------------------------------------------------------------------

    async def ListModels(self, request: pb.ListModelsRequest, context: grpc.aio.ServicerContext) -> pb.ListModelsResponse:
        models = [
            pb.ModelInfo(
                name=m.name,
                language_code=m.transcriber.bundle.language,
                sample_rate_hertz=m.transcriber.sample_rate,
                chunk=_duration(self.chunking.chunk_ms / 1000),
                left_context=_duration(self.chunking.left_context_ms / 1000),
                lookahead=_duration(self.chunking.lookahead_ms / 1000),
            )
            for m in self.models.values()
        ]
        limits = pb.ServerLimits(
            max_streams=self.limits.max_streams,
            max_stream_duration=_duration(self.limits.max_stream_seconds),
            max_chunk_bytes=self.limits.max_chunk_bytes,
            max_realtime_factor=self.limits.max_realtime_factor,
            realtime_burst=_duration(self.limits.realtime_burst_seconds),
            max_recognize_bytes=self.limits.max_recognize_bytes,
        )
        return pb.ListModelsResponse(models=models, limits=limits)

    async def abort(self, context: grpc.aio.ServicerContext, method: str, error: RequestError) -> None:
        self.metrics.errors.labels(method, error.code.name).inc()
        await context.abort(error.code, error.message)


def _internal(error: Exception) -> RequestError:
    log.exception("request failed")
    return RequestError(grpc.StatusCode.INTERNAL, f"the server failed on this request ({type(error).__name__}: {error}); it is logged")


def _alternative(words: list[Word], word_times: bool, final: bool) -> pb.SpeechRecognitionAlternative:
    alternative = pb.SpeechRecognitionAlternative(transcript=" ".join(w.word for w in words))
    if final and words:
        alternative.confidence = sum(w.confidence for w in words) / len(words)
    if word_times:
        alternative.words.extend(
            pb.WordInfo(start_time=_duration(w.start), end_time=_duration(w.end), word=w.word, confidence=w.confidence) for w in words
        )
    return alternative


def _nbest(words: list[Word], score: float, runners_up: tuple[tuple[str, float], ...], word_times: bool) -> list[pb.SpeechRecognitionAlternative]:
    """The best alternative, then the runners-up (transcripts only). With runners-up, each confidence is the
    alternative's share of the n-best list (a softmax of the beam scores); alone, the mean word confidence."""
    best = _alternative(words, word_times, final=True)
    if not runners_up:
        return [best]
    shares = torch.softmax(torch.tensor([score, *(s for _, s in runners_up)], dtype=torch.float64), dim=0).tolist()
    best.confidence = shares[0]
    return [best, *(pb.SpeechRecognitionAlternative(transcript=text, confidence=share) for (text, _), share in zip(runners_up, shares[1:]))]


def read_request_audio(data: bytes, fmt: AudioFormat, sample_rate: int, max_seconds: float) -> torch.Tensor:
    """The request's audio as mono samples at the model's rate; files go through asr.audio like every file.

    Its length is known before anything is decoded (raw audio from its size, a
    file from its header), and audio longer than `max_seconds` is refused then.
    """
    if fmt.encoding != Encoding.ENCODING_UNSPECIFIED:
        if len(data) % fmt.bytes_per_frame:
            raise invalid(f"audio_content of {len(data)} bytes is not a whole number of samples ({fmt.bytes_per_frame} bytes per sample of all channels)")
        seconds = len(data) // fmt.bytes_per_frame / fmt.sample_rate
        if seconds > max_seconds:
            raise too_long(seconds, max_seconds)
        return resample(torch.from_numpy(decode_raw(data, fmt)), fmt.sample_rate, sample_rate)
    with tempfile.NamedTemporaryFile(suffix=".audio") as f:
        f.write(data)
        f.flush()
        try:
            return load_audio(f.name, sample_rate, max_seconds=max_seconds)
        except AudioTooLong:
            raise RequestError(grpc.StatusCode.OUT_OF_RANGE, f"the audio is longer than this server's maximum of {max_seconds:g} s; "
                               "split it, or stream it with StreamingRecognize") from None
        except AudioError as error:
            raise invalid(str(error).replace(f.name, "audio_content")) from None


def too_long(seconds: float, max_seconds: float) -> RequestError:
    return RequestError(grpc.StatusCode.OUT_OF_RANGE, f"the audio is {seconds:.0f} s long, more than this server's maximum of {max_seconds:g} s; "
                        "split it, or stream it with StreamingRecognize")


def idle(seconds: float, before_config: bool = False) -> RequestError:
    """A stream that went quiet for the server's idle timeout (Google's "Audio Timeout Error")."""
    if before_config:
        return RequestError(grpc.StatusCode.OUT_OF_RANGE, f"no streaming_config arrived for {seconds:g} s (this server's idle "
                            "timeout); send it as soon as the stream opens")
    return RequestError(grpc.StatusCode.OUT_OF_RANGE, f"no audio arrived for {seconds:g} s (this server's idle timeout); send audio "
                        "close to real time; the results of the audio so far have been sent")
