"""uvicorn's httptools protocol with the two limits it lacks on a request's head (request line and headers):
it must arrive within ``PCS_HEADER_TIMEOUT_S`` of its first byte (or of the connection's opening), else 408, and
total at most ``PCS_MAX_HEADER_BYTES``, else 431 as soon as the parser has read that much, not after buffering
all of it. Either way the connection closes. A slow or endless head (slowloris) then holds neither a connection
nor memory for long; the app's own guard (:mod:`api.guard`) checks the body.
"""

from __future__ import annotations

import asyncio
from functools import cache

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.settings import Settings


@cache
def _limits() -> tuple[float, int]:
    """(header timeout in s, largest head in bytes), from the environment of this (worker) process."""
    settings = Settings.from_env()
    return settings.header_timeout_s, settings.max_header_bytes


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` whose request heads are bounded in time and size (module docstring)."""

    _head_timer: asyncio.TimerHandle | None = None
    _head_bytes = 0
    _in_head = True  # the next bytes belong to a request's head
    _refused = False

    # uvicorn's protocol narrows the transport to asyncio.Transport (a stream's); its base declares BaseTransport
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # While a head is arriving, the parser is fed no more than the bytes the head may still take: the parser
        # keeps an unfinished header value whole, so this is the only place its size can be bounded.
        while data and self._in_head and not self._refused:
            room = _limits()[1] - self._head_bytes
            if room <= 0:
                self._refuse(431, "Request Header Fields Too Large")
                return
            chunk, data = data[:room], data[room:]
            self._head_bytes += len(chunk)
            super().data_received(chunk)
        if data and not self._refused:
            super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(_limits()[0], self._refuse, 408, "Request Timeout")

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _refuse(self, status: int, reason: str) -> None:
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        self._disarm()
        body = b'{"detail": [{"field": "headers", "rule": "' + reason.lower().encode() + b'"}]}'
        head = f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        self.transport.write(head.encode() + b"connection: close\r\n\r\n" + body)
        self.transport.close()
