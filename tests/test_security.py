"""Attacks on `sentinelle serve`, replayed: forged and oversized links, script in data, file reads, memory.

Each test plays the attack as it was found (or as close as a test client gets) and asserts the refusal.
"""

from __future__ import annotations

import base64
import json
import random
import re
import shutil
import sys
import threading
import tracemalloc
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent / "e2e"))

from fake_agent import FakeAssistant  # noqa: E402

from assistant.events import MapLayer, ToolResult  # noqa: E402
from assistant.session import ChatTurn, Session, ToolStep  # noqa: E402
from tools.data import geodata_path  # noqa: E402

RGB_TIF = "rasterio-fixtures/RGB.byte.tif"
AID_JPG = "aid-scenes/Airport/airport_1.jpg"
SCRIPT = "<script>window.__pwned=1</script>"
IMG_ONERROR = "<img src=x onerror=\"window.__pwned=1\">"
REMOTE_IMAGE = "![tracker](http://attacker.example/pixel.png)"


@pytest.fixture
def handlers(tmp_data_dir):
    from assistant.ui.handlers import Handlers
    from assistant.ui.store import SessionStore

    fake = FakeAssistant()
    return Handlers(store=SessionStore(), assistant=lambda: fake)


@pytest.fixture
def server(handlers):
    from assistant.ui.server import build_app

    with TestClient(build_app(handlers)) as client:
        yield client, handlers


def _unsigned_token(session: Session) -> str:
    """The old, unsigned link format: what an attacker can make by hand."""
    raw = zlib.compress(session.model_dump_json(exclude_none=True).encode(), 9)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _fabricated() -> Session:
    step = ToolStep(call_id="x1", name="detect_change", status="done", duration_s=1.0,
                    result=ToolResult(tool="detect_change", facts={"changed_area_ha": 999}))
    return Session(turns=[ChatTurn(role="user", content="What changed?"),
                          ChatTurn(role="assistant", content="The airport was destroyed.", steps=[step])])


def _texts(messages) -> list[str]:
    return [m["content"] for m in messages if isinstance(m["content"], str)]


# --- 1. forged, altered, expired, oversized links ---------------------------------------------------------------


def test_hand_made_link_shows_no_fabricated_answer(handlers):
    sid, messages, notice = handlers.load({"s": _unsigned_token(_fabricated())})
    assert notice and ("altered" in notice or "damaged" in notice)
    assert _texts(messages) == [f"⚠️ {notice}"]  # an empty chat with one line saying why
    assert handlers.store.get(sid).turns == [] and handlers.store.map_state(sid)[1]["layers"] == []


def test_altered_or_foreign_links_are_refused(handlers, monkeypatch):
    from assistant.config import get_settings

    token = _fabricated().to_token()
    assert handlers.load({"s": token})[2] is None  # the genuine link opens
    payload, issued, signature = token.split(".")
    tampered = _unsigned_token(Session(turns=[ChatTurn(role="assistant", content="forged")]))
    # the first character of the signature carries six whole bits, so changing it always changes the MAC (the last
    # ones may be padding bits, and a random signature can already end in "AA")
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    for altered in (f"{tampered}.{issued}.{signature}", f"{payload}.{issued}.{flipped}",
                    f"{payload}.zzzzzz.{signature}", f"{payload}.{issued}"):
        _, messages, notice = handlers.load({"s": altered})
        assert notice and ("altered" in notice or "damaged" in notice), altered
        assert "forged" not in " ".join(_texts(messages))
    monkeypatch.setenv("SENTINELLE_SECRET_KEY", "another-server-" + "k" * 40)
    get_settings.cache_clear()
    _, _, notice = handlers.load({"s": token})  # signed by another key: refused
    assert notice and "altered" in notice


def test_secret_key_is_kept_private_in_the_data_dir(tmp_data_dir):
    from assistant.links import secret_key

    key = secret_key()
    path = tmp_data_dir / "secret_key"
    assert path.read_text().strip().encode() == key and len(key) >= 32
    assert path.stat().st_mode & 0o777 == 0o600


def test_expired_link_is_refused(handlers, monkeypatch):
    import time

    from assistant.config import get_settings
    from assistant.links import sign

    monkeypatch.setenv("SENTINELLE_LINK_MAX_AGE_DAYS", "7")
    get_settings.cache_clear()
    data = _fabricated().model_dump_json().encode()
    old = sign(data, now=time.time() - 8 * 86400)
    _, messages, notice = handlers.load({"s": old})
    assert notice and "expired" in notice and "destroyed" not in " ".join(_texts(messages))
    assert handlers.load({"s": sign(data)})[2] is None


