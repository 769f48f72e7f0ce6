"""Answers -> chat messages: each tool call a collapsible step with status and duration, errors inline, a search
answer's top scenes as a thumbnail strip.

`live_messages` renders an answer while it streams (the events folded by `assistant.turns.TurnFold`);
`turn_messages` renders stored turns as Gradio chatbot messages, so a live answer and a restored deep link
look the same.
"""

from __future__ import annotations

import json
from typing import Any

from assistant.session import ChatTurn, Session, ToolStep
from assistant.turns import TurnFold
from assistant.ui.figures import figure_messages
from assistant.ui.safe_text import chat_text

TOOL_TITLES = {
    "locate_place": "Tool · locate_place",
    "find_scenes": "Tool · find_scenes",
    "read_image": "Tool · read_image",
    "detect_change": "Tool · detect_change",
}
MAX_FACT_CHARS = 160


def live_messages(folded: TurnFold) -> list[dict[str, Any]]:
    """Chatbot messages of an answer so far (running steps show their latest progress, failures their message
    once: a failed tool's in its step, any other as a line of its own)."""
    out = [step_message(step, folded.progress.get(step.call_id)) for step in folded.steps]
    out += [{"role": "assistant", "content": chat_text(f"⚠️ {e}")} for e in folded.errors]
    if folded.text:
        out.append({"role": "assistant", "content": chat_text(folded.text)})
    elif not folded.done:
        out.append({"role": "assistant", "content": "…"})
    out += figure_messages(folded.steps)  # a measure's chart, under the answer
    if folded.done:
        out += _strip(folded.turn())
    return out


def _strip(turn: ChatTurn) -> list[dict[str, Any]]:
    """The thumbnail strip under a search answer (nothing for other answers)."""
    from assistant.ui.thumbnails import scene_strip

    strip = scene_strip(turn)
    return [strip] if strip else []


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
    out += figure_messages(turn.steps)
    return out + _strip(turn)


def session_messages(session: Session) -> list[dict[str, Any]]:
    """The whole conversation of a session as chatbot messages (used on load and for deep links)."""
    return [message for turn in session.turns for message in turn_messages(turn)]
