"""One question's events folded into what it leaves behind: the answer turn, its map layers, the follow-up context.

The agent only yields events (`assistant.events`); this is the one place that reads them back. The UI folds as the
events arrive (it redraws after each), the CLI folds a whole stream into its JSON record, and `apply` writes one
question into a `Session`: the user and assistant turns, the layers (each once, by name), the context and view.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from assistant.events import (
    Clarify,
    ContextUpdated,
    Done,
    ErrorEvent,
    LayerAdded,
    MapLayer,
    Planned,
    PlannedCall,
    TextDelta,
    ToolFinished,
    ToolProgress,
    ToolStarted,
)
from assistant.session import ChatTurn, Session, ToolStep


class TurnFold:
    """The state of one answer after the events seen so far (`feed` them in order)."""

    def __init__(self) -> None:
        self.planned: list[PlannedCall] = []
        self.clarify: Clarify | None = None
        self.steps: list[ToolStep] = []
        self.progress: dict[str, tuple[float, str]] = {}
        self.layers: list[MapLayer] = []
        self.context: dict[str, Any] = {}
        self.view: dict[str, Any] | None = None
        self.text = ""
        self.errors: list[str] = []  # failures that are no tool's (a failed tool's message is in its step)
        self.language: str | None = None
        self.done = False

    @classmethod
    def of(cls, events: Iterable[Any]) -> TurnFold:
        """A whole stream folded."""
        folded = cls()
        for event in events:
            folded.feed(event)
        return folded

    def feed(self, event: Any) -> None:
        """Fold one agent event into the answer."""
        if isinstance(event, Planned):
            self.planned += event.calls
        elif isinstance(event, Clarify):
            self.clarify = event
        elif isinstance(event, ToolStarted):
            self._step(event.call_id, event.name, event.args)
        elif isinstance(event, ToolProgress):
            self.progress[event.call_id] = (event.fraction, event.message)
        elif isinstance(event, ToolFinished):
            step = self._step(event.call_id, event.name, event.args)
            step.status = "done" if event.ok else "error"
            step.duration_s = event.duration_s
            step.result = event.result
            step.error = event.error
            self.progress.pop(event.call_id, None)
        elif isinstance(event, LayerAdded):
            self.layers = [layer for layer in self.layers if layer.name != event.layer.name] + [event.layer]
        elif isinstance(event, ContextUpdated):
            self.context.update(event.context)
            if event.view is not None:
                self.view = event.view
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
        """The stream itself broke (a bug or a server crash): the answer ends with that message, not a spinner."""
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

    @property
    def failures(self) -> list[str]:
        """Every failure of the answer, once: each failed tool's message, then the others."""
        return [step.error for step in self.steps if step.status == "error" and step.error] + self.errors

    def turn(self) -> ChatTurn:
        """The stored form of the answer (failures that are no tool's lead the text, so a deep link shows them)."""
        content = self.text
        if self.errors:
            content = "\n\n".join([*(f"⚠️ {e}" for e in self.errors), content]).strip()
        return ChatTurn(role="assistant", content=content, steps=self.steps, language=self.language)


def fold(events: Iterable[Any]) -> ChatTurn:
    """The assistant turn of a whole event stream."""
    return TurnFold.of(events).turn()


def apply_event(session: Session, event: Any) -> bool:
    """What the map shows as soon as it streams (a layer, a new view) applied to `session`; True if it changed."""
    if isinstance(event, LayerAdded):
        session.add_layer(event.layer)
        return True
    if isinstance(event, ContextUpdated) and event.view is not None:
        session.view = event.view
        return True
    return False


def apply(session: Session, question: ChatTurn, folded: TurnFold) -> None:
    """One answered question written into `session`: both turns, its layers (replacing same-named ones), context
    and view. Idempotent for what `apply_event` already applied."""
    if question.language is None and folded.language is not None:
        question = question.model_copy(update={"language": folded.language})
    session.turns += [question, folded.turn()]
    for layer in folded.layers:
        session.add_layer(layer)
    session.context.update(folded.context)
    if folded.view is not None:
        session.view = folded.view


class StreamingAssistant(Protocol):
    def stream(self, message: str, image: str | None = None, session: Session | None = None) -> Iterator[Any]: ...


def converse(agent: StreamingAssistant, message: str, image: str | None = None,
             session: Session | None = None) -> Iterator[Any]:
    """Ask one question: the agent's events, passed on as they come, and folded into `session` when it ends."""
    session = session if session is not None else Session()
    folded = TurnFold()
    for event in agent.stream(message, image=image, session=session):
        folded.feed(event)
        yield event
    apply(session, ChatTurn(role="user", content=message, image=image), folded)
