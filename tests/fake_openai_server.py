"""A real HTTP server on 127.0.0.1 that speaks enough of the OpenAI Chat Completions API for tests.

It answers ``POST /v1/chat/completions`` from a script (one :class:`Scripted` response per request,
in order: a body, a status, headers, an optional delay) and records every request it receives, so a
test can check both what the client did with an answer and what it sent. It runs in a thread on an
ephemeral port; nothing leaves the machine.

    with FakeOpenAIServer([reply('{"keyframes": []}')]) as server:
        client = OpenAI(base_url=server.base_url, api_key="test")
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHAT_PATH = "/v1/chat/completions"


@dataclass
class Scripted:
    """One scripted response: ``body`` (a dict is sent as JSON, a str as it is), status, headers,
    a delay before anything is sent (to make the client time out), or ``drop``: the connection is closed
    without an answer (as a proxy or a crashed server does)."""

    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop: bool = False


@dataclass
class RecordedRequest:
    """A request the server received: its path, headers (lower-case names) and JSON body."""

    path: str
    headers: dict[str, str]
    body: Any

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", [])) if isinstance(self.body, dict) else []


def chat_completion(content: str | None, model: str = "fake-audio-model", finish_reason: str = "stop") -> dict:
    """A ChatCompletion body the ``openai`` client accepts, with ``content`` as the answer."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": finish_reason,
            "logprobs": None,
        }],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


def reply(content: str | None, delay_s: float = 0.0, finish_reason: str = "stop") -> Scripted:
    """A successful answer with ``content``."""
    return Scripted(chat_completion(content, finish_reason=finish_reason), delay_s=delay_s)


def dropped() -> Scripted:
    """The connection closed without an answer."""
    return Scripted(drop=True)


def error_reply(status: int, message: str, code: str | None = None,
                headers: dict[str, str] | None = None, delay_s: float = 0.0) -> Scripted:
    """An error answer in OpenAI's shape: ``{"error": {"message", "type", "code"}}``."""
    body = {"error": {"message": message, "type": "fake_error", "param": None, "code": code}}
    return Scripted(body, status=status, headers=dict(headers or {}), delay_s=delay_s)


class FakeOpenAIServer:
    """The server. ``base_url`` ends in ``/v1``; ``requests`` lists what arrived, oldest first."""

    def __init__(self, script: Iterable[Scripted] = ()) -> None:
        self._script: list[Scripted] = list(script)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.requests: list[RecordedRequest] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True  # a handler still in its delay must not block stop()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def push(self, *responses: Scripted) -> None:
        """Append responses to the script."""
        with self._lock:
            self._script.extend(responses)

    def start(self) -> FakeOpenAIServer:
        # A short poll interval: stop() waits for the loop to notice, and tests start many servers.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def release_delays(self) -> None:
        """Ends every scripted delay now (handlers then answer at once)."""
        self._stopping.set()

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a delay
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next(self, recorded: RecordedRequest) -> Scripted:
        with self._lock:
            self.requests.append(recorded)
            if recorded.path != CHAT_PATH:
                return Scripted({"error": {"message": f"no route {recorded.path}", "code": None}}, status=404)
            if not self._script:
                return Scripted({"error": {"message": "fake server: the script has no more responses"}}, 500)
            return self._script.pop(0)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw.decode("utf-8")) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                path = self.path.split("?", 1)[0]
                headers = {k.lower(): v for k, v in self.headers.items()}
                scripted = server._next(RecordedRequest(path, headers, body))
                if scripted.delay_s > 0 and server._stopping.wait(scripted.delay_s):
                    return
                if scripted.drop:
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if isinstance(scripted.body, (dict, list)):
                    payload = json.dumps(scripted.body).encode("utf-8")
                    content_type = "application/json"
                else:
                    payload = str(scripted.body or "").encode("utf-8")
                    content_type = "text/plain; charset=utf-8"
                try:
                    self.send_response(scripted.status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in scripted.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its timeout): nothing to answer

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

        return Handler
