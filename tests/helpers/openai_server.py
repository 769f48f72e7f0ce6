"""A scripted OpenAI-compatible chat server on loopback that streams like vLLM.

Each POST /v1/chat/completions takes the next scripted reply: `("tool", name, args)` streams a tool call
(role chunk, a call header with an empty `arguments`, then argument fragments, `finish_reason: tool_calls`),
`("text", answer)` streams the answer word by word, `("stall",)` holds the request until the server stops.
Every chunk is an SSE `data:` line and the stream ends with `data: [DONE]`, the way vLLM's server sends them.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ScriptedOpenAIServer:
    def __init__(self, script: list[tuple]):
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                step = outer.script.pop(0) if outer.script else ("text", "no more script")
                if step[0] == "stall":
                    outer.release.wait(30)
                    return
                chunks = outer.chunks(step, body.get("model", "m"))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                for chunk in chunks:
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @staticmethod
    def chunks(step: tuple, model: str) -> list[dict[str, Any]]:
        base = {"id": "chatcmpl-7", "object": "chat.completion.chunk", "created": 1700000000, "model": model}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

        out = [chunk({"role": "assistant", "content": ""})]
        if step[0] == "tool":
            _, name, args = step
            text = json.dumps(args)
            out.append(chunk({"tool_calls": [{"index": 0, "id": "chatcmpl-tool-1a2b", "type": "function",
                                              "function": {"name": name, "arguments": ""}}]}))
            for i in range(0, len(text), 7):
                out.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": text[i : i + 7]}}]}))
            out.append(chunk({}, "tool_calls"))
        else:
            words = step[1].split(" ")
            for i, word in enumerate(words):
                out.append(chunk({"content": word + (" " if i < len(words) - 1 else "")}))
            out.append(chunk({}, "stop"))
        return out

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> ScriptedOpenAIServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port() -> int:
    """A loopback port with nothing listening (for 'server down')."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
