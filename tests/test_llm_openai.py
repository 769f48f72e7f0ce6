"""The vLLM path: ChatOpenAI against a scripted OpenAI-compatible server on loopback (streamed tool calls)."""

from __future__ import annotations

import time

import pytest
from helpers.openai_server import ScriptedOpenAIServer, free_port

from assistant.agent import Assistant
from assistant.events import Done, ErrorEvent, TextDelta, ToolFinished, ToolStarted
from assistant.llm import planner_mode
from assistant.session import Session
from assistant.turns import converse


@pytest.fixture
def openai_env(monkeypatch):
    def configure(base_url: str, timeout: float = 5.0) -> None:
        monkeypatch.setenv("SENTINELLE_LLM_BACKEND", "openai")
        monkeypatch.setenv("SENTINELLE_LLM_BASE_URL", base_url)
        monkeypatch.setenv("SENTINELLE_LLM_MODEL", "Qwen/Qwen2.5-7B-Instruct")
        monkeypatch.setenv("SENTINELLE_LLM_TIMEOUT_S", str(timeout))
        monkeypatch.setenv("SENTINELLE_LLM_MAX_RETRIES", "0")
        monkeypatch.setenv("SENTINELLE_PLANNER", "auto")
        from assistant.config import get_settings

        get_settings.cache_clear()

    return configure


def test_streamed_tool_call_then_answer(openai_env):
    script = [("tool", "locate_place", {"place": "Pucallpa"}), ("text", "Pucallpa is a town in Peru.")]
    with ScriptedOpenAIServer(script) as server:
        openai_env(server.base_url)
        assert planner_mode() == "llm"
        session = Session()
        events = list(Assistant().stream("Where is Pucallpa?", session=session))
    started = next(e for e in events if isinstance(e, ToolStarted))
    assert started.name == "locate_place" and started.args == {"place": "Pucallpa"}
    finished = next(e for e in events if isinstance(e, ToolFinished))
    assert finished.ok and finished.result.facts["country"] == "Peru"
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Pucallpa is a town in Peru."
    assert isinstance(events[-1], Done) and events[-1].answer == "Pucallpa is a town in Peru."
    first, second = server.requests
    assert first["stream"] is True and {t["function"]["name"] for t in first["tools"]} == {
        "locate_place", "find_scenes", "read_image", "detect_change", "measure_theme"}
    tool_msgs = [m for m in second["messages"] if m["role"] == "tool"]
    assert tool_msgs and tool_msgs[0]["tool_call_id"] == "chatcmpl-tool-1a2b" and "Peru" in tool_msgs[0]["content"]


def test_server_down_gives_a_clear_answer(openai_env):
    openai_env(f"http://127.0.0.1:{free_port()}/v1", timeout=3.0)
    session = Session()
    events = list(converse(Assistant(), "Where is Lyon?", session=session))
    assert isinstance(events[0], ErrorEvent) and "unavailable" in events[0].message
    assert isinstance(events[-1], Done) and "did not answer" in events[-1].answer
    assert "127.0.0.1" in events[-1].answer  # says which server to check
    assert len(session.turns) == 2


def test_slow_server_is_cut_at_the_configured_timeout(openai_env):
    with ScriptedOpenAIServer([("stall",)]) as server:
        openai_env(server.base_url, timeout=1.0)
        start = time.monotonic()
        events = list(Assistant().stream("Où se trouve Lyon ?"))
        elapsed = time.monotonic() - start
    assert elapsed < 5.0  # the 30 s stall is cut near the 1 s timeout, not waited for
    assert isinstance(events[-1], Done) and events[-1].language == "fr"
    assert "n'a pas répondu" in events[-1].answer
