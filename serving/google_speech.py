"""google.cloud.speech.v1.Speech on the same models, batcher, limits and metrics as asr.v1.Recognizer.

Each call is translated into the project's own request, answered by
`RecognizerService` (so every check, limit and status code is the same), and
its responses translated back. The mapping:

- encoding: LINEAR16 and MULAW as raw audio; FLAC, OGG_OPUS and MP3 (and
  ENCODING_UNSPECIFIED) as a file for Recognize, which libsndfile decodes;
  AMR, AMR_WB, SPEEX and WEBM_OPUS: INVALID_ARGUMENT;
- language_code chooses the model: the served model of that language, unless
  `model` names a served model (Google's model names are ignored);
- enable_word_confidence: word confidences are sent only when asked for;
- profanity_filter, enable_automatic_punctuation, use_enhanced and
  enable_spoken_punctuation are accepted and not applied;
- total_billed_time is the audio's duration; END_OF_UTTERANCE (ours) has no
  Google counterpart and is left out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from serving.proto import cloud_speech_pb2 as gpb
from serving.proto import cloud_speech_pb2_grpc as gpb_grpc
from serving.proto import recognizer_pb2 as pb
from serving.service import RecognizerService
from serving.session import RequestError, invalid, model_of_language

GoogleEncoding = gpb.RecognitionConfig.AudioEncoding
RAW = {GoogleEncoding.LINEAR16: pb.RecognitionConfig.LINEAR16, GoogleEncoding.MULAW: pb.RecognitionConfig.MULAW}
FILES = (GoogleEncoding.ENCODING_UNSPECIFIED, GoogleEncoding.FLAC, GoogleEncoding.OGG_OPUS, GoogleEncoding.MP3)


class GoogleSpeechService(gpb_grpc.SpeechServicer):
    def __init__(self, recognizer: RecognizerService):
        self.recognizer = recognizer

    def _config(self, config: gpb.RecognitionConfig, streaming: bool) -> pb.RecognitionConfig:
        if config.encoding in RAW:
            encoding = RAW[config.encoding]
        elif config.encoding in FILES and not streaming:
            encoding = pb.RecognitionConfig.ENCODING_UNSPECIFIED  # a file: its header says the rest
        else:
            name = GoogleEncoding.Name(config.encoding) if config.encoding in GoogleEncoding.values() else str(config.encoding)
            accepted = "LINEAR16 or MULAW" if streaming else "LINEAR16, MULAW, FLAC, OGG_OPUS or MP3"
            raise invalid(f"config.encoding {name} is not supported {'when streaming' if streaming else ''}; use {accepted}".replace("  ", " "))
        models = self.recognizer.models
        if config.model in models:
            model = config.model
        elif config.language_code:
            model = model_of_language(models, config.language_code).name
        else:
            model = ""
        return pb.RecognitionConfig(
            encoding=encoding,
            sample_rate_hertz=config.sample_rate_hertz if encoding != pb.RecognitionConfig.ENCODING_UNSPECIFIED else 0,
            audio_channel_count=config.audio_channel_count,
            language_code=config.language_code,
            model=model,
            max_alternatives=config.max_alternatives,
            enable_word_time_offsets=config.enable_word_time_offsets,
            speech_contexts=[pb.SpeechContext(phrases=c.phrases, boost=c.boost) for c in config.speech_contexts],
        )

    # --- Recognize ---------------------------------------------------------------------------

    async def Recognize(self, request: gpb.RecognizeRequest, context: grpc.aio.ServicerContext) -> gpb.RecognizeResponse:
        try:
            if request.audio.WhichOneof("audio_source") == "uri":
                raise invalid("audio.uri is not supported: this server reads no storage; send the audio as audio.content")
            ours = pb.RecognizeRequest(config=self._config(request.config, streaming=False), audio_content=request.audio.content)
        except RequestError as error:
            return await self.recognizer.abort(context, "Recognize", error)
        response = await self.recognizer.Recognize(ours, context)
        confidence = request.config.enable_word_confidence
        return gpb.RecognizeResponse(
            results=[
                gpb.SpeechRecognitionResult(
                    alternatives=[_alternative(a, confidence) for a in r.alternatives],
                    result_end_time=r.result_end_time,
                    language_code=r.language_code,
                )
                for r in response.results
            ],
            total_billed_time=response.total_audio_duration,
        )

    async def LongRunningRecognize(self, request, context: grpc.aio.ServicerContext):
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            "LongRunningRecognize is not served here: send the audio to Recognize (up to this server's --max-recognize-bytes "
            "and --max-stream-seconds) or stream it with StreamingRecognize",
        )

    # --- StreamingRecognize --------------------------------------------------------------------

    async def StreamingRecognize(self, requests: AsyncIterator[gpb.StreamingRecognizeRequest], context: grpc.aio.ServicerContext):
        confidence = False

        async def translated() -> AsyncIterator[pb.StreamingRecognizeRequest]:
            nonlocal confidence
            async for request in requests:
                if request.WhichOneof("streaming_request") == "streaming_config":
                    google = request.streaming_config
                    confidence = google.config.enable_word_confidence
                    yield pb.StreamingRecognizeRequest(streaming_config=pb.StreamingRecognitionConfig(
                        config=self._config(google.config, streaming=True),
                        interim_results=google.interim_results,
                        single_utterance=google.single_utterance,
                    ))
                else:
                    yield pb.StreamingRecognizeRequest(audio_content=request.audio_content)

        async for response in self.recognizer.StreamingRecognize(translated(), context):
            google = gpb.StreamingRecognizeResponse(
                results=[
                    gpb.StreamingRecognitionResult(
                        alternatives=[_alternative(a, confidence and r.is_final) for a in r.alternatives],
                        is_final=r.is_final,
                        stability=r.stability,
                        result_end_time=r.result_end_time,
                        language_code=r.language_code,
                    )
                    for r in response.results
                ],
                total_billed_time=response.audio_processed,
            )
            if response.speech_event_type == pb.StreamingRecognizeResponse.END_OF_SINGLE_UTTERANCE:
                google.speech_event_type = gpb.StreamingRecognizeResponse.END_OF_SINGLE_UTTERANCE
                google.speech_event_time.CopyFrom(response.speech_event_time)
            yield google


def _alternative(alternative: pb.SpeechRecognitionAlternative, confidence: bool) -> gpb.SpeechRecognitionAlternative:
    return gpb.SpeechRecognitionAlternative(
        transcript=alternative.transcript,
        confidence=alternative.confidence,
        words=[
            gpb.WordInfo(start_time=w.start_time, end_time=w.end_time, word=w.word, confidence=w.confidence if confidence else 0.0)
            for w in alternative.words
        ],
    )
