"""The agent: one question in, one typed event stream out (see assistant/events.py for the order).

Planning is either the offline router (`assistant.planner.router`) or an LLM tool-calling loop
(`assistant.planner.llm_loop`), chosen by `assistant.llm.planner_mode`. Tools run in a worker thread so their
progress streams while they work. Answers in router mode are composed from `prompts/answers/` templates filled
with tool facts only (`assistant.answers`); the embedded LLM is not used to phrase them (measured: the 135M model
drops or alters numbers, see the agent report), so nothing in an answer comes from anywhere but a tool.
Errors a user can cause end as a failed `ToolFinished` (or an `ErrorEvent` when no tool failed) plus a clear
answer; the session goes on. The agent reads the `Session` (history, follow-up context) and never writes it: the
caller folds the events into it (`assistant.turns`).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

from assistant import answers
from assistant.config import Settings, get_settings
from assistant.errors import SentinelleError
from assistant.events import Clarify, ContextUpdated, Done, ErrorEvent, Event, Planned, PlannedCall, TextDelta
from assistant.llm import planner_mode
from assistant.planner.language import detect_language
from assistant.planner.llm_loop import run_llm_loop
from assistant.planner.router import Plan, Router, get_router
from assistant.session import Session
from assistant.tool_runs import ToolOutcome, attached_files, context_update, run_tool_events

log = logging.getLogger(__name__)


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
    site = tool == "measure_theme" and args.get("lon") is not None and args.get("lat") is not None
    if tool not in ("find_scenes", "detect_change", "measure_theme") or not (place or site):
        return None
    try:
        from tools.catalog import open_catalog
        from tools.places import resolve_place

        if site:  # a site watch: the scenes over its buffer
            from tools.services.areas import site_polygon

            lon, lat = float(args["lon"]), float(args["lat"])
            bbox = list(site_polygon(lon, lat, float(args.get("radius_km") or 1.0)).bounds)
            place = place or f"{lon:.4f}, {lat:.4f}"
        else:
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
        """Answer one message; yields events in the documented order. `session` is read, never changed."""
        session = session if session is not None else Session()
        language = detect_language(message)
        if self.mode == "llm":
            result_box: dict[str, Any] = {}
            yield from run_llm_loop(self.chat_model(), self.settings, message, image, session, language, result_box)
            answer = result_box.get("answer", "")
            language = result_box.get("language", language)
            if image:  # the latest attachment: 'what changed since the previous image?' compares to it
                yield ContextUpdated(context={"image": image})
        else:
            answer, language = yield from self._router_turn(message, image, session)
            for chunk in text_chunks(answer):
                yield TextDelta(text=chunk)
        yield Done(answer=answer, language=language)

    def _router_turn(self, message: str, image: str | None, session: Session):
        """Router mode: plan, run at most one tool, compose the answer. Returns (answer, language)."""
        try:
            plan = self.plan(message, image, session)
        except SentinelleError as exc:
            yield ErrorEvent(message=str(exc))
            lang = detect_language(message)
            return answers.question_error(exc, lang), lang
        language = plan.language
        note = answers.plan_notes(plan.notes, plan.args, language)
        image_context = {"image": image} if image else {}
        if plan.clarify and plan.tool != "none":
            question = answers.clarify(plan.clarify, language)
            yield Clarify(tool=plan.tool, args=plan.args, key=plan.clarify, question=question)
            if image_context:
                yield ContextUpdated(context=image_context)
            return question, language
        calls = [] if plan.tool == "none" else [PlannedCall(name=plan.tool, args=plan.args)]
        yield Planned(calls=calls, language=language, follow_up=plan.follow_up)
        if plan.tool == "none":
            if image_context:
                yield ContextUpdated(context=image_context)
            return answers.small_talk(message, language), language
        outcome = ToolOutcome(uuid.uuid4().hex[:8], plan.tool, plan.args)
        yield from run_tool_events(plan.tool, plan.args, outcome, attached_files(image, session))
        update = context_update(plan.tool, plan.args, outcome.result)
        yield update.model_copy(update={"context": update.context | image_context})
        if outcome.result is None:
            text = answers.error_answer(plan.tool, outcome.error or "?", language, internal=outcome.internal,
                                        not_found=outcome.not_found)
            if outcome.not_found and "dates held" not in (outcome.error or ""):  # the tool listed them already
                hint = availability_hint(plan.tool, plan.args, language)
                text = f"{text} {hint}".strip() if hint else text
            return f"{note} {text}".strip(), language
        return f"{note} {answers.compose(outcome.result, plan.args, language)}".strip(), language
