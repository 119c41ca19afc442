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
    """Checks the token from the call's metadata, before any request message is read or parsed."""

    def __init__(self, token: str, metrics: Metrics):
        self._token = token.encode()
        self._metrics = metrics

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        handler = await continuation(details)
        if handler is None or details.method.startswith(OPEN_SERVICES):
            return handler
        given = dict(details.invocation_metadata or ()).get("authorization")
        # RFC 6750: the scheme is case-insensitive ("bearer" and "Bearer" alike); the token is not.
        scheme, _, token = (given or "").strip().partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self._token):
            return handler
        message = (
            "this server needs a token: send the metadata 'authorization: Bearer TOKEN'"
            if given is None
            else "the token in the 'authorization' metadata is not valid"
        )
        self._metrics.errors.labels(details.method.rsplit("/", 1)[-1], "UNAUTHENTICATED").inc()
        return _refusal(handler, message)


def _refusal(handler: grpc.RpcMethodHandler, message: str) -> grpc.RpcMethodHandler:
    """A handler that ends the call with UNAUTHENTICATED without reading a request message.

    It takes requests as a stream, whatever the method: a unary handler would
    first receive and parse the whole body (up to the receive limit); a
    streaming one runs as soon as the call's headers are in.
    """

    async def refuse(requests, context: grpc.aio.ServicerContext):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    make = grpc.stream_stream_rpc_method_handler if handler.response_streaming else grpc.stream_unary_rpc_method_handler
    return make(refuse, request_deserializer=None, response_serializer=handler.response_serializer)