def test_too_long_link_is_refused_before_any_work(handlers):
    _, _, notice = handlers.load({"s": "A" * 5000 + ".0.AAAA"})
    assert notice and "too long" in notice


def test_zip_bomb_link_is_refused_with_little_memory(handlers, monkeypatch):
    """A link that inflates to 50 MB: even validly signed and under a raised length cap, it is never inflated."""
    from assistant.config import get_settings
    from assistant.links import sign

    bomb = b'{"turns": [{"role": "user", "content": "' + b" " * 50_000_000 + b'"}]}'
    unsigned = base64.urlsafe_b64encode(zlib.compress(bomb, 9)).decode()
    token = sign(bomb)
    del bomb
    monkeypatch.setenv("SENTINELLE_LINK_MAX_CHARS", str(len(token) + 10))
    get_settings.cache_clear()
    rss_before = psutil.Process().memory_info().rss
    tracemalloc.start()
    try:
        _, _, notice_signed = handlers.load({"s": token})
        _, _, notice_unsigned = handlers.load({"s": unsigned})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert notice_signed and "more than 1 MB" in notice_signed
    assert notice_unsigned and "not made by this server" in notice_unsigned
    assert peak < 8_000_000, f"refusing the bomb allocated {peak / 1e6:.1f} MB"
    assert psutil.Process().memory_info().rss - rss_before < 30_000_000


def test_snapshots_are_bounded_when_saved_and_loaded(handlers, monkeypatch):
    from assistant.config import get_settings
    from assistant.errors import BadInputError
    from assistant.ui.store import save_snapshot, shared_dir

    monkeypatch.setenv("SENTINELLE_SNAPSHOT_MAX_BYTES", "100000")
    get_settings.cache_clear()
    big = Session(turns=[ChatTurn(role="user", content="x" * 150_000)])
    with pytest.raises(BadInputError, match="too large to share"):
        save_snapshot(big)
    snap_id = save_snapshot(Session(turns=[ChatTurn(role="user", content="small")]))
    (shared_dir() / f"{snap_id}.json").write_text(big.model_dump_json())  # grown on disk after saving
    _, messages, notice = handlers.load({"snap": snap_id})
    assert notice and "larger than" in notice and "xxxx" not in " ".join(_texts(messages))


def test_sharing_the_same_conversation_again_writes_no_new_snapshot(handlers, monkeypatch):
    """The share button pressed 200 times on a large conversation: one file on disk, not 200."""
    from assistant.config import get_settings
    from assistant.ui.share import share_link
    from assistant.ui.store import shared_dir

    noise = random.Random(1)
    big = Session(turns=[ChatTurn(role="user", content=noise.randbytes(3000).hex()) for _ in range(20)])
    links = {share_link(big, "http://127.0.0.1:7860") for _ in range(200)}
    assert len(links) == 1 and "?snap=" in links.pop()
    assert len(list(shared_dir().glob("*.json"))) == 1
    other = big.model_copy(update={"turns": [*big.turns, ChatTurn(role="user", content="one more")]})
    snap = share_link(other, "http://x").split("snap=")[1]
    assert len(list(shared_dir().glob("*.json"))) == 2
    sid, _, notice = handlers.load({"snap": snap})
    assert notice is None and handlers.store.get(sid).turns[-1].content == "one more"
    monkeypatch.setenv("SENTINELLE_SECRET_KEY", "another-server-" + "k" * 40)  # ids depend on the server's key
    get_settings.cache_clear()
    assert share_link(other, "http://x").split("snap=")[1] != snap


@pytest.mark.parametrize("url", [
    "javascript:window.__pwned=1",
    "http://attacker.example/{z}/{x}/{y}.png",
    "//attacker.example/{z}/{x}/{y}.png",
    "data:image/svg+xml,<svg onload=alert(1)>",
    "/tiles/scenes/../../gradio_api/file=/etc/passwd",
    "/gradio_api/file=/etc/passwd",
    "/api/uploads/x/'onerror='alert(1)",
])
def test_layers_only_on_this_servers_routes(handlers, url):
    session = Session(layers=[MapLayer(name="evil", kind="tiles", url=url, bounds=[0, 0, 1, 1])])
    _, messages, notice = handlers.load({"s": session.to_token()})
    assert notice and "outside this server" in notice


