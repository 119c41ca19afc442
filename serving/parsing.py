"""Request messages that do not parse end the call with INVALID_ARGUMENT, never INTERNAL or UNKNOWN.

gRPC parses a request with the method's deserializer before the service sees
it, and a body that is not the message (random bytes, a field of the wrong
wire type) otherwise fails inside gRPC: UNKNOWN naming a Python exception for
a unary call, INTERNAL and a logged traceback per message for a stream. This
interceptor parses instead, and a message that fails becomes a
`MalformedRequest` that the call ends on, with the status the proto documents.
"""

from __future__ import annotations

import grpc

from serving.metrics import Metrics
from serving.session import invalid

CHECKED_SERVICES = ("/asr.v1.Recognizer/", "/google.cloud.speech.v1.Speech/")


class MalformedRequest:
    def __init__(self, size: int, error: Exception):
        self.message = f"a request message of {size} bytes does not parse as this method's request ({type(error).__name__})"


def _tolerant(parse):
    def deserialize(data: bytes):
        try:
            return parse(data)
        except Exception as error:  # protobuf's DecodeError, and whatever else a damaged body makes it raise
            return MalformedRequest(len(data), error)

    return deserialize


class RequestParsing(grpc.aio.ServerInterceptor):
    def __init__(self, metrics: Metrics):
        self._metrics = metrics

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        handler = await continuation(details)
        if handler is None or not details.method.startswith(CHECKED_SERVICES):
            return handler
        method = details.method.rsplit("/", 1)[-1]
        parse = _tolerant(handler.request_deserializer)
        serialize = handler.response_serializer
        if handler.unary_unary is not None:
            inner = handler.unary_unary

            async def unary(request, context):
                if isinstance(request, MalformedRequest):
                    self._metrics.errors.labels(method, "INVALID_ARGUMENT").inc()
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
                return await inner(request, context)

            return grpc.unary_unary_rpc_method_handler(unary, request_deserializer=parse, response_serializer=serialize)
        if handler.stream_stream is not None:
            inner = handler.stream_stream

            async def checked(requests):
                async for request in requests:
                    if isinstance(request, MalformedRequest):
                        raise invalid(request.message)  # the service ends the call with it, as with any bad request
                    yield request

            async def stream(requests, context):
                async for response in inner(checked(requests), context):
                    yield response

            return grpc.stream_stream_rpc_method_handler(stream, request_deserializer=parse, response_serializer=serialize)
        return handler
