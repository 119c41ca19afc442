"""Google's own `google-cloud-speech` client against a server of this project: run by tests/test_google_speech.py
in a process of its own (the official package and the server's generated `google.cloud.speech.v1` modules cannot
share a process). Prints one JSON object: what each call returned, or the exception type it raised.

    python tests/google_speech_client.py ADDRESS AUDIO.wav [TOKEN]
"""

import json
import sys

import grpc
import soundfile
from google.api_core import exceptions
from google.cloud import speech_v1 as speech
from google.cloud.speech_v1.services.speech.transports import SpeechGrpcTransport


def client(address: str, token: str | None = None) -> speech.SpeechClient:
    channel = grpc.insecure_channel(address)
    if token:
        channel = grpc.intercept_channel(channel, _Bearer(token))
    return speech.SpeechClient(transport=SpeechGrpcTransport(channel=channel))


class _Bearer(grpc.UnaryUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    def __init__(self, token: str):
        self.token = token

    def _with_token(self, details):
        return _Details(details, list(details.metadata or []) + [("authorization", f"Bearer {self.token}")])

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._with_token(details), request)

    def intercept_stream_stream(self, continuation, details, requests):
        return continuation(self._with_token(details), requests)


class _Details(grpc.ClientCallDetails):
    def __init__(self, details, metadata):
        self.method, self.timeout, self.metadata = details.method, details.timeout, metadata
        self.credentials, self.wait_for_ready, self.compression = details.credentials, details.wait_for_ready, details.compression


def words(alternative) -> list:
    return [[w.word, w.start_time.total_seconds(), w.end_time.total_seconds(), round(w.confidence, 4)] for w in alternative.words]


def outcome(call):
    try:
        return call()
    except exceptions.GoogleAPICallError as error:
        return {"error": type(error).__name__, "message": error.message}


def main() -> None:
    address, audio = sys.argv[1], sys.argv[2]
    token = sys.argv[3] if len(sys.argv) > 3 else None
    speech_client = client(address, token)
    wav = open(audio, "rb").read()
    samples, rate = soundfile.read(audio, dtype="int16")
    pcm = samples.tobytes()
    result = {}

    def recognize():
        config = speech.RecognitionConfig(language_code="de-DE", enable_word_time_offsets=True, enable_word_confidence=True)
        response = speech_client.recognize(config=config, audio=speech.RecognitionAudio(content=wav))
        return {"transcripts": [r.alternatives[0].transcript for r in response.results],
                "words": [words(r.alternatives[0]) for r in response.results],
                "billed": response.total_billed_time.total_seconds()}

    def streaming(single: bool):
        config = speech.StreamingRecognitionConfig(
            config=speech.RecognitionConfig(encoding=speech.RecognitionConfig.AudioEncoding.LINEAR16, sample_rate_hertz=rate,
                                            language_code="de", enable_word_time_offsets=True),
            interim_results=True, single_utterance=single)
        pieces = (speech.StreamingRecognizeRequest(audio_content=pcm[i : i + 3200]) for i in range(0, len(pcm), 3200))
        responses = list(speech_client.streaming_recognize(config=config, requests=pieces))
        return {
            "results": [[r.is_final, r.alternatives[0].transcript, round(r.stability, 3), words(r.alternatives[0])] for x in responses for r in x.results],
            "events": [x.speech_event_type.name for x in responses],
            "billed": responses[-1].total_billed_time.total_seconds(),
        }

    def bad_rate():
        config = speech.RecognitionConfig(encoding=speech.RecognitionConfig.AudioEncoding.LINEAR16, sample_rate_hertz=1, language_code="de")
        return speech_client.recognize(config=config, audio=speech.RecognitionAudio(content=pcm))

    def long_running():
        return speech_client.long_running_recognize(config=speech.RecognitionConfig(language_code="de"), audio=speech.RecognitionAudio(content=wav))

    def too_large():
        config = speech.RecognitionConfig(encoding=speech.RecognitionConfig.AudioEncoding.LINEAR16, sample_rate_hertz=16000, language_code="de")
        response = speech_client.recognize(config=config, audio=speech.RecognitionAudio(content=bytes(3 * 1024 * 1024)))
        return {"results": len(response.results)}

    def unknown_language():
        return speech_client.recognize(config=speech.RecognitionConfig(language_code="fr-FR"), audio=speech.RecognitionAudio(content=wav))

    result["recognize"] = outcome(recognize)
    result["streaming"] = outcome(lambda: streaming(False))
    result["single_utterance"] = outcome(lambda: streaming(True))
    result["bad_rate"] = outcome(bad_rate)
    result["long_running"] = outcome(long_running)
    result["unknown_language"] = outcome(unknown_language)
    result["too_large"] = outcome(too_large)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