def test_restored_files_are_kept_only_inside_uploads_and_results(handlers, tmp_data_dir, tmp_path):
    from assistant.ui.share import result_files

    outside_tif = tmp_path / "elsewhere" / "secret.tif"
    outside_tif.parent.mkdir()
    shutil.copyfile(geodata_path(RGB_TIF), outside_tif)
    (tmp_data_dir / "chroma").mkdir(parents=True)
    (tmp_data_dir / "chroma" / "chroma.sqlite3").write_text("index")
    upload = tmp_data_dir / "uploads" / "ab"
    upload.mkdir(parents=True)
    kept_image = upload / "12345678_airport.jpg"
    shutil.copyfile(geodata_path(AID_JPG), kept_image)
    step = ToolStep(call_id="c", name="detect_change", status="done",
                    result=ToolResult(tool="detect_change", files=["/etc/passwd", str(tmp_data_dir / "chroma" /
                                                                                     "chroma.sqlite3")]))
    session = Session(
        turns=[ChatTurn(role="user", content="q1", image=str(outside_tif)),
               ChatTurn(role="assistant", content="a1", steps=[step]),
               ChatTurn(role="user", content="q2", image=str(kept_image))],
        context={"image": "/etc/passwd", "last_args": {"image": "/etc/shadow", "place": "Paris"}, "evil": {"x": 1}},
    )
    sid, messages, notice = handlers.load({"s": session.to_token()})
    assert notice is None
    restored = handlers.store.get(sid)
    assert restored.turns[0].image is None and restored.turns[2].image == str(kept_image)
    assert restored.context == {"last_args": {"place": "Paris"}}
    assert result_files(restored) == []
    assert not list(outside_tif.parent.glob("*_thumb.png")), "no thumbnail written beside a file outside uploads"
    shown = [m["content"]["path"] for m in messages if isinstance(m["content"], dict)]
    assert shown == [str(kept_image)]


def test_context_image_of_a_link_never_reaches_read_image(handlers):
    """The attack: a link whose context names a server file, then 'what does this image show?'."""
    session = Session(context={"image": "/etc/hostname", "scene_id": None})
    sid, _, notice = handlers.load({"s": session.to_token()})
    assert notice is None and "image" not in handlers.store.get(sid).context


def test_a_link_attaches_only_upload_files_no_result_traversal_or_symlink(handlers, tmp_data_dir, tmp_path):
    """A link's images (turn, context, image arguments) are copies an upload made, nothing else in the data dir."""
    from assistant.ui.upload import accept_upload

    upload = accept_upload(geodata_path(AID_JPG), "0123456789abcdef")  # a real upload: uploads/<sid>/<8 hex>_name
    results = tmp_data_dir / "results" / "change"
    results.mkdir(parents=True)
    result_tif = results / "0123abcd_score.tif"
    shutil.copyfile(geodata_path(RGB_TIF), result_tif)
    secret = tmp_path / "secret.jpg"
    shutil.copyfile(geodata_path(AID_JPG), secret)
    folder = upload.parent
    (folder / "deadbeef_link.jpg").symlink_to(secret)  # a link inside the session's folder, to a file outside
    (tmp_data_dir / "uploads" / "cafe0123").symlink_to(tmp_path)  # a session folder that is a link
    refused = [
        str(result_tif),  # a result file is no attachment
        str(tmp_data_dir / "uploads" / "0123456789abcdef" / ".." / ".." / "results" / "change" / result_tif.name),
        f"{folder}/../0123456789abcdef/{upload.name}",  # traversal, even back to the same file
        str(folder / "deadbeef_link.jpg"),
        str(tmp_data_dir / "uploads" / "cafe0123" / "secret.jpg"),
        str(tmp_data_dir / "uploads" / "cafe0123" / "0123abcd_secret.jpg"),
        str(tmp_data_dir / "secret_key"),
        str(tmp_data_dir / "uploads" / upload.name),  # not in a session folder
        str(folder / "notes_x.txt"),
        "uploads/0123456789abcdef/" + upload.name,  # relative to wherever the server runs
    ]
    for path in refused:
        session = Session(turns=[ChatTurn(role="user", content="q", image=path)],
                          context={"image": path, "last_args": {"image": path, "before_image": path}})
        sid, _, notice = handlers.load({"s": session.to_token()})
        restored = handlers.store.get(sid)
        assert notice is None and restored.turns[0].image is None, path
        assert "image" not in restored.context and restored.context["last_args"] == {}, path
    session = Session(turns=[ChatTurn(role="user", content="q", image=str(upload))],
                      context={"image": str(upload), "last_args": {"image": str(upload)}})
    sid, _, _ = handlers.load({"s": session.to_token()})
    restored = handlers.store.get(sid)
    assert restored.turns[0].image == restored.context["image"] == restored.context["last_args"]["image"] == str(upload)


def test_link_of_too_many_items_is_refused_before_parsing(handlers):
    from assistant.config import get_settings

    many = Session(layers=[MapLayer(name="many", kind="geojson", data={
        "type": "LineString", "coordinates": [[0, 0]] * (get_settings().link_max_items + 1)})])
    _, _, notice = handlers.load({"s": many.to_token()})
    assert notice and "items" in notice


def test_too_many_turns_or_layers_or_long_text_are_refused(handlers):
    from assistant.ui.restored import MAX_LAYERS, MAX_TEXT, MAX_TURNS

    cases = [
        Session(turns=[ChatTurn(role="user", content="q")] * (MAX_TURNS + 1)),
        Session(layers=[MapLayer(name=f"l{i}", kind="marker", point=[0, 0]) for i in range(MAX_LAYERS + 1)]),
        Session(turns=[ChatTurn(role="assistant", content="x" * (MAX_TEXT + 1))]),
    ]
    for session in cases:
        token = session.to_token()
        if len(token) > 4096:
            pytest.fail("test link too long for the default cap")
        _, _, notice = handlers.load({"s": token})
        assert notice and "refused" in notice


# --- 2. nothing from data becomes markup --------------------------------------------------------------------------


def test_chat_text_drops_markup_remote_images_and_server_paths(handlers, tmp_data_dir):
    from assistant.ui.safe_text import chat_text

    answer = f"Look {SCRIPT} {IMG_ONERROR} {REMOTE_IMAGE} and ![x][ref]\n\n[ref]: http://attacker.example/a.png"
    session = Session(turns=[ChatTurn(role="user", content=f"hi {IMG_ONERROR}"),
                             ChatTurn(role="assistant", content=answer)])
    _, messages, _ = handlers.load({"s": session.to_token()})
    text = " ".join(_texts(messages))
    assert "<" not in text and "onerror" not in text and "http://attacker" not in text
    assert "![" not in text and "tracker" in text
    assert chat_text(f"cannot read {tmp_data_dir}/uploads/abc/x.tif") == "cannot read x.tif"
    assert chat_text("between 2016/2017, see https://example.org/a/b") == "between 2016/2017, see https://example.org/a/b"
    # a link's text cannot hide where it leads (model output: a VLM reading a link off an image)
    assert chat_text("Open [your report](https://attacker.example/login).") == (
        "Open your report (https://attacker.example/login).")
    assert chat_text("[https://example.org](https://example.org)") == "https://example.org"
    assert "](" not in chat_text("[x](javascript:alert(1)) and [y](<https://a.example/b>)")


def test_server_errors_in_the_chat_name_no_server_path(handlers, tmp_data_dir):
    from assistant.errors import DataUnavailableError

    class Broken:
        def __init__(self, error: Exception) -> None:
            self.error = error

        def stream(self, message, image=None, session=None):
            raise self.error
            yield

    missing = f"{tmp_data_dir}/models/weights.bin"
    handlers.assistant = lambda: Broken(DataUnavailableError(f"model weights '{missing}' are not here"))
    sid, _, _ = handlers.load({})
    text = " ".join(_texts(list(handlers.respond(sid, "hello"))[-1]))
    assert "weights.bin" in text and str(tmp_data_dir) not in text  # a user-facing error keeps the file name only

    handlers.assistant = lambda: Broken(FileNotFoundError(f"[Errno 2] No such file: '{missing}'"))
    text = _texts(list(handlers.respond(sid, "hello again"))[-1])[-1]  # the new answer only
    assert "incident" in text and "weights.bin" not in text and "FileNotFoundError" not in text  # a bug: logged only


def test_map_pages_run_no_inline_script_and_escape_json(server):
    from assistant.ui.map import json_data_block

    client, handlers = server
    sid, _, _ = handlers.load({})
    response = client.get(f"/map/{sid}")
    page = response.text
    for tag in re.findall(r"<script[^>]*>", page):
        assert "src=" in tag or "application/json" in tag, tag
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    block = json_data_block("x", {"a": "</script><script>window.__pwned=1</script>", "b": "<!--"})
    assert block.count("<") == 2 and json.loads(block.split(">", 1)[1].rsplit("<", 1)[0])["b"] == "<!--"


def test_map_js_builds_no_markup_from_layer_data():
    """map.js: full escaping (quote included), no attribution from data, legends/popups as text nodes."""
    js = (Path(__file__).parents[1] / "assistant" / "ui" / "static" / "map.js").read_text()
    assert '"\'": "&#39;"' in js
    assert "attribution: st" not in js and "st.attribution" not in js
    assert "innerHTML" not in js and "onerror" not in js and "window.SENTINELLE_MAP_CONFIG" not in js
    assert "textContent" in js and "cleanStyle(spec.style)" in js


def test_every_map_script_builds_no_markup_from_data():
    """The comparison, time-slider and base-map scripts too: labels are text nodes, nothing is parsed as HTML."""
    static = Path(__file__).parents[1] / "assistant" / "ui" / "static"
    for script in sorted(static.glob("*.js")):
        js = script.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                     "setContent(", "divIcon"):
            assert sink not in js, (script.name, sink)
        labels = re.findall(r"(?:bindTooltip|bindPopup)\(([^,)]*)", js)
        labels += re.findall(r"addOverlay\([^,]*, *([^,)]*)", js)
        assert script.name != "map.js" or len(labels) >= 6
        for label in labels:  # a string there is HTML to Leaflet: escaped, a literal, or a DOM node made by el()
            assert label.startswith(("esc(", "el(", '"')) or label in ("text", "popup"), (script.name, label)


def test_a_hostile_place_name_reaches_the_map_as_data_only(server):
    """A user types markup as a place: the map's data carries it as a JSON string, the map page never holds it."""
    client, handlers = server
    sid, _, _ = handlers.load({})
    list(handlers.respond(sid, f"Where is {IMG_ONERROR}?"))
    state = client.get(f"/api/map/{sid}?rev=-1")
    assert state.headers["content-type"] == "application/json"
    assert state.headers["x-content-type-options"] == "nosniff"
    assert [layer["name"] for layer in state.json()["layers"]] == [f"place: {IMG_ONERROR}"]
    page = client.get(f"/map/{sid}").text
    assert "onerror" not in page and "<img" not in page


def test_report_escapes_everything_and_carries_a_csp(tmp_data_dir):
    from assistant.ui.share import report_html

    layer = MapLayer(name=f"evil {SCRIPT}", kind="geojson", legend={"x' onmouseover='alert(1)": "red"},
                     data={"type": "Feature", "geometry": {"type": "Point", "coordinates": [2, 48]},
                           "properties": {"popup": IMG_ONERROR}},
                     style={"attribution": IMG_ONERROR, "color": "red"})
    session = Session(turns=[ChatTurn(role="user", content=f"**q** {SCRIPT}"),
                             ChatTurn(role="assistant", content=f"{IMG_ONERROR} {REMOTE_IMAGE}",
                                      steps=[ToolStep(call_id="c", name=SCRIPT, args={"p": IMG_ONERROR},
                                                      error=SCRIPT)])],
                      layers=[layer])
    page = report_html(session, base_url="http://127.0.0.1:7860")
    nonce = re.search(r"script-src 'nonce-([^']+)'", page).group(1)
    assert "<meta http-equiv='Content-Security-Policy'" in page and "img-src 'self' data: blob: " \
        "http://127.0.0.1:7860" in page
    for tag in re.findall(r"<script[^>]*>", page):
        assert f"nonce='{nonce}'" in tag or "application/json" in tag, tag
    assert SCRIPT not in page and IMG_ONERROR not in page and "<img src=x" not in page
    assert "<img" not in page.split("<div class='conv'>", 1)[1].split("<script", 1)[0]


# --- 3. the server serves only what it should ----------------------------------------------------------------------


def _data_files(data: Path) -> list[Path]:
    files = []
    for rel in ("chroma/chroma.sqlite3", "models/head.pkl", "catalog/catalog.json", "shared_sessions/0123.json",
                "secret_key", "uploads/0123456789abcdef0123456789abcdef/1234abcd_x.png", "exports/sid/report.html"):
        path = data / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("private")
        files.append(path)
    return files


