"""The server's own routes: vendored static files, the live map page and its long poll, upload previews, auth."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent / "e2e"))

from fake_agent import FakeAssistant  # noqa: E402

from tools.data import geodata_path  # noqa: E402

EXTERNAL = re.compile(r"(src|href)=['\"](https?:)?//", re.I)


@pytest.fixture
def server(tmp_data_dir):
    from assistant.ui.handlers import Handlers
    from assistant.ui.server import build_app
    from assistant.ui.store import SessionStore

    fake = FakeAssistant()
    handlers = Handlers(store=SessionStore(), assistant=lambda: fake)
    with TestClient(build_app(handlers)) as client:
        yield client, handlers


def test_map_assets_are_served_locally(server):
    client, handlers = server
    sid, _, _ = handlers.load({})
    page = client.get(f"/map/{sid}").text
    assert not EXTERNAL.search(page), "the map page must not load anything from another host"
    for asset in re.findall(r"(?:src|href)='(/static/[^']+)'", page):
        response = client.get(asset)
        assert response.status_code == 200 and len(response.content) > 500, asset
    assert "Leaflet 1.9.4" in client.get("/static/sentinelle/leaflet/leaflet.js").text
    assert client.get("/static/sentinelle/leaflet/images/marker-icon.png").headers["content-type"] == "image/png"
    assert client.get("/static/sentinelle/../../config.py").status_code == 404


def test_long_poll_returns_new_layers(server):
    client, handlers = server
    sid, _, _ = handlers.load({})
    first = client.get(f"/api/map/{sid}", params={"rev": 0}).json()
    assert first["layers"] == []
    for _ in handlers.respond(sid, "What changed around Saclay between 2016 and 2017?"):
        pass
    state = client.get(f"/api/map/{sid}", params={"rev": first["rev"]}).json()
    assert state["rev"] > first["rev"]
    assert [layer["kind"] for layer in state["layers"]] == ["bounds", "geojson"]
    assert client.get("/api/map/ffffffffffffffff", params={"rev": 0}).status_code == 404


def test_upload_preview_route_serves_only_previews(server):
    client, handlers = server
    sid, _, _ = handlers.load({})
    for _ in handlers.respond(sid, "what is this?", [str(geodata_path("rasterio-fixtures/RGB.byte.tif"))]):
        pass
    image_layer = handlers.store.get(sid).layers[0]
    response = client.get(image_layer.url)
    assert response.status_code == 200 and response.content[:4] == b"\x89PNG"
    original = image_layer.url.replace("_preview.png", ".tif")
    assert client.get(original).status_code == 404
    assert client.get(f"/api/uploads/{sid}/..%2F..%2Fsecret_preview.png").status_code == 404


def test_page_and_map_need_login_when_auth_is_set(tmp_data_dir, monkeypatch):
    from assistant.config import get_settings
    from assistant.ui.handlers import Handlers
    from assistant.ui.server import build_app
    from assistant.ui.store import SessionStore

    monkeypatch.setenv("SENTINELLE_AUTH", "jury:s3cret")
    get_settings.cache_clear()
    handlers = Handlers(store=SessionStore(), assistant=FakeAssistant)
    sid, _, _ = handlers.load({})
    with TestClient(build_app(handlers)) as client:
        assert client.get(f"/api/map/{sid}").status_code == 401
        assert client.get("/config").status_code == 401
        assert client.post("/login", data={"username": "jury", "password": "wrong"}).status_code == 400
        assert client.post("/login", data={"username": "jury", "password": "s3cret"}).status_code == 200
        assert client.get(f"/api/map/{sid}", params={"rev": 0}).status_code == 200
        assert client.get(f"/map/{sid}").status_code == 200


def test_share_offline_says_why_and_serves_locally(tmp_data_dir, monkeypatch, capsys):
    from assistant.config import get_settings
    from assistant.ui.server import open_share_tunnel

    monkeypatch.setenv("SENTINELLE_OFFLINE", "1")
    get_settings.cache_clear()
    assert open_share_tunnel(7860) is None
    assert "--share needs internet" in capsys.readouterr().err


def test_serve_command_is_registered():
    from assistant.cli import build_parser

    args = build_parser().parse_args(["serve", "--port", "7999", "--share"])
    assert (args.port, args.share, args.host) == (7999, True, None)
