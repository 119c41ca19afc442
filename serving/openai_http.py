"""OpenAI's transcription API over HTTP (`asr serve --http-port N`), so the `openai` client works unchanged.

    POST /v1/audio/transcriptions   multipart: file, model, language, response_format,
                                    timestamp_granularities[], prompt, temperature
    GET  /v1/models                 the served models
    GET  /healthz                   200 while serving, 503 while draining

It runs on the gRPC server's event loop (aiohttp) and shares its models, the
executor that transcribes whole files, the limits and the metrics; files are
read as `Recognize` reads them (header checked before decoding, at most
--max-stream-seconds). With token auth on, `Authorization: Bearer TOKEN` is
checked before the body is read. `model` is a served model's name or a
language code; OpenAI's own names (whisper-1, gpt-4o-transcribe, ...) take
the model of `language`, else the default. `prompt` and `temperature` are
accepted and not applied (CTC decoding has neither). Errors have OpenAI's
shape: {"error": {"message", "type", "param", "code"}}.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json

import grpc
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from asr.writers import to_srt, to_vtt
from serving.service import RecognizerService, read_request_audio
from serving.session import AudioFormat, Encoding, RequestError, model_of_language, quoted

RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
HTTP_STATUS = {
    grpc.StatusCode.DEADLINE_EXCEEDED: 408,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
}
METHOD = "OpenAITranscriptions"  # the metrics' method label
# What aiohttp raises reading a body that is no form it can read: no boundary or another one, cut short, a nested
# multipart, an unknown transfer encoding or charset, bad compression, a part's broken headers. The request is
# malformed (400), not the server broken (500).
MALFORMED_FORM = (ValueError, LookupError, RuntimeError, HttpProcessingError, RequestPayloadError)


class FieldError(RequestError):
    """A form field's value refused: OpenAI's errors name the field (`param`)."""

    def __init__(self, param: str, message: str):
        super().__init__(grpc.StatusCode.INVALID_ARGUMENT, message)
        self.param = param


def error_response(status: int, message: str, param: str | None = None, code: str | None = None) -> web.Response:
    kind = {401: "authentication_error", 413: "invalid_request_error", 429: "rate_limit_error", 503: "server_error"}.get(status, "invalid_request_error")
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return web.json_response(body, status=status)


def build_app(service: RecognizerService, token: str | None) -> web.Application:
    limits, metrics = service.limits, service.metrics

    @web.middleware
    async def authenticate(request: web.Request, handler):
        if token is not None and request.path != "/healthz":
            scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
                metrics.errors.labels(METHOD, "UNAUTHENTICATED").inc()
                return error_response(401, "this server needs a token: send 'Authorization: Bearer TOKEN'", code="invalid_api_key")
        return await handler(request)

    async def transcriptions(request: web.Request) -> web.Response:
        try:
            with service.file_request():  # taken before the body is read
                return await transcribe(request)
        except RequestError as error:
            metrics.errors.labels(METHOD, error.code.name).inc()
            return error_response(HTTP_STATUS.get(error.code, 400), error.message)

    async def transcribe(request: web.Request) -> web.Response:
        try:
            form = await read_form(request, limits.idle_timeout_seconds)
        except RequestError as error:  # the body stopped arriving: the rest is not waited for
            metrics.errors.labels(METHOD, error.code.name).inc()
            return closing(request, error_response(HTTP_STATUS[error.code], error.message))
        except web.HTTPRequestEntityTooLarge:
            metrics.errors.labels(METHOD, "RESOURCE_EXHAUSTED").inc()
            return error_response(413, f"the request is larger than this server's limit of {limits.max_recognize_bytes} bytes", code="file_too_large")
        except MALFORMED_FORM as error:
            metrics.errors.labels(METHOD, "INVALID_ARGUMENT").inc()
            response = error_response(400, f"the body is not a form this server can read ({quoted(' '.join(str(error).split()), 80)}); send "
                                           "multipart/form-data with the audio as its 'file' part, as OpenAI's clients do")
            # The body's own compression or transfer encoding broken: nothing more of it can be read.
            return closing(request, response) if isinstance(error, RequestPayloadError) else response
        try:
            upload = form.get("file")
            if not isinstance(upload, web.FileField):
                raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, "the form needs a 'file' part holding the audio")
            response_format = text_field(form, "response_format", "json")
            if response_format not in RESPONSE_FORMATS:
                raise FieldError("response_format", f"response_format {quoted(response_format)} is not one of {', '.join(RESPONSE_FORMATS)}")
            model = _model(service, text_field(form, "model", ""), text_field(form, "language", ""))
            data = upload.file.read()
            if not data:
                raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, "the file is empty")
            loop = asyncio.get_running_loop()
            file = AudioFormat(Encoding.ENCODING_UNSPECIFIED, 0, 0)
            wave = await loop.run_in_executor(None, read_request_audio, data, file, model.transcriber.sample_rate, limits.max_stream_seconds)
            (result,) = await loop.run_in_executor(service.recognize_executor, model.transcriber.transcribe, [wave])
        except RequestError as error:
            metrics.errors.labels(METHOD, error.code.name).inc()
            param = error.param if isinstance(error, FieldError) else "file"
            return error_response(HTTP_STATUS.get(error.code, 400), error.message.replace("audio_content", "file"), param=param)
        metrics.audio_seconds.labels(METHOD).inc(result.duration)
        if response_format == "text":
            return web.Response(text=result.text + "\n", content_type="text/plain")
        if response_format in ("srt", "vtt"):
            return web.Response(text=to_srt(result) if response_format == "srt" else to_vtt(result), content_type="text/plain")
        if response_format == "json":
            return web.json_response({"text": result.text})
        granularities = form.getall("timestamp_granularities[]", []) or ["segment"]
        body = {"task": "transcribe", "language": result.language, "duration": round(result.duration, 3), "text": result.text}
        if "segment" in granularities:
            body["segments"] = [
                {"id": i, "seek": 0, "start": round(s.start, 3), "end": round(s.end, 3), "text": s.text, "tokens": [],
                 "temperature": 0.0, "avg_logprob": 0.0, "compression_ratio": 0.0, "no_speech_prob": 0.0}
                for i, s in enumerate(result.segments)
            ]
        if "word" in granularities:
            body["words"] = [{"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3)} for w in result.words]
        return web.Response(text=json.dumps(body, ensure_ascii=False), content_type="application/json")

    async def models(request: web.Request) -> web.Response:
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "transfer-asr", "language": m.transcriber.bundle.language}
                for name, m in service.models.items()]
        return web.json_response({"object": "list", "data": data})

    async def health(request: web.Request) -> web.Response:
        if service.draining:
            return web.json_response({"status": "draining"}, status=503)
        return web.json_response({"status": "ok"})

    # The body limit of the whole form: the file and the few small fields around it.
    app = web.Application(middlewares=[authenticate], client_max_size=limits.max_recognize_bytes)
    app.add_routes([web.post("/v1/audio/transcriptions", transcriptions), web.get("/v1/models", models), web.get("/healthz", health)])
    return app


def closing(request: web.Request, response: web.Response) -> web.Response:
    """The response to a request whose body is not read to its end: the body ended here, the connection closed after the
    answer. Else aiohttp drains what is left after the response, waiting on a stalled client or logging a broken body's
    error again as unhandled (aio-libs/aiohttp#1710)."""
    request.content.feed_eof()
    response.force_close()
    return response


async def read_form(request: web.Request, idle_seconds: float):
    """The request's form. A body that stops arriving for `idle_seconds` is given up on (DEADLINE_EXCEEDED): the file
    slot is taken before the body is read, and a client sending a byte now and then must not hold it for ever."""
    reading = asyncio.ensure_future(request.post())
    received = -1
    while not reading.done():
        await asyncio.wait({reading}, timeout=idle_seconds)
        if not reading.done() and request.content.total_bytes == received:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
            raise RequestError(grpc.StatusCode.DEADLINE_EXCEEDED, f"no part of the body arrived for {idle_seconds:g} s (this "
                               "server's idle timeout); send the file without pausing")
        received = request.content.total_bytes
    return reading.result()


def text_field(form, name: str, default: str) -> str:
    """A form field that must be text: a file sent in its place is refused by name, not echoed back as an object."""
    value = form.get(name, default)
    if not isinstance(value, str):
        raise FieldError(name, f"the form's {name!r} part must be text, not a file")
    return value


def _model(service: RecognizerService, name: str, language: str):
    """The served model `name` (or language code) asks for; OpenAI's model names take the language's model."""
    models = service.models
    if name in models:
        return models[name]
    wanted = language or (name if len(name) in (2, 3) else "")  # "de", or OpenAI's own model names with `language`
    if not wanted:
        return next(iter(models.values()))
    try:
        return model_of_language(models, wanted)
    except RequestError as error:
        raise FieldError("language" if language else "model", error.message) from None


async def start_http(service: RecognizerService, token: str | None, host: str, port: int) -> web.AppRunner:
    """Serve the app on host:port in the running event loop; returns the runner (its port: runner.addresses)."""
    runner = web.AppRunner(build_app(service, token), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner
