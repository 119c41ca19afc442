"""Token authentication: every call but health checks must carry "authorization: Bearer TOKEN" metadata.

Health checks stay open so that load balancers and orchestrators can probe
the server without the token.
"""

from __future__ import annotations

import hmac

import grpc

from serving.metrics import Metrics

OPEN_SERVICES = ("/grpc.health.v1.Health/",)


class TokenAuth(grpc.aio.ServerInterceptor):
    def __init__(self, token: str, metrics: Metrics):
        self._expected = f"Bearer {token}".encode()
        self._metrics = metrics

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        handler = await continuation(details)
        if handler is None or details.method.startswith(OPEN_SERVICES):
            return handler
        given = dict(details.invocation_metadata or ()).get("authorization")
        if given is not None and hmac.compare_digest(given.encode(), self._expected):
            return handler
        message = (
            "this server needs a token: send the metadata 'authorization: Bearer TOKEN'"
            if given is None
            else "the token in the 'authorization' metadata is not valid"
        )
        self._metrics.errors.labels(details.method.rsplit("/", 1)[-1], "UNAUTHENTICATED").inc()
        return _refusal(handler, message)


def _refusal(handler: grpc.RpcMethodHandler, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same kind as `handler` that ends the call with UNAUTHENTICATED."""

    async def refuse(request_or_iterator, context: grpc.aio.ServicerContext):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    kinds = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    make = kinds[(handler.request_streaming, handler.response_streaming)]
    return make(refuse, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)