def test_no_file_is_read_through_any_route(server, tmp_data_dir):
    client, handlers = server
    sid, _, _ = handlers.load({})
    files = _data_files(tmp_data_dir)
    paths = ["/etc/passwd", "/etc/hostname", *map(str, files), f"{tmp_data_dir}/../data/secret_key"]
    for path in paths:
        for route in ("/gradio_api/file=", "/gradio_api/file/"):
            response = client.get(route + path)
            assert response.status_code in (403, 404) and "private" not in response.text, (route, path)
    assert client.get("/gradio_api/file=http://attacker.example/x.png").status_code == 403
    assert client.get("/gradio_api/proxy=http://attacker.example/x").status_code == 403
    for url in (f"/api/uploads/{sid}/..%2F..%2Fsecret_key", "/api/uploads/../../etc/passwd",
                "/api/uploads/0123456789abcdef0123456789abcdef/1234abcd_x.png",
                "/tiles/results/..%2F..%2Fsecret_key/0/0/0.png", "/tiles/results/%2Fetc%2Fpasswd/0/0/0.png",
                "/tiles/scenes/..%2F..%2Fetc%2Fpasswd/0/0/0.png",
                "/static/sentinelle/../../config.py", "/static/sentinelle/%2e%2e/%2e%2e/config.py",
                "/static/sentinelle/..%2F..%2F..%2Fsecret_key"):
        response = client.get(url)
        assert response.status_code in (400, 404) and "private" not in response.text, url


def test_gradio_path_checks_run_when_mounted(server, tmp_data_dir):
    """Under mount_gradio_app Gradio skipped its checks: a client-sent FileData path was copied in."""
    from gradio import processing_utils
    from gradio.context import LocalContext
    from gradio.exceptions import InvalidPathError

    from assistant.ui.layout import client_file_allowed

    client, _ = server
    blocks = next(r.app.get_blocks() for r in client.app.routes if hasattr(getattr(r, "app", None), "get_blocks"))
    assert blocks.has_launched
    block = next(iter(blocks.blocks.values()))
    secret = _data_files(tmp_data_dir)[0]
    token = LocalContext.blocks.set(blocks)
    try:
        for path in ("/etc/passwd", str(secret)):  # a path sent by the client as an 'upload'
            with pytest.raises(InvalidPathError):
                processing_utils.move_files_to_cache({"path": path, "meta": {"_type": "gradio.FileData"}}, block,
                                                     check_in_upload_folder=True)
        with pytest.raises(InvalidPathError):  # nor may a handler hand out a file of the index
            processing_utils.move_files_to_cache({"path": str(secret), "meta": {"_type": "gradio.FileData"}},
                                                 block, postprocess=True)
    finally:
        LocalContext.blocks.reset(token)
    assert not client_file_allowed("/etc/passwd") and not client_file_allowed(str(secret))


def test_allowed_paths_are_the_served_folders_only(tmp_data_dir):
    from assistant.ui.layout import launch_settings

    settings = launch_settings()
    data = tmp_data_dir.resolve()
    assert str(data) not in settings["allowed_paths"]
    assert {Path(p).relative_to(data).as_posix() for p in settings["allowed_paths"]} == {
        "uploads", "results", "exports", "ui/examples", "ui/thumbnails"}
    blocked = {Path(p) for p in settings["blocked_paths"]}
    assert {data / "chroma", data / "catalog", data / "models", data / "secret_key"} <= blocked


def test_thumbnails_are_written_only_inside_uploads(tmp_data_dir, tmp_path):
    from assistant.ui.upload import accept_upload, chat_image

    outside = tmp_path / "outside.tif"
    shutil.copyfile(geodata_path(RGB_TIF), outside)
    assert chat_image(outside) is None and not (tmp_path / "outside_thumb.png").exists()
    inside = accept_upload(outside, "0123456789abcdef")
    thumb = chat_image(inside)
    assert thumb and Path(thumb).parent == (tmp_data_dir / "uploads" / "0123456789abcdef")


