"""A cap on request bodies, applied while they arrive (before anything parses or stores them)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from studio.api.errors import error_response
from studio.errors import TooLarge


class BodyLimit:
    """Refuse bodies over `max_bytes` on paths under `prefix`: at once when Content-Length says so,
    otherwise as soon as the streamed body passes the limit."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, prefix: str) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.prefix = prefix

    def _message(self) -> str:
        return f"The request body is larger than {self.max_bytes // (1024 * 1024)} MB."

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response = error_response(413, self._message(), code=TooLarge.code, kind=TooLarge.type)
            await response(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise TooLarge(self._message())
            return message

        await self.app(scope, limited, send)
