"""A measure's chart is shown under the answer in the chat (live and restored) and inlined in the HTML report; a
picture outside the results folder is never shown."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest

from tools.data import geodata_path

NAIP = ["m_4709963_se_14_1_20090818.tif", "m_4709963_se_14_1_20150926.tif", "m_4709963_se_14_1_20200831.tif"]
WATER_Q = "How did the open water of the North Dakota lakes evolve from 2009 to 2020?"


@pytest.fixture
def handlers(tmp_data_dir):
    from assistant.agent import Assistant
    from assistant.ui.handlers import Handlers
    from assistant.ui.store import SessionStore
    from tools.catalog import open_catalog

    open_catalog().ingest([geodata_path(f"naip-timeseries/{n}") for n in NAIP], place="North Dakota")
    agent = Assistant()
    return Handlers(store=SessionStore(), assistant=lambda: agent)


def _images(messages):
    return [m for m in messages if isinstance(m["content"], dict) and "path" in m["content"]]


def test_a_measure_answer_shows_its_chart_under_the_answer_and_in_the_report(handlers, tmp_data_dir):
    from assistant.ui.chat import session_messages
    from assistant.ui.layout import launch_settings
    from assistant.ui.share import report_html

    sid, _, _ = handlers.load({})
    final = list(handlers.respond(sid, WATER_Q))[-1]
    session = handlers.store.get(sid)
    step = session.turns[1].steps[0]
    assert step.name == "measure_theme" and step.status == "done"
    chart = Path(step.result.files[0])
    assert chart.name == "chart.png"
    images = _images(final)
    assert [m["content"]["path"] for m in images] == [str(chart)]
    answer_at = max(i for i, m in enumerate(final) if isinstance(m["content"], str) and "open water" in m["content"])
    assert final.index(images[0]) > answer_at, "the chart comes under the answer"
    assert images[0]["role"] == "assistant" and "chart" in images[0]["content"]["alt_text"]
    # Gradio may serve it: inside an allowed path, and the data dir root itself is not allowed
    allowed = [Path(p) for p in launch_settings()["allowed_paths"]]
    assert any(chart.resolve().is_relative_to(p) for p in allowed)
    assert tmp_data_dir.resolve() not in allowed
    # a restored conversation shows it the same way
    assert _images(session_messages(session)) == images
    # the report inlines the PNG itself (no link to the server)
    report = report_html(session)
    payload = base64.b64encode(chart.read_bytes()).decode()
    assert f"src='data:image/png;base64,{payload}'" in report
    assert report.count("<img class='chart'") == 1


def test_pictures_outside_the_results_folder_or_not_png_are_not_shown(tmp_data_dir, tmp_path):
    from assistant.session import ChatTurn, Session, ToolStep
    from assistant.ui.chat import turn_messages
    from assistant.ui.share import conversation_html
    from tools.core.results import ToolResult

    outside = tmp_path / "chart.png"
    shutil.copyfile(geodata_path("aid-scenes/Airport/airport_1.jpg"), outside)  # not even a PNG, and outside
    fake_png = tmp_data_dir / "results" / "services" / "x" / "chart.png"
    fake_png.parent.mkdir(parents=True)
    fake_png.write_bytes(b"<script>alert(1)</script>")
    result = ToolResult(tool="measure_theme", files=[str(outside), str(fake_png)])
    turn = ChatTurn(role="assistant", content="done", steps=[ToolStep(call_id="a", name="measure_theme", args={},
                                                                       status="done", result=result)])
    shown = _images(turn_messages(turn))
    assert [m["content"]["path"] for m in shown] == [str(fake_png)]  # served as a file, never inlined as markup
    html = conversation_html(Session(turns=[ChatTurn(role="user", content="q"), turn]))
    assert "data:image/png" not in html and "alert(1)" not in html
