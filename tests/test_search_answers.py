"""Search answers people read: chips grouped by scene, scenes in words (no raw ids), the user's spelling echoed, and
the chat's thumbnail strip whose click flies the map to the scene. On a real catalog: the four SpaceNet Rotterdam
scenes of the mirror, chipped at 100 px (31 chips), asked the walkthrough's question through the real agent."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from helpers.search_data import build_rotterdam

from tools.data import geodata_path

QUESTION_FR = "Trouve des images de zones industrielles près du port de Rotterdam"


@pytest.fixture(scope="module")
def rotterdam(tmp_path_factory):
    """A data dir whose catalog holds the Rotterdam scenes and whose index holds their chips."""
    data = tmp_path_factory.mktemp("rotterdam") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SENTINELLE_DATA_DIR", str(data))
        for name in ("SENTINELLE_CATALOG_DIR", "SENTINELLE_CHROMA_PATH"):
            mp.delenv(name, raising=False)
        calls: list[tuple[float, str]] = []
        items = build_rotterdam(data, progress=lambda fraction, message: calls.append((fraction, message)))
        yield data, items, calls
    from assistant.config import get_settings

    get_settings.cache_clear()


@pytest.fixture
def data_dir(rotterdam, monkeypatch):
    data, _, _ = rotterdam
    monkeypatch.setenv("SENTINELLE_DATA_DIR", str(data))
    from assistant.config import get_settings

    get_settings.cache_clear()
    return data


def test_indexing_reports_its_setup_then_each_batch_of_chips(rotterdam):
    _, _, calls = rotterdam
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert "image encoder" in calls[0][1] and calls[1][1] == "counting the chips of 4 scenes"
    chips = [m for _, m in calls if m.endswith(" chips")]
    assert len(chips) >= 4 and chips[-1].endswith("31/31 chips")  # 31 chips of 100 px, a call per batch or scene


def _ask(question: str):
    from assistant.agent import Assistant
    from assistant.events import Done, ToolFinished

    events = list(Assistant().stream(question))
    finished = [e for e in events if isinstance(e, ToolFinished) and e.name == "find_scenes"]
    assert finished and finished[0].ok, events
    assert isinstance(events[-1], Done)
    return events, finished[0].result, events[-1]


def test_french_search_answer_lists_each_scene_once_in_words_and_keeps_the_accents(data_dir, rotterdam):
    _, items, _ = rotterdam
    events, result, done = _ask(QUESTION_FR)
    rows, scenes = result.facts["results"], result.facts["scene_results"]
    assert len(rows) > len(scenes) >= 2  # several chips of one scene: grouped
    assert [s["scene_id"] for s in scenes] == list(dict.fromkeys(r["scene_id"] for r in rows))
    assert sum(s["chips"] for s in scenes) == len(rows)
    answer = done.answer
    assert "« zones industrielles près du port »" in answer  # the user's words, accents kept
    assert "pres " not in answer
    for item in items:  # no raw id in the text (they stay in the facts)
        assert item.id not in answer
    assert "@" not in answer
    assert "12 mars 2018" in answer and "image SpaceNet de Rotterdam" in answer
    assert f"dans {len(scenes)} scènes" in answer and f"{len(rows)} tuiles" in answer
    listed = answer.split("Les meilleures : ", 1)[1].split(". Leurs emprises", 1)[0].split("\u202f; ")
    assert len(listed) == min(3, len(scenes)) and len(set(listed)) == len(listed)  # told apart (centre coordinates)
    for scene, label in zip(scenes, listed, strict=False):
        assert f"{scene['chips']} tuiles" in label if scene["chips"] > 1 else "tuile" not in label


def test_english_answer_says_the_sensor_place_and_date_in_words(data_dir):
    _, result, done = _ask("Find industrial areas near Rotterdam")
    assert '"industrial areas"' in done.answer
    assert "SpaceNet image of Rotterdam, 12 March 2018" in done.answer
    assert not re.search(r"rotterdam-\w+-[0-9a-f]{6,}", done.answer)


def test_chat_shows_the_top_scenes_thumbnails_and_a_click_flies_the_map_there(data_dir):
    from assistant.agent import Assistant
    from assistant.ui.handlers import Handlers
    from assistant.ui.store import SessionStore
    from assistant.ui.thumbnails import thumbs_root

    handlers = Handlers(store=SessionStore(), assistant=Assistant)
    sid = handlers.store.create()
    messages = list(handlers.respond(sid, QUESTION_FR))[-1]
    strip = messages[-1]
    assert strip["role"] == "assistant" and isinstance(strip["content"], list)
    session = handlers.store.get(sid)
    scenes = session.turns[-1].steps[-1].result.facts["scene_results"]
    assert len(strip["content"]) == min(len(scenes), 6)
    for item, scene in zip(strip["content"], scenes, strict=False):
        path = Path(item["path"])
        assert path.parent == thumbs_root() and path.is_file() and path.read_bytes()[:4] == b"\x89PNG"
        assert scene["scene_id"] not in item["alt_text"] and "Rotterdam" in item["alt_text"]
    assert len({item["alt_text"] for item in strip["content"]}) == len(strip["content"])
    # the restored conversation (deep link) shows the same strip
    from assistant.ui.chat import session_messages

    assert session_messages(session)[-1] == strip

    # Gradio 6 sends the clicked image as {'component': 'image', 'value': FileData}; the file is Gradio's cached copy
    second = Path(strip["content"][1]["path"]).name
    clicked = {"component": "image", "value": {"path": f"/tmp/gradio/abc123/{second}", "url": f"/file={second}"}}
    rev = handlers.store.revision(sid)
    assert handlers.focus(sid, clicked)
    _, state = handlers.store.map_state(sid)
    assert state["view"]["bounds"] == pytest.approx(scenes[1]["bbox"]) and state["view"]["focus"]
    assert handlers.store.revision(sid) == rev + 1  # the map's long poll wakes up
    first_focus = state["view"]["focus"]
    assert handlers.focus(sid, clicked)
    assert handlers.store.map_state(sid)[1]["view"]["focus"] != first_focus  # a second click flies again
    assert not handlers.focus(sid, {"component": "image", "value": {"path": "/tmp/x/other.png"}})
    assert not handlers.focus(sid, "J'ai trouvé …")  # a click on the text


def test_thumbnails_are_copied_only_from_the_data_folders(data_dir, tmp_path):
    from PIL import Image

    from assistant.ui.thumbnails import served_thumbnail, thumbs_root

    outside = tmp_path / "elsewhere.png"
    Image.new("RGB", (8, 8)).save(outside)
    assert served_thumbnail(str(outside)) is None
    assert served_thumbnail("/etc/passwd") is None
    assert served_thumbnail(str(data_dir / "secret_key")) is None
    aid = served_thumbnail(str(geodata_path("aid-scenes/Airport/airport_1.jpg")))  # the sample data mirror
    assert aid is not None and aid.parent == thumbs_root()
    with Image.open(aid) as img:
        assert max(img.size) <= 192
    assert os.path.realpath(aid).startswith(os.path.realpath(data_dir))
