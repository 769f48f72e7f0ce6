"""Agent events -> chat messages: each tool call a collapsible step with status and duration, errors inline.

`TurnBuilder` folds the event stream of one question into a `ChatTurn` (the stored form, with its tool steps);
`turn_messages` renders stored turns as Gradio chatbot messages, so a live answer and a restored deep link
look the same.
"""

from __future__ import annotations

import json
from typing import Any

from assistant.events import (
    Done,
    ErrorEvent,
    LayerAdded,
    MapLayer,
    TextDelta,
    ToolFinished,
    ToolProgress,
    ToolStarted,
)
from assistant.session import ChatTurn, Session, ToolStep
from assistant.ui.safe_text import chat_text

TOOL_TITLES = {
    "locate_place": "Tool · locate_place",
    "find_scenes": "Tool · find_scenes",
    "read_image": "Tool · read_image",
    "detect_change": "Tool · detect_change",
}
MAX_FACT_CHARS = 160


class TurnBuilder:
    """Accumulates one answer from events; `messages()` can be called after every event to stream it."""

    def __init__(self) -> None:
        self.steps: list[ToolStep] = []
        self.progress: dict[str, tuple[float, str]] = {}
        self.text = ""
        self.errors: list[str] = []
        self.layers: list[MapLayer] = []
        self.language: str | None = None
        self.done = False

    def feed(self, event: Any) -> None:
        """Fold one agent event into the turn."""
        if isinstance(event, ToolStarted):
            self.steps.append(ToolStep(call_id=event.call_id, name=event.name, args=event.args))
        elif isinstance(event, ToolProgress):
            self.progress[event.call_id] = (event.fraction, event.message)
        elif isinstance(event, ToolFinished):
            step = self._step(event.call_id, event.name, event.args)
            step.status = "done" if event.ok else "error"
            step.duration_s = event.duration_s
            step.result = event.result
            step.error = event.error
            if event.error in self.errors:  # the failed step shows it already, and the answer says it
                self.errors.remove(event.error)
            self.progress.pop(event.call_id, None)
        elif isinstance(event, LayerAdded):
            self.layers.append(event.layer)
        elif isinstance(event, TextDelta):
            self.text += event.text
        elif isinstance(event, ErrorEvent):
            self.errors.append(event.message)
        elif isinstance(event, Done):
            self.done = True
            self.language = event.language
            if event.answer and not self.text.strip():
                self.text = event.answer

    def fail(self, message: str) -> None:
        """The stream itself broke (a bug or a server crash): say so in the chat instead of hanging."""
        self.errors.append(message)
        for step in self.steps:
            if step.status == "running":
                step.status = "error"
                step.error = step.error or message
        self.done = True

    def _step(self, call_id: str, name: str, args: dict[str, Any]) -> ToolStep:
        for step in self.steps:
            if step.call_id == call_id:
                return step
        step = ToolStep(call_id=call_id, name=name, args=args)
        self.steps.append(step)
        return step

    def to_turn(self) -> ChatTurn:
        """The stored form of the answer (errors are kept as part of the text so a deep link shows them)."""
        content = self.text
        if self.errors:
            content = "\n\n".join([*(f"⚠️ {e}" for e in self.errors), content]).strip()
        return ChatTurn(role="assistant", content=content, steps=self.steps, language=self.language)

    def messages(self) -> list[dict[str, Any]]:
        """Chatbot messages of the turn so far (running steps show their latest progress)."""
        out = [step_message(step, self.progress.get(step.call_id)) for step in self.steps]
        out += [{"role": "assistant", "content": chat_text(f"⚠️ {e}")} for e in self.errors]
        if self.text:
            out.append({"role": "assistant", "content": chat_text(self.text)})
        elif not self.done:
            out.append({"role": "assistant", "content": "…"})
        return out


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_FACT_CHARS else text[: MAX_FACT_CHARS - 1] + "…"


def step_message(step: ToolStep, progress: tuple[float, str] | None = None) -> dict[str, Any]:
    """One tool call as a collapsible chatbot message (Gradio shows metadata title/status/duration)."""
    lines = []
    if step.args:
        args = ", ".join(f"{k}={_short(v)}" for k, v in step.args.items() if v not in (None, "", []))
        lines.append(f"**arguments:** `{args}`" if args else "**arguments:** none")
    if step.status == "running" and progress:
        lines.append(f"⏳ {progress[0] * 100:.0f}% — {progress[1]}")
    if step.error:
        lines.append(f"⚠️ {step.error}")
    if step.result is not None:
        facts = {k: v for k, v in step.result.facts.items() if k != "answer"}
        for key, value in list(facts.items())[:12]:
            lines.append(f"- {key}: {_short(value)}")
        if step.result.model:
            lines.append(f"*model: {step.result.model}*")
        if step.result.layers:
            lines.append("*map: " + ", ".join(layer.name for layer in step.result.layers) + "*")
        if step.result.files:
            lines.append("*files: " + ", ".join(f.rsplit("/", 1)[-1] for f in step.result.files) + "*")
    title = TOOL_TITLES.get(step.name, f"Tool · {chat_text(step.name)[:80]}")
    if step.status == "error":
        title += " — failed"
    status = "pending" if step.status == "running" else "done"
    metadata: dict[str, Any] = {"title": title, "id": step.call_id, "status": status}
    if step.duration_s is not None:
        metadata["duration"] = round(step.duration_s, 2)
    return {"role": "assistant", "content": chat_text("\n".join(lines)) or "…", "metadata": metadata}


def user_messages(turn: ChatTurn) -> list[dict[str, Any]]:
    """A user's question, with its attached image shown above the text when there is one."""
    from assistant.ui.upload import chat_image

    out: list[dict[str, Any]] = []
    shown = chat_image(turn.image) if turn.image else None
    if shown:
        out.append({"role": "user", "content": {"path": shown, "alt_text": "attached image"}})
    elif turn.image:
        out.append({"role": "user", "content": f"(attached: {turn.image.rsplit('/', 1)[-1].split('_', 1)[-1]})"})
    if turn.content:
        out.append({"role": "user", "content": chat_text(turn.content)})
    return out


def turn_messages(turn: ChatTurn) -> list[dict[str, Any]]:
    """Stored turn -> chatbot messages."""
    if turn.role == "user":
        return user_messages(turn)
    out = [step_message(step) for step in turn.steps]
    if turn.content:
        out.append({"role": "assistant", "content": chat_text(turn.content)})
    return out


def session_messages(session: Session) -> list[dict[str, Any]]:
    """The whole conversation of a session as chatbot messages (used on load and for deep links)."""
    return [message for turn in session.turns for message in turn_messages(turn)]