def test_search_thumbnails_are_read_through_the_safe_opener(tmp_data_dir):
    """A thumbnail whose content is not what its name says, or a tiny PNG that promises 400 M pixels, is not
    decoded; a genuine picture still is."""
    import struct

    from assistant.ui.thumbnails import served_thumbnail

    folder = tmp_data_dir / "catalog" / "thumbs"
    folder.mkdir(parents=True)
    disguised = folder / "scene_thumb.png"
    shutil.copyfile(geodata_path(AID_JPG), disguised)  # a JPEG named .png
    bomb = folder / "bomb_thumb.png"  # a PNG header promising 20000 x 20000 pixels, a few bytes of data
    ihdr = struct.pack(">IIBBBBB", 20_000, 20_000, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
                     + struct.pack(">I", zlib.crc32(chunk)) + b"\x00\x00\x00\x00IEND\xaeB`\x82")
    tracemalloc.start()
    try:
        assert served_thumbnail(str(disguised)) is None and served_thumbnail(str(bomb)) is None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000
    genuine = folder / "ok_thumb.jpg"
    shutil.copyfile(geodata_path(AID_JPG), genuine)
    assert served_thumbnail(str(genuine)) is not None


def test_an_upload_name_with_markup_path_parts_or_250_characters_is_kept_short_and_plain(handlers, tmp_path):
    from assistant.ui.upload import accept_upload, upload_layers

    names = [f"{IMG_ONERROR}.tif", "..%2F..%2Fsecret_key.tif", "a" * 250 + ".tif"]
    for name in names:
        src = tmp_path / name
        shutil.copyfile(geodata_path(RGB_TIF), src)
        kept = accept_upload(src, "0123456789abcdef")
        assert kept.parent.name == "0123456789abcdef" and re.fullmatch(r"[0-9a-f]{8}_[A-Za-z0-9._-]{1,120}", kept.name)
        assert kept.suffix == ".tif" and kept.is_file()
        layers = upload_layers(kept, "0123456789abcdef")  # the preview beside it is a legal file name too
        assert layers and "<" not in layers[0].url and Path(kept.parent / layers[0].url.rsplit("/", 1)[1]).is_file()
    sid, _, _ = handlers.load({})
    src = tmp_path / ("b" * 250 + ".tif")
    shutil.copyfile(geodata_path(RGB_TIF), src)
    last = list(handlers.respond(sid, "what is this?", [str(src)]))[-1]
    assert "bands" in " ".join(_texts(last))  # answered (the fake reader), not a server error


def test_every_route_needs_login_when_auth_is_on(tmp_data_dir, monkeypatch):
    from assistant.config import get_settings
    from assistant.ui.handlers import Handlers
    from assistant.ui.server import build_app
    from assistant.ui.store import SessionStore

    monkeypatch.setenv("SENTINELLE_AUTH", "jury:s3cret")
    get_settings.cache_clear()
    handlers = Handlers(store=SessionStore(), assistant=FakeAssistant)
    sid, _, _ = handlers.load({})
    with TestClient(build_app(handlers)) as client:
        urls = ["/static/sentinelle/map.js", "/static/sentinelle/leaflet/leaflet.js", f"/map/{sid}",
                f"/api/map/{sid}?rev=0", f"/api/uploads/{sid}/x_preview.png", "/tiles/scenes/abc/0/0/0.png",
                "/tiles/results/x.tif/0/0/0.png", "/gradio_api/file=/tmp/gradio/x.png", "/config"]
        for url in urls:
            assert client.get(url).status_code == 401, url
        assert client.get("/healthz").status_code == 200
        assert client.post("/login", data={"username": "jury", "password": "s3cret"}).status_code == 200
        assert client.get("/static/sentinelle/map.js").status_code == 200
        assert client.get(f"/map/{sid}").status_code == 200


def test_pages_carry_a_csp_without_outside_origins(server):
    client, handlers = server
    sid, _, _ = handlers.load({})
    page = client.get("/")
    csp = page.headers["content-security-policy"]
    for directive in ("default-src 'self'", "img-src 'self' data: blob:", "connect-src 'self'",
                      "frame-ancestors 'self'"):
        assert directive in csp
    assert "http" not in csp and "*" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    map_csp = client.get(f"/map/{sid}").headers["content-security-policy"]
    assert "default-src 'none'" in map_csp and "http" not in map_csp  # offline: no base-map hosts either


# --- 4. memory and isolation ---------------------------------------------------------------------------------------


