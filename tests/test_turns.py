"""The one fold of agent events (`assistant.turns`): the real router and gazetteer, the UI handler, the CLI record."""

from __future__ import annotations

import pytest

from assistant.agent import Assistant
from assistant.events import ContextUpdated, ErrorEvent, LayerAdded, ToolFinished
from assistant.session import Session
from assistant.turns import TurnFold, converse, fold

pytestmark = pytest.mark.usefixtures("empty_catalog")
UNKNOWN = "Qwzxyville"


@pytest.fixture(autouse=True)
def _router_planner(monkeypatch):
    monkeypatch.setenv("SENTINELLE_PLANNER", "router")


@pytest.fixture(scope="module")
def agent():
    return Assistant()


def test_a_failed_tool_gives_exactly_one_error_line(agent):
    from assistant.ui.chat import live_messages, turn_messages

    events = list(agent.stream(f"Where is {UNKNOWN}?"))
    failed = [e for e in events if isinstance(e, ToolFinished)]
    assert len(failed) == 1 and not failed[0].ok and UNKNOWN in failed[0].error
    assert not any(isinstance(e, ErrorEvent) for e in events)  # the failure is reported by its step only
    folded = TurnFold.of(events)
    assert folded.failures == [failed[0].error]
    live = [m["content"] for m in live_messages(folded)]
    stored = [m["content"] for m in turn_messages(folded.turn())]
    for messages in (live, stored):
        assert sum(text.count("⚠️") for text in messages) == 1, messages
        assert failed[0].error in messages[0]  # in the step, where the tool is named
    assert folded.turn().steps[0].status == "error"


def test_layers_appear_once_in_the_fold_the_session_and_the_ui_store(agent):
    from assistant.ui.handlers import Handlers
    from assistant.ui.store import SessionStore

    events = list(agent.stream("Where is Rennes?"))
    added = [e.layer.name for e in events if isinstance(e, LayerAdded)]
    assert added and TurnFold.of(events).layers == [e.layer for e in events if isinstance(e, LayerAdded)]
    session = Session()
    for _ in range(2):  # the same question twice: the new marker replaces the old one
        list(converse(agent, "Where is Rennes?", session=session))
    assert [layer.name for layer in session.layers] == added and len(session.turns) == 4

    handlers = Handlers(store=SessionStore(), assistant=lambda: agent)  # live layers, then the final record
    sid, _, _ = handlers.load({})
    list(handlers.respond(sid, "Where is Rennes?"))
    stored = handlers.store.get(sid)
    assert [layer.name for layer in stored.layers] == added
    assert [t.role for t in stored.turns] == ["user", "assistant"] and stored.turns[1].steps[0].status == "done"
    assert handlers.store.map_state(sid)[1]["layers"][0]["name"] == added[0]


def test_follow_up_context_carries_to_the_next_question_through_the_fold(agent):
    session = Session()
    events = list(converse(agent, "Where is Rennes?", session=session))
    update = next(e for e in events if isinstance(e, ContextUpdated))
    assert update.context["place"] == "Rennes" and session.context["place"] == "Rennes"
    assert session.view == update.view and update.view["bounds"]
    plan = agent.plan("What changed there between 2016 and 2017?", session=session)
    assert plan.tool == "detect_change"
    assert plan.args == {"place": "Rennes", "start_date": "2016-01-01", "end_date": "2017-12-31"}
    follow = list(converse(agent, "And Lyon?", session=session))  # the last tool, a new place
    finished = next(e for e in follow if isinstance(e, ToolFinished))
    assert finished.name == "locate_place" and finished.args == {"place": "Lyon"} and finished.ok
    assert session.context["place"] == "Lyon"
    assert Session().context == {} and fold([]).content == ""  # nothing is shared between sessions


def test_a_clarifying_question_is_an_event_and_the_cli_lists_the_call_not_run(agent):
    from assistant.commands.ask import answer_record

    events = list(agent.stream("What changed between 2016 and 2017?"))
    folded = TurnFold.of(events)
    assert folded.clarify is not None and folded.steps == [] and folded.text == folded.clarify.question
    record = answer_record(agent, "What changed between 2016 and 2017?", None)
    assert record["tool_calls"] == [{"name": folded.clarify.tool, "args": folded.clarify.args, "executed": False}]
    assert record["answer"] == folded.clarify.question and "errors" not in record
    failed = answer_record(agent, f"Where is {UNKNOWN}?", None)
    assert len(failed["errors"]) == 1 and UNKNOWN in failed["errors"][0]
