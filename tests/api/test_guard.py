"""Limits a request meets before the app reads it, on the real server: a body too large is refused from its
``Content-Length`` before any byte of it is sent, a body without credentials is refused unread, huge headers get
a 431, and a body that stalls gets a 408. Nothing is stored."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api.test_e2e import running_server
from tests.api.tiny import ADMIN_TOKEN


def exchange(port: int, head: str, body: bytes = b"", timeout: float = 10.0) -> tuple[int, dict]:
    """Send ``head`` (and ``body``) on a fresh connection; the status and the JSON answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(head.encode() + body)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < _length(answer):
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, json.loads(answer.split(b"\r\n\r\n", 1)[1] or b"{}")


def _length(answer: bytes) -> int:
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


@pytest.mark.slow
def test_limits_hold_before_the_body_is_read(database_url: str, scenario: Path, tmp_path: Path) -> None:
    env = {"PCS_BODY_TIMEOUT_S": "1", "PCS_HEADER_TIMEOUT_S": "1"}
    with running_server(database_url, scenario, tmp_path / "server.log", **env) as server:
        port = server.base_url.port
        before = len(server.get("/requests", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json())
        auth = f"Authorization: Bearer {ADMIN_TOKEN}\r\n"
        # 200 MB announced, not one byte sent: the answer comes at once
        status, answer = exchange(
            port, f"POST /requests HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 200000000\r\n\r\n"
        )
        assert status == 413 and answer["detail"][0]["field"] == "body"
        status, answer = exchange(port, "POST /requests HTTP/1.1\r\nHost: x\r\nContent-Length: 200000000\r\n\r\n")
        assert status == 401 and answer["detail"][0]["field"] == "Authorization"
        status, _ = exchange(port, f"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {'a' * 40_000}\r\n\r\n")
        assert status == 431
        # a head that never ends (slowloris) gets 408 after the header timeout, a huge unfinished one 431 at once
        started = time.monotonic()
        status, answer = exchange(port, "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n")
        assert status == 408 and answer["detail"][0]["field"] == "headers" and time.monotonic() - started < 5
        status, _ = exchange(port, f"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {'a' * 20_000}")
        assert status == 431
        # half a body, then silence: 408 after the body timeout
        head = (
            f"POST /requests HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        )
        status, answer = exchange(port, head, b'{"accelerators": 4')
        assert status == 408 and answer["detail"][0]["field"] == "body", answer
        assert server.get("/health").status_code == 200
        after = len(server.get("/requests", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json())
        assert after == before


def test_a_streamed_body_is_cut_at_the_limit(client: TestClient) -> None:
    """Without a Content-Length (chunked), the guard counts the body as it arrives."""
    limit = client.app.state.settings.max_body_bytes
    chunks = (b"x" * 65536 for _ in range(limit // 65536 + 2))
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    response = client.post("/requests", headers=headers, content=chunks)
    assert response.status_code == 413, response.text
    assert response.json()["detail"][0]["field"] == "body"
    small = client.post("/requests", headers=headers, content=iter([b"{}"]))
    assert small.status_code == 422  # under the limit: the app reads it and names what is missing
