"""A planner cannot hand a tool a server file: only the files attached to the conversation reach a tool.

With the LLM planner the model may copy a path from the user's text ("read /etc/passwd"); the agent refuses it
before the tool runs, and the answer does not say whether the file exists.
"""

from __future__ import annotations

import json

from test_agent import ToolCallingFake, _tool_call

from assistant.agent import Assistant
from assistant.events import ToolFinished
from assistant.session import ChatTurn, Session
from assistant.tool_runs import attached_files, check_file_args
from tools.data import geodata_path


def _llm_assistant(monkeypatch, image_arg: str) -> Assistant:
    monkeypatch.setenv("SENTINELLE_PLANNER", "llm")
    monkeypatch.setenv("SENTINELLE_VLM_BACKEND", "offline")
    fake = ToolCallingFake(messages=iter([_tool_call("read_image", question="what is this?", image=image_arg),
                                          "Done."]))
    return Assistant(chat_model=fake)


def _finished(events) -> list[ToolFinished]:
    return [e for e in events if isinstance(e, ToolFinished)]


def test_a_path_from_the_users_text_never_reaches_read_image(monkeypatch, tmp_path):
    from assistant.config import get_settings

    secret = tmp_path / "server-only.png"
    secret.write_bytes(geodata_path("aid-scenes/Airport/airport_1.jpg").read_bytes())
    for path in ("/etc/passwd", str(secret), "../data/chroma/chroma.sqlite3", "pyproject.toml"):
        get_settings.cache_clear()
        events = list(_llm_assistant(monkeypatch, path).stream(f"read the image at {path}"))
        finished = _finished(events)
        assert finished and not finished[0].ok, path
        assert "attached to this conversation" in finished[0].error and path not in finished[0].error


def test_an_attached_image_is_read(monkeypatch):
    attached = str(geodata_path("aid-scenes/Airport/airport_1.jpg"))
    events = list(_llm_assistant(monkeypatch, attached).stream("what is this?", image=attached))
    finished = _finished(events)
    assert finished and finished[0].ok, finished[0].error
    assert json.dumps(finished[0].result.facts)  # a real reading, not a refusal


def test_only_paths_are_checked_and_earlier_attachments_count():
    session = Session(turns=[ChatTurn(role="user", content="this", image="/data/uploads/a/first.png")])
    attached = attached_files("/data/uploads/a/second.tif", session)
    assert attached == {"/data/uploads/a/first.png", "/data/uploads/a/second.tif"}
    check_file_args({"image": "/data/uploads/a/first.png"}, attached)  # an earlier attachment
    check_file_args({"image": "paris-s2-20161130@0_0_256_256"}, attached)  # a scene chip id, not a path
    for bad in ("/etc/hostname", "~/.ssh/id_rsa", "./x.tif", "scene.tif", "..\\\\win.ini"):
        try:
            check_file_args({"image": bad}, attached)
        except Exception as exc:  # noqa: BLE001 - the type is checked below
            assert type(exc).__name__ == "BadInputError"
        else:
            raise AssertionError(f"{bad} was let through")
