"""LLM planner: a LangChain tool-calling loop for capable backends (vLLM / any OpenAI-compatible server).

The model streams; text pieces become `TextDelta` events as they arrive, tool-call fragments are merged
(`AIMessageChunk` addition) and, when the turn ends with tool calls, they are announced (`Planned`), run (events
and all) and their facts fed back as `ToolMessage`s. The whole model call runs under one deadline
(`llm_timeout_s`), so a down or stalled server ends in a clear answer within that time and the session goes on.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from assistant import answers
from assistant.config import PROMPTS_DIR, Settings
from assistant.errors import ModelUnavailableError
from assistant.events import ErrorEvent, Event, Planned, PlannedCall, TextDelta
from assistant.registry import TOOL_NAMES, langchain_tools
from assistant.session import Session
from assistant.tool_runs import ToolOutcome, attached_files, context_update, run_tool_events

log = logging.getLogger(__name__)
MAX_STEPS = 4
HISTORY_TURNS = 6
LANGUAGE_NAMES = {"en": "English", "fr": "French"}
_END = object()


def system_prompt(language: str) -> str:
    text = (PROMPTS_DIR / "system.md").read_text(encoding="utf-8")
    return text.replace("{language_name}", LANGUAGE_NAMES.get(language, "English"))


def planner_messages(message: str, image: str | None, session: Session, language: str) -> list[Any]:
    """System prompt, the last turns of the conversation, and the new question (with the attached image path)."""
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    messages: list[Any] = [SystemMessage(content=system_prompt(language))]
    for turn in session.turns[-HISTORY_TURNS:]:  # the conversation before this question
        if turn.role == "user":
            messages.append(HumanMessage(content=turn.content))
        elif turn.content:
            messages.append(AIMessage(content=turn.content))
    content = message
    if image:
        content += f"\n\n[attached image: {image}]"
    if session.context.get("scene_ids"):
        content += f"\n[scenes found earlier: {', '.join(session.context['scene_ids'][:5])}]"
    messages.append(HumanMessage(content=content))
    return messages


def _stream_with_deadline(model: Any, messages: list[Any], deadline: float) -> Iterator[Any]:
    """Chunks of `model.stream(messages)`, read in a thread so a stalled server cannot block past `deadline`."""
    chunks: queue.Queue[Any] = queue.Queue()

    def pump() -> None:
        try:
            for chunk in model.stream(messages):
                chunks.put(chunk)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            chunks.put(exc)
        finally:
            chunks.put(_END)

    threading.Thread(target=pump, name="llm-stream", daemon=True).start()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ModelUnavailableError("no complete answer within the configured timeout")
        try:
            item = chunks.get(timeout=remaining)
        except queue.Empty as exc:
            raise ModelUnavailableError("no complete answer within the configured timeout") from exc
        if item is _END:
            return
        if isinstance(item, BaseException):
            raise item
        yield item


def _text_of(chunk: Any) -> str:
    content = getattr(chunk, "content", "")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _describe_llm_error(exc: BaseException, timeout: float) -> str:
    name = type(exc).__name__
    if isinstance(exc, ModelUnavailableError):
        return f"{exc} ({timeout:g} s)"
    if "Timeout" in name:
        return f"timed out after {timeout:g} s"
    if "Connection" in name or "connect" in str(exc).lower():
        return "connection refused or unreachable"
    return f"{name}: {str(exc).splitlines()[0] if str(exc) else ''}".strip(": ")


def run_llm_loop(
    chat_model: Any, settings: Settings, message: str, image: str | None, session: Session, language: str,
    out: dict[str, Any],
) -> Iterator[Event]:
    """Run the loop; yields plan, tool and text events; puts the full answer and its language in `out`.

    `session` is read (history, scenes found earlier), never changed."""
    from langchain_core.messages import ToolMessage

    timeout = float(settings.llm_timeout_s)
    try:
        model = chat_model.bind_tools(langchain_tools())
    except Exception as exc:  # noqa: BLE001 - a model that cannot bind tools is a configuration error
        msg = f"the language model cannot call tools ({type(exc).__name__}); use SENTINELLE_PLANNER=router"
        yield ErrorEvent(message=msg)
        out["answer"] = answers.error_answer("llm", msg, language)
        yield TextDelta(text=out["answer"])
        return
    messages = planner_messages(message, image, session, language)
    text = ""
    streamed = ""  # every text piece sent, across steps (the UI shows all of it)
    last: tuple[Any, dict[str, Any]] | None = None
    finished = False
    for _step in range(MAX_STEPS):
        deadline = time.monotonic() + timeout
        full = None
        text = ""
        try:
            for chunk in _stream_with_deadline(model, messages, deadline):
                full = chunk if full is None else full + chunk
                piece = _text_of(chunk)
                if piece:
                    text += piece
                    streamed += piece
                    yield TextDelta(text=piece)
        except Exception as exc:  # noqa: BLE001 - server down, slow, or a protocol error
            reason = _describe_llm_error(exc, timeout)
            log.warning("LLM call failed: %s", reason)
            yield ErrorEvent(message=f"language model unavailable: {reason}")
            answer = answers.render("common", "llm_down", language, message=reason, url=settings.llm_base_url)
            yield TextDelta(text=("\n\n" if streamed else "") + answer)
            out["answer"] = (streamed + "\n\n" + answer) if streamed else answer
            out["language"] = language
            return
        calls = list(getattr(full, "tool_calls", None) or []) if full is not None else []
        if not calls:
            finished = True
            break
        messages.append(full)
        runnable = []
        for call in calls:
            name = call.get("name")
            call_id = call.get("id") or uuid.uuid4().hex[:8]
            args = dict(call.get("args") or {})
            if name not in TOOL_NAMES:
                error = json.dumps({"error": f"unknown tool {name}"})
                messages.append(ToolMessage(content=error, tool_call_id=call_id))
                continue
            if name == "read_image" and image and not args.get("image") and not args.get("scene_id"):
                args["image"] = image
            if name == "read_image":
                args.setdefault("language", language)
            runnable.append((name, call_id, args))
        if runnable:
            yield Planned(calls=[PlannedCall(name=n, args=a) for n, _c, a in runnable], language=language)
        for name, call_id, args in runnable:
            outcome = ToolOutcome(call_id, name, args)
            yield from run_tool_events(name, args, outcome, attached_files(image, session))
            yield context_update(name, args, outcome.result)
            if outcome.result is not None:
                last = (outcome.result, args)
                payload = {"tool": name, "facts": outcome.result.facts, "model": outcome.result.model}
            else:
                payload = {"tool": name, "error": outcome.error}
            messages.append(ToolMessage(content=json.dumps(payload, default=str, ensure_ascii=False)[:8000],
                                        tool_call_id=call_id))
    if (not finished or not text.strip()) and last is not None:
        # the model ran out of steps or said nothing after the tools: answer from the facts with the templates
        fallback = answers.compose(last[0], last[1], language)
        fallback = ("\n\n" if streamed else "") + fallback
        yield TextDelta(text=fallback)
        streamed += fallback
    out["answer"] = streamed
    out["language"] = language
