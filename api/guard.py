"""Limits every request meets before the app reads it: no NUL character in its path, query or JSON body, its body
size (from ``Content-Length`` before any byte is read, and counted while it streams), a body read timeout, and a
bearer token on every request that carries a body, so that nobody makes the server buffer and parse a large body
without credentials. The head (line and headers) is bounded earlier, in the HTTP protocol (:mod:`api.http_protocol`).

A plain ASGI middleware (not Starlette's ``BaseHTTPMiddleware``): it adds no task or copy per request.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from api.settings import Settings

Scope = dict[str, Any]
BODY_METHODS = {"POST", "PUT", "PATCH"}


# BaseException, not Exception: FastAPI turns any Exception raised while it reads a body into "400: There was an
# error parsing the body"; these must reach the guard, which answers for them.
class _BodyTooLarge(BaseException):
    """The body grew past the limit while it streamed (413)."""


class _BodyTooSlow(BaseException):
    """The next part of the body did not come within the body timeout (408)."""


class _BodyHasNul(BaseException):
    """A JSON body carries a NUL character (422)."""


NUL_ESCAPE = b"\\u0000"  # a NUL character in JSON text: PostgreSQL cannot store it, so no backend takes it


class RequestGuard:
    """Answers 413, 408, 422, 400 or 401 with the API's ``{field, rule}`` error body, before the route runs."""

    def __init__(self, app: Any, settings: Settings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = self.settings
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b"").lower():
            await _refuse(send, 422, "path" if "\x00" in scope["path"] else "query", "must not contain a NUL character")
            return
        headers = scope["headers"]
        limit = settings.max_import_bytes if scope["path"].startswith("/imports/") else settings.max_body_bytes
        if scope["method"] in BODY_METHODS:
            named = dict(headers)
            if b"authorization" not in named:
                await _refuse(send, 401, "Authorization", "a request with a body needs a bearer token")
                return
            length = named.get(b"content-length")
            if length is not None and not length.isdigit():
                await _refuse(send, 400, "Content-Length", "must be a whole number of bytes")
                return
            if length is not None and int(length) > limit:
                await _refuse(send, 413, "body", f"must be at most {limit} bytes")
                return
        received, started, tail = 0, False, b""
        is_json = dict(headers).get(b"content-type", b"").startswith(b"application/json")

        async def limited_receive() -> Any:
            nonlocal received, tail
            try:
                message = await asyncio.wait_for(receive(), settings.body_timeout_s)
            except TimeoutError:
                raise _BodyTooSlow from None
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > limit:
                    raise _BodyTooLarge
                if is_json and NUL_ESCAPE in tail + chunk.lower():
                    raise _BodyHasNul
                tail = chunk[-(len(NUL_ESCAPE) - 1) :].lower()
            return message

        async def tracked_send(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except (_BodyTooLarge, _BodyTooSlow, _BodyHasNul) as error:
            if started:
                raise
            if isinstance(error, _BodyTooLarge):
                await _refuse(send, 413, "body", f"must be at most {limit} bytes")
            elif isinstance(error, _BodyHasNul):
                await _refuse(send, 422, "body", "must not contain a NUL character (\\u0000)")
            else:
                await _refuse(send, 408, "body", f"was not received within {settings.body_timeout_s:g} s")


async def _refuse(send: Any, status: int, field: str, rule: str) -> None:
    body = json.dumps({"detail": [{"field": field, "rule": rule}]}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    headers.append((b"connection", b"close"))  # the rest of the body, if any, is never read
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