def _largest_link() -> str:
    """A link of the largest session a token may hold (close to `link_max_bytes` of JSON, dense in small objects)."""
    from assistant.config import get_settings

    settings = get_settings()
    limit, max_chars = settings.link_max_bytes, settings.link_max_chars
    n = min((limit - 400) // 6, settings.link_max_items - 20)
    while True:  # the most coordinates whose link still fits the length cap
        data = {"type": "LineString", "coordinates": [[0, 0]] * n}
        session = Session(layers=[MapLayer(name="big", kind="geojson", data=data)])
        token = session.to_token()
        if len(token) <= max_chars:
            break
        n = int(n * 0.97)
    assert n > 0.9 * (settings.link_max_items - 20)
    return token


@pytest.mark.slow
def test_memory_stays_bounded_under_100_loads_of_the_largest_link(handlers):
    token = _largest_link()
    process = psutil.Process()
    for _ in range(5):  # allocator warm-up
        assert handlers.load({"s": token})[2] is None
    rss_before = process.memory_info().rss
    for _ in range(100):
        assert handlers.load({"s": token})[2] is None
    grown = process.memory_info().rss - rss_before
    assert len(handlers.store) == 105
    assert handlers.store.memory_bytes() < 105 * 20_000  # held compressed, a few kB each
    assert grown < 60_000_000, f"RSS grew {grown / 1e6:.0f} MB over 100 loads"


def test_store_drops_least_recently_used_past_its_memory_budget():
    from assistant.ui.store import SessionStore

    store = SessionStore(max_bytes=50_000)
    noise = random.Random(0)
    sids = [store.create(Session(turns=[ChatTurn(role="user", content=noise.randbytes(6000).hex())]))
            for _ in range(20)]
    assert store.memory_bytes() <= 50_000 and len(store) < 20
    store.get(sids[-1])  # the latest is still there


def test_ten_concurrent_restored_sessions_keep_their_state_apart(handlers):
    places = ["Rennes", "Nantes", "Bordeaux", "Paris", "Saclay", "Pucallpa", "Rotterdam", "Atlanta", "Lyon", "Nice"]
    links = [Session(turns=[ChatTurn(role="user", content=f"about {p}")],
                     layers=[MapLayer(name=f"seed {p}", kind="marker", point=[i, i])]).to_token()
             for i, p in enumerate(places)]
    barrier = threading.Barrier(10)

    def user(i: int) -> str:
        barrier.wait()
        sid, _, notice = handlers.load({"s": links[i]})
        assert notice is None
        list(handlers.respond(sid, f"Where is {places[i]}?"))
        return sid

    with ThreadPoolExecutor(10) as pool:
        sids = list(pool.map(user, range(10)))
    assert len(set(sids)) == 10
    for place, sid in zip(places, sids, strict=True):
        session = handlers.store.get(sid)
        text = " ".join(t.content for t in session.turns)
        names = [layer.name for layer in session.layers]
        assert f"about {place}" in text and f"Where is {place}?" in text
        assert names == [f"seed {place}", f"place: {place}"]
        assert not any(other in text for other in places if other != place)


def test_an_overlong_question_is_refused_before_the_agent_or_the_upload(handlers, tmp_data_dir):
    """A 1 MB question (the real router takes 8 s of CPU on 200,000 characters) gets one line, and no work."""
    from assistant.config import get_settings

    calls = []

    class Counting:
        def stream(self, message, image=None, session=None):
            calls.append(len(message))
            yield from FakeAssistant().stream(message, image, session)

    handlers.assistant = Counting
    sid, _, _ = handlers.load({})
    limit = get_settings().question_max_chars
    question = "Where is Rennes? " * (1_000_000 // 17)
    last = list(handlers.respond(sid, question, [str(geodata_path(AID_JPG))]))[-1]
    assert calls == [] and not (tmp_data_dir / "uploads").exists()
    assert "characters long; the limit is" in _texts(last)[-1]
    stored = handlers.store.get(sid)
    assert sum(len(t.content) for t in stored.turns) < 400 and stored.layers == []
    list(handlers.respond(sid, ("Where is Rennes? " * limit)[:limit]))  # at the limit: answered
    assert calls == [limit]


# --- 5. the CLI ----------------------------------------------------------------------------------------------------


def test_change_out_onto_an_existing_file_is_a_one_line_error(tmp_path, capsys):
    from assistant.cli import main

    root = geodata_path("levir-dsifn-samples/DSIFN")
    existing = tmp_path / "notes.txt"
    existing.write_text("keep me")
    rc = main(["change", str(root / "A" / "1_1.png"), str(root / "B" / "1_1.png"), "--out", str(existing),
               "--method", "cva", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "notes.txt" in err and "Traceback" not in err
    assert existing.read_text() == "keep me"
