"""The agent: one question in, one typed event stream out (see assistant/events.py for the order).

Planning is either the offline router (`assistant.planner.router`) or an LLM tool-calling loop
(`assistant.planner.llm_loop`), chosen by `assistant.llm.planner_mode`. Tools run in a worker thread so their
progress streams while they work. Answers in router mode are composed from `prompts/answers/` templates filled
with tool facts only (`assistant.answers`); the embedded LLM is not used to phrase them (measured: the 135M model
drops or alters numbers, see the agent report), so nothing in an answer comes from anywhere but a tool.
Errors a user can cause end as an `ErrorEvent` plus a clear answer; the session goes on.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from assistant import answers
from assistant.config import Settings, get_settings
from assistant.errors import NotFoundError, SentinelleError
from assistant.events import (
    Done,
    ErrorEvent,
    Event,
    LayerAdded,
    TextDelta,
    ToolFinished,
    ToolProgress,
    ToolResult,
    ToolStarted,
)
from assistant.llm import planner_mode
from assistant.planner.arguments import detect_language
from assistant.planner.router import Plan, Router, get_router
from assistant.session import ChatTurn, Session, ToolStep

log = logging.getLogger(__name__)
POLL_S = 0.05


class ToolOutcome:
    """What a tool run left behind: its result or its error (filled while the events stream)."""

    def __init__(self, call_id: str, name: str, args: dict[str, Any]):
        self.call_id, self.name, self.args = call_id, name, args
        self.result: ToolResult | None = None
        self.error: str | None = None
        self.internal = False
        self.not_found = False
        self.duration_s = 0.0

    @property
    def step(self) -> ToolStep:
        return ToolStep(call_id=self.call_id, name=self.name, args=self.args,
                        status="done" if self.result is not None else "error", duration_s=round(self.duration_s, 3),
                        result=self.result, error=self.error)


def run_tool_events(name: str, args: dict[str, Any], outcome: ToolOutcome) -> Iterator[Event]:
    """Run a tool in a worker thread; yield ToolStarted, ToolProgress*, ToolFinished, LayerAdded*."""
    from assistant.registry import run_tool

    yield ToolStarted(call_id=outcome.call_id, name=name, args=args)
    progress_q: queue.Queue[tuple[float, str]] = queue.Queue()
    box: dict[str, Any] = {}

    def progress(fraction: float, message: str) -> None:
        progress_q.put((float(fraction), str(message)))

    def work() -> None:
        try:
            box["result"] = run_tool(name, args, progress)
        except BaseException as exc:  # noqa: BLE001 - handed to the stream below
            box["error"] = exc

    start = time.perf_counter()
    worker = threading.Thread(target=work, name=f"tool-{name}", daemon=True)
    worker.start()
    while worker.is_alive() or not progress_q.empty():
        try:
            fraction, message = progress_q.get(timeout=POLL_S)
        except queue.Empty:
            continue
        yield ToolProgress(call_id=outcome.call_id, name=name, fraction=max(0.0, min(1.0, fraction)), message=message)
    worker.join()
    outcome.duration_s = time.perf_counter() - start
    error = box.get("error")
    if error is None and not isinstance(box.get("result"), ToolResult):
        error = TypeError(f"{name} returned {type(box.get('result')).__name__}, not a ToolResult")
    if error is not None:
        if isinstance(error, SentinelleError):
            outcome.error = str(error)
            outcome.not_found = isinstance(error, NotFoundError)
        else:
            log.error("tool %s failed", name, exc_info=error)
            outcome.error = f"{type(error).__name__}: {error}"
            outcome.internal = True
        yield ErrorEvent(message=outcome.error)
        yield ToolFinished(call_id=outcome.call_id, name=name, args=args, duration_s=round(outcome.duration_s, 3),
                           ok=False, error=outcome.error)
        return
    outcome.result = box["result"]
    yield ToolFinished(call_id=outcome.call_id, name=name, args=args, duration_s=round(outcome.duration_s, 3),
                       ok=True, result=outcome.result)
    for layer in outcome.result.layers:
        yield LayerAdded(layer=layer)


def text_chunks(text: str, size: int = 24) -> Iterator[str]:
    """Split an answer into small pieces at word boundaries so the UI streams it."""
    pieces = re.findall(r"\S+\s*", text)
    buf = ""
    for piece in pieces:
        buf += piece
        if len(buf) >= size:
            yield buf
            buf = ""
    if buf:
        yield buf


def availability_hint(tool: str, args: dict[str, Any], language: str) -> str | None:
    """When a search found nothing for a place/date: which dates the catalog does hold there (or that it holds none)."""
    place = args.get("place")
    if tool not in ("find_scenes", "detect_change") or not place:
        return None
    try:
        from tools.catalog import open_catalog
        from tools.places import resolve_place

        bbox = resolve_place(place).bbox
        items = open_catalog().search(bbox=bbox)
    except Exception as exc:  # noqa: BLE001 - a hint is optional
        log.info("no availability hint: %s", exc)
        return None
    if not items:
        return answers.render("common", "hint_no_scenes", language, place=place)
    dates = sorted({it.datetime.date().isoformat() for it in items if getattr(it, "datetime", None)})
    platforms = sorted({str(it.properties.get("constellation") or it.properties.get("platform") or "")
                        for it in items} - {""})
    shown = ", ".join(dates[:8]) + (" …" if len(dates) > 8 else "")
    return answers.render("common", "hint_dates", language, place=place, count=len(items), dates=shown,
                          platforms=", ".join(platforms))


def update_context(session: Session, name: str, args: dict[str, Any], result: ToolResult | None) -> None:
    """Remember what a follow-up may refer to: last tool and arguments, place, scenes, image."""
    ctx = session.context
    ctx["last_tool"] = name
    ctx["last_args"] = {k: v for k, v in args.items() if k not in ("question", "language")}
    if args.get("place"):
        ctx["place"] = args["place"]
    if args.get("image"):
        ctx["image"] = args["image"]
    if args.get("start_date") or args.get("end_date"):
        ctx["dates"] = [args.get("start_date"), args.get("end_date")]
    if result is None:
        return
    facts = result.facts or {}
    if name == "locate_place" and facts.get("name"):
        ctx["place"] = facts["name"]
    scenes = facts.get("scenes")
    if name == "find_scenes" and isinstance(scenes, list) and scenes:
        ctx["scene_ids"] = [str(s) for s in scenes]
        ctx["scene_id"] = str(scenes[0])
    if result.layers:
        bounds = next((lay.bounds for lay in result.layers if lay.bounds), None)
        if bounds:
            session.view = {"bounds": bounds}


def _warm_tool_modules() -> None:
    """Best effort: import the tool modules and let them load what they can (a missing one is not an error here)."""
    import importlib

    for name in ("tools.search.query", "tools.reader", "tools.change"):
        try:
            module = importlib.import_module(name)
            if callable(getattr(module, "warm_up", None)):
                module.warm_up()
            elif name == "tools.search.query" and callable(getattr(module, "open_index", None)):
                module.open_index()
        except Exception as exc:  # noqa: BLE001 - warm-up must never stop the app
            log.info("warm-up of %s skipped: %s", name, exc)


class Assistant:
    """Sentinelle's agent. `stream()` is the only entry point the UI and CLI need."""

    def __init__(self, settings: Settings | None = None, router: Router | None = None, chat_model: Any = None):
        self._settings = settings
        self._router = router
        self._chat_model = chat_model  # tests inject a LangChain fake; else built from settings

    @property
    def settings(self) -> Settings:
        return self._settings or get_settings()

    @property
    def router(self) -> Router:
        if self._router is None:
            self._router = get_router()
        return self._router

    @property
    def mode(self) -> str:
        if self._chat_model is not None and self.settings.planner != "router":
            return "llm"
        return planner_mode(self.settings)

    def chat_model(self) -> Any:
        if self._chat_model is None:
            from assistant.llm import get_chat_model

            self._chat_model = get_chat_model(self.settings)
        return self._chat_model

    def warm_up(self) -> None:
        """Load what the first question would otherwise wait for (app start): embeddings, router, gazetteer."""
        from tools.places import warm_up as places_warm_up
        from tools.text_embed import warm_up as embed_warm_up

        embed_warm_up()
        _ = self.router.matrix
        self.router.plan("Where is Paris?")
        places_warm_up()
        _warm_tool_modules()
        if self.mode == "llm":
            self.chat_model()

    # --- planning only (eval) --------------------------------------------------------------------------------

    def plan(self, message: str, image: str | None = None, session: Session | None = None) -> Plan:
        """The router's decision for a message, without running anything."""
        return self.router.plan(message, image, (session.context if session else None))

    # --- one question ---------------------------------------------------------------------------------------

    def stream(self, message: str, image: str | None = None, session: Session | None = None) -> Iterator[Event]:
        """Answer one message; yields events in the documented order and updates `session`."""
        session = session if session is not None else Session()
        language = detect_language(message)
        session.turns.append(ChatTurn(role="user", content=message, image=image, language=language))
        steps: list[ToolStep] = []
        if self.mode == "llm":
            from assistant.planner.llm_loop import run_llm_loop

            result_box: dict[str, Any] = {}
            yield from run_llm_loop(self, message, image, session, language, steps, result_box)
            answer = result_box.get("answer", "")
            language = result_box.get("language", language)
        else:
            answer, language = yield from self._router_turn(message, image, session, steps)
            for chunk in text_chunks(answer):
                yield TextDelta(text=chunk)
        session.turns.append(ChatTurn(role="assistant", content=answer, steps=steps, language=language))
        if image:  # the latest attachment, whatever the tool: 'what changed since the previous image?' compares to it
            session.context["image"] = image
        yield Done(answer=answer, language=language)

    def _router_turn(self, message: str, image: str | None, session: Session, steps: list[ToolStep]):
        """Router mode: plan, run at most one tool, compose the answer. Returns (answer, language)."""
        try:
            plan = self.plan(message, image, session)
        except SentinelleError as exc:
            yield ErrorEvent(message=str(exc))
            lang = detect_language(message)
            return answers.error_answer("router", str(exc), lang), lang
        language = plan.language
        session.context["last_plan"] = {"tool": plan.tool, "args": plan.args, "clarify": plan.clarify}
        if plan.tool == "none":
            return answers.small_talk(message, language), language
        if plan.clarify:
            return answers.clarify(plan.clarify, language), language
        outcome = ToolOutcome(uuid.uuid4().hex[:8], plan.tool, plan.args)
        try:
            yield from run_tool_events(plan.tool, plan.args, outcome)
        finally:
            steps.append(outcome.step)
        update_context(session, plan.tool, plan.args, outcome.result)
        if outcome.result is None:
            text = answers.error_answer(plan.tool, outcome.error or "?", language, internal=outcome.internal,
                                        not_found=outcome.not_found)
            if outcome.not_found:
                hint = availability_hint(plan.tool, plan.args, language)
                text = f"{text} {hint}".strip() if hint else text
            return text, language
        for layer in outcome.result.layers:
            session.add_layer(layer)
        return answers.compose(outcome.result, plan.args, language), language
