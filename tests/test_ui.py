"""UI logic without a browser: events -> chat, session isolation, deep links, uploads, exports."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.warp import transform_bounds

sys.path.insert(0, str(Path(__file__).parent / "e2e"))

from fake_agent import FakeAssistant  # noqa: E402

from assistant.errors import BadInputError  # noqa: E402
from assistant.events import (  # noqa: E402
    Done,
    ErrorEvent,
    MapLayer,
    TextDelta,
    ToolFinished,
    ToolProgress,
    ToolResult,
    ToolStarted,
)
from assistant.session import ChatTurn, Session  # noqa: E402
from tools.data import geodata_path  # noqa: E402

RGB_TIF = "rasterio-fixtures/RGB.byte.tif"
AID_JPG = "aid-scenes/Airport/airport_1.jpg"
CHANGE_Q = "What changed around Saclay between 2016 and 2017?"


@pytest.fixture
def handlers(tmp_data_dir):
    from assistant.ui.handlers import Handlers
    from assistant.ui.store import SessionStore

    fake = FakeAssistant()
    return Handlers(store=SessionStore(), assistant=lambda: fake)


def _last(gen):
    return list(gen)[-1]


def _texts(messages):
    return [m["content"] for m in messages if isinstance(m["content"], str)]


def test_tool_steps_render_with_status_duration_and_errors():
    from assistant.turns import TurnFold
    from assistant.ui.chat import live_messages

    builder = TurnFold()
    builder.feed(ToolStarted(call_id="a", name="detect_change", args={"place": "Saclay"}))
    builder.feed(ToolProgress(call_id="a", name="detect_change", fraction=0.4, message="scoring tiles"))
    running = live_messages(builder)[0]
    assert running["metadata"]["status"] == "pending"
    assert "40%" in running["content"] and "scoring tiles" in running["content"]
    result = ToolResult(tool="detect_change", facts={"changed_area_ha": 3.5}, model="galileo")
    builder.feed(ToolFinished(call_id="a", name="detect_change", args={"place": "Saclay"}, duration_s=1.234,
                              ok=True, result=result))
    builder.feed(ToolStarted(call_id="b", name="locate_place", args={"place": "Atlantis"}))
    builder.feed(ToolFinished(call_id="b", name="locate_place", args={}, duration_s=0.1, ok=False, error="unknown"))
    builder.feed(ErrorEvent(message="vLLM server did not answer within 30 s"))
    builder.feed(TextDelta(text="3.5 ha "))
    builder.feed(TextDelta(text="changed."))
    builder.feed(Done(answer="3.5 ha changed.", language="en"))
    messages = live_messages(builder)
    done, failed = messages[0], messages[1]
    assert done["metadata"] == {"title": "Tool · detect_change", "id": "a", "status": "done", "duration": 1.23}
    assert "changed_area_ha: 3.5" in done["content"] and "galileo" in done["content"]
    assert failed["metadata"]["title"].endswith("failed") and "unknown" in failed["content"]
    assert "⚠️ vLLM server did not answer within 30 s" in _texts(messages)
    assert messages[-1]["content"] == "3.5 ha changed."
    turn = builder.turn()
    assert [s.status for s in turn.steps] == ["done", "error"] and turn.language == "en"


def test_a_failed_tool_error_is_shown_once_in_its_step():
    """A failed tool is one ToolFinished(ok=False): its message shows once, in the step, and not in the text."""
    from assistant.turns import TurnFold
    from assistant.ui.chat import live_messages

    builder = TurnFold()
    message = "I don't know a place called 'Qwzxyville'"
    builder.feed(ToolStarted(call_id="a", name="locate_place", args={"place": "Qwzxyville"}))
    builder.feed(ToolFinished(call_id="a", name="locate_place", args={}, duration_s=0.1, ok=False, error=message))
    builder.feed(Done(answer="The place lookup found nothing.", language="en"))
    assert message not in builder.turn().content
    texts = [m["content"] for m in live_messages(builder)]
    assert sum(message in t for t in texts) == 1
    assert message in texts[0]


def test_broken_stream_ends_with_a_message(handlers):
    class Broken:
        def stream(self, message, image=None, session=None):
            yield ToolStarted(call_id="x", name="find_scenes", args={"query": message})
            raise RuntimeError("index corrupted")

    handlers.assistant = lambda: Broken()
    sid, _, _ = handlers.load({})
    final = _last(handlers.respond(sid, "Trouve des images d'aéroports"))
    texts = _texts(final)
    assert any("went wrong on the server while answering (incident" in t for t in texts)
    assert not any("index corrupted" in t or "RuntimeError" in t for t in texts)  # the log has it, not the user
    assert final[1]["metadata"]["status"] == "done" and "failed" in final[1]["metadata"]["title"]


def test_answer_streams_and_layers_reach_the_map_store(handlers):
    sid, messages, notice = handlers.load({})
    assert messages == [] and notice is None
    snapshots = list(handlers.respond(sid, CHANGE_Q))
    assert len(snapshots) > 5, "each event should yield an update"
    partial = [_texts(s)[-1] for s in snapshots if _texts(s)]
    assert any(p.startswith("Around") and not p.endswith("polygon). ") for p in partial), "text should stream"
    rev, state = handlers.store.map_state(sid)
    names = [layer["name"] for layer in state["layers"]]
    assert names == ["Scene footprint", "Change polygons"]
    with rasterio.open(geodata_path(
        "oscd-s2/images/saclay_e/imgs_1/S2A_OPER_MSI_L1C_TL_SGS__20160315T201048_A003809_T31UDP_B04.tif"
    )) as ds:
        expected = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    assert state["layers"][0]["bounds"] == pytest.approx(list(expected))
    session = handlers.store.get(sid)
    assert [t.role for t in session.turns] == ["user", "assistant"]
    assert session.turns[1].steps[0].name == "detect_change"


def test_sessions_never_mix(handlers):
    sids = [handlers.load({})[0] for _ in range(10)]
    assert len(set(sids)) == 10
    image = str(geodata_path(RGB_TIF))
    for i, sid in enumerate(sids):
        if i % 2:
            _last(handlers.respond(sid, CHANGE_Q))
        else:
            _last(handlers.respond(sid, f"question {i}", [image]))
    for i, sid in enumerate(sids):
        session = handlers.store.get(sid)
        names = {layer.name for layer in session.layers}
        if i % 2:
            assert names == {"Scene footprint", "Change polygons"}
            assert session.turns[0].content == CHANGE_Q
        else:
            assert names == {"Upload: RGB.byte.tif", "Upload footprint: RGB.byte.tif"}
            assert session.turns[0].content == f"question {i}"


def test_deep_link_restores_chat_and_layers_under_a_new_id(handlers):
    from assistant.ui.share import share_link

    sid, _, _ = handlers.load({})
    final = _last(handlers.respond(sid, CHANGE_Q))
    link = share_link(handlers.store.get(sid), "http://example.test:7860")
    assert link.startswith("http://example.test:7860/?s=")
    token = link.split("?s=", 1)[1]
    sid2, messages, notice = handlers.load({"s": token})
    assert sid2 != sid and notice is None
    assert _texts(messages) == _texts(final)
    assert messages[1]["metadata"]["title"] == "Tool · detect_change"
    assert handlers.store.map_state(sid2)[1]["layers"] == handlers.store.map_state(sid)[1]["layers"]
    # the copy is independent: a follow-up in the restored tab leaves the original alone
    _last(handlers.respond(sid2, CHANGE_Q))
    assert len(handlers.store.get(sid).turns) == 2 and len(handlers.store.get(sid2).turns) == 4


def test_large_session_links_to_a_server_snapshot(handlers):
    from assistant.ui.share import share_link

    sid, _, _ = handlers.load({})
    session = handlers.store.get(sid)
    ring = [[2.0 + i * 1e-4, 48.0 + (i % 7) * 1e-3] for i in range(3000)]
    session.add_layer(MapLayer(name="big", kind="geojson", data={"type": "LineString", "coordinates": ring}))
    session.turns.append(ChatTurn(role="user", content="big"))
    link = share_link(session, "http://h")
    assert "?snap=" in link
    sid2, messages, notice = handlers.load({"snap": link.split("snap=", 1)[1]})
    assert notice is None and _texts(messages) == ["big"]
    assert handlers.store.get(sid2).layers[0].data["coordinates"][-1] == ring[-1]


def test_damaged_or_unknown_link_says_so(handlers):
    _, messages, notice = handlers.load({"s": "not-a-token"})
    assert notice and "damaged" in notice and "⚠️" in messages[-1]["content"]
    _, _, notice = handlers.load({"snap": "../../etc/passwd"})
    assert notice and "not valid" in notice
    _, _, notice = handlers.load({"snap": "0123456789abcdef"})
    assert notice and "expired" in notice


def test_upload_too_large_gives_a_chat_message(handlers, monkeypatch):
    from assistant.config import get_settings

    monkeypatch.setenv("SENTINELLE_UPLOAD_MAX_MB", "0.1")
    get_settings.cache_clear()
    sid, _, _ = handlers.load({})
    final = _last(handlers.respond(sid, "what is this?", [str(geodata_path(RGB_TIF))]))
    assert "upload limit is 0.1 MB" in final[-1]["content"]
    assert handlers.store.get(sid).layers == []


def test_georeferenced_upload_is_shown_where_it_is(tmp_data_dir):
    from assistant.ui.upload import accept_upload, preview_file, upload_layers

    path = accept_upload(geodata_path(RGB_TIF), "abcdef0123456789")
    assert path.is_relative_to(tmp_data_dir)
    layers = upload_layers(path, "abcdef0123456789")
    assert [layer.kind for layer in layers] == ["image", "bounds"]
    with rasterio.open(geodata_path(RGB_TIF)) as ds:
        expected = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds, densify_pts=21)
    assert layers[1].bounds == pytest.approx(list(expected))
    name = layers[0].url.rsplit("/", 1)[1]
    preview = preview_file("abcdef0123456789", name)
    from PIL import Image

    with Image.open(preview) as im:
        assert im.mode == "RGBA" and max(im.size) <= 1024
        opaque = np.asarray(im.getchannel("A")) > 0
    assert 0.3 < opaque.mean() < 1.0, "the image is drawn, its nodata corners are transparent"
    with pytest.raises(BadInputError):
        preview_file("..", name)
    with pytest.raises(BadInputError):
        preview_file("abcdef0123456789", "../" + name)


def test_plain_image_upload_has_no_map_layer_and_bad_files_are_refused(tmp_data_dir, tmp_path):
    from assistant.ui.upload import accept_upload, chat_image, upload_layers

    jpg = accept_upload(geodata_path(AID_JPG), "abcdef0123456789")
    assert upload_layers(jpg, "abcdef0123456789") == []
    assert chat_image(jpg) == str(jpg)
    tif = accept_upload(geodata_path(RGB_TIF), "abcdef0123456789")
    assert chat_image(tif).endswith("_thumb.png")
    corrupt = tmp_path / "broken.tif"
    corrupt.write_bytes(b"II*\x00garbage" * 10)
    with pytest.raises(BadInputError, match="^broken.tif is not a readable GeoTIFF"):
        accept_upload(corrupt, "abcdef0123456789")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(BadInputError, match="not an image"):
        accept_upload(text, "abcdef0123456789")


def test_exports_geojson_report_and_result_files(handlers, tmp_data_dir, tmp_path):
    from assistant.ui.share import export_files, layers_geojson, result_files

    sid, _, _ = handlers.load({})
    _last(handlers.respond(sid, CHANGE_Q))
    session = handlers.store.get(sid)
    inside = tmp_data_dir / "results" / "change.geojson"
    inside.parent.mkdir(parents=True, exist_ok=True)
    inside.write_text("{}")
    outside = tmp_path / "elsewhere.tif"
    outside.write_text("x")
    session.turns[1].steps[0].result.files = [str(inside), str(outside)]
    assert result_files(session) == [inside.resolve()]
    fc = layers_geojson(session)
    kinds = sorted(f["geometry"]["type"] for f in fc["features"])
    assert kinds == ["Polygon", "Polygon"]
    assert {f["properties"]["layer"] for f in fc["features"]} == {"Scene footprint", "Change polygons"}
    paths = export_files(session, sid, base_url="http://127.0.0.1:7860")
    assert [p.suffix for p in paths] == [".geojson", ".html", ".geojson"]
    assert json.loads(paths[0].read_text())["features"][1]["properties"]["area_ha"] == 12.5
    report = paths[1].read_text()
    assert "L.map" in report and "Change polygons" in report and CHANGE_Q in report
    assert "<script src=" not in report and "<link" not in report, "report must be self-contained"


def test_status_line_names_the_models(monkeypatch):
    from assistant.config import get_settings
    from assistant.ui.handlers import models_status

    monkeypatch.setenv("SENTINELLE_LLM_BACKEND", "openai")
    monkeypatch.setenv("SENTINELLE_LLM_MODEL", "Qwen/Qwen2.5-VL-7B-Instruct")
    monkeypatch.setenv("SENTINELLE_VLM_BACKEND", "offline")
    get_settings.cache_clear()
    line = models_status()
    assert "Qwen/Qwen2.5-VL-7B-Instruct" in line and "vLLM" in line and "offline facts" in line
    monkeypatch.setenv("SENTINELLE_LLM_BACKEND", "embedded")
    get_settings.cache_clear()
    assert "offline semantic router" in models_status() and "Qwen" not in models_status().split("·")[0]


def test_session_token_roundtrip_keeps_steps():
    from assistant.ui.chat import session_messages

    session = Session(turns=[ChatTurn(role="user", content="Where is Rennes?")])
    restored = Session.from_token(session.to_token())
    assert session_messages(restored) == [{"role": "user", "content": "Where is Rennes?"}]


def test_new_conversation_empties_chat_and_map(handlers):
    sid, _, _ = handlers.load({})
    _last(handlers.respond(sid, CHANGE_Q))
    rev_before, _ = handlers.store.map_state(sid)
    assert handlers.clear(sid) == []
    rev, state = handlers.store.map_state(sid)
    assert rev > rev_before and state["layers"] == [] and handlers.store.get(sid).turns == []


def test_expired_session_answers_with_a_message(handlers):
    final = _last(handlers.respond("0123456789abcdef0123456789abcdef", "Where is Rennes?"))
    assert final == [{"role": "assistant", "content": "⚠️ This session has expired; reload the page."}]
