"""The VLM path of read_image against a scripted OpenAI-compatible server on loopback.

The server checks what a real vLLM would need: the model name, a user message carrying the image as a base64
data URL that decodes to a picture, and the question; it answers in server-sent-event chunks like vLLM does.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from assistant.errors import DataUnavailableError, ModelUnavailableError
from tools.data import geodata_path

ANSWER_CHUNKS = ["The image ", "shows a ", "sandy beach."]


class Scripted:
    """What the server saw and how it should behave."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.images: list[Image.Image] = []
        self.mode = "ok"
        self.release = threading.Event()


def _handler(state: Scripted) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server API
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(body)
            if state.mode == "slow":
                state.release.wait(10)
            if state.mode == "error" or self.path != "/v1/chat/completions":
                self.send_response(500)
                self.end_headers()
                return
            user = next(m for m in body["messages"] if m["role"] == "user")
            url = next(p["image_url"]["url"] for p in user["content"] if p["type"] == "image_url")
            assert url.startswith("data:image/png;base64,")
            image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
            image.load()
            state.images.append(image)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for i, text in enumerate(ANSWER_CHUNKS):
                chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": body["model"],
                         "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}  # fmt: skip
                if i == 0:
                    chunk["choices"][0]["delta"]["role"] = "assistant"
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")

    return Handler


@pytest.fixture
def server(monkeypatch):
    state = Scripted()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("SENTINELLE_VLM_BACKEND", "auto")
    monkeypatch.setenv("SENTINELLE_VLM_BASE_URL", f"http://127.0.0.1:{httpd.server_address[1]}/v1")
    monkeypatch.setenv("SENTINELLE_VLM_MODEL", "Qwen/Qwen2.5-VL-3B-Instruct")
    from tools.reader import bank

    def no_bank():
        raise DataUnavailableError("no bank in this test")

    monkeypatch.setattr(bank, "default_source", no_bank)
    yield state
    state.release.set()
    httpd.shutdown()
    httpd.server_close()


def test_vlm_streams_answer_and_sends_the_image(server, monkeypatch):
    from tools.reader import choose_backend, read_image

    monkeypatch.setenv("SENTINELLE_VLM_MAX_PIXELS", "10000")
    aid = geodata_path("aid-scenes")
    beach = sorted((aid / "Beach").glob("*.jpg"))[0]
    tokens: list[str] = []
    assert choose_backend() == "openai"
    result = read_image("What is in this image?", image=str(beach), language="fr", on_token=tokens.append)
    assert tokens == ANSWER_CHUNKS
    assert result.facts["answer"] == "".join(ANSWER_CHUNKS)
    assert "Qwen/Qwen2.5-VL-3B-Instruct" in result.model
    (request,) = server.requests
    assert request["model"] == "Qwen/Qwen2.5-VL-3B-Instruct" and request["stream"] is True
    text = " ".join(p["text"] for m in request["messages"] if m["role"] == "user" for p in m["content"]
                    if p["type"] == "text")  # fmt: skip
    assert "What is in this image?" in text and "French" in text
    (image,) = server.images
    assert image.size[0] * image.size[1] <= 10000 and image.size[0] >= 90  # 150x150 JPEG downscaled to fit
    assert result.facts["vlm_downscaled"] is True
    assert result.facts["vlm_image_size"] == list(image.size)


def test_vlm_region_of_a_georeferenced_raster(server):
    from tools.reader import read_image

    naip = geodata_path("naip-timeseries") / "m_4709963_se_14_1_20200831.tif"
    bbox = [-99.18, 47.01, -99.16, 47.02]
    result = read_image("", image=str(naip), bbox=bbox)
    (image,) = server.images
    assert image.mode == "RGB" and image.size == (result.facts["width"], result.facts["height"])
    assert image.size[0] < 934 // 2
    text = json.dumps(server.requests[0]["messages"])
    assert "5.0 m per pixel" in text and "Describe this image" in text
    assert result.layers and result.layers[0].bounds[0] >= bbox[0] - 1e-3


def test_vlm_timeout_is_a_clear_error(server, monkeypatch):
    from tools.reader import read_image

    server.mode = "slow"
    monkeypatch.setenv("SENTINELLE_VLM_TIMEOUT_S", "0.5")
    beach = sorted((geodata_path("aid-scenes") / "Beach").glob("*.jpg"))[0]
    with pytest.raises(ModelUnavailableError, match=r"did not answer within 0 s|did not answer within 1 s"):
        read_image("What is this?", image=str(beach))


def test_vlm_server_errors(server, monkeypatch):
    from tools.reader import read_image

    beach = sorted((geodata_path("aid-scenes") / "Beach").glob("*.jpg"))[0]
    server.mode = "error"
    with pytest.raises(ModelUnavailableError, match="HTTP 500"):
        read_image("What is this?", image=str(beach))
    monkeypatch.setenv("SENTINELLE_VLM_BASE_URL", "http://127.0.0.1:9/v1")
    from assistant.config import get_settings

    get_settings.cache_clear()
    with pytest.raises(ModelUnavailableError, match="cannot be reached"):
        read_image("What is this?", image=str(beach))
