"""What the page's events do, kept apart from the layout so tests can drive them without a browser.

Each browser tab owns a session id (held in `gr.State`); its `Session` lives in the store, where the map
iframe reads it. `respond` is a generator: Gradio streams each yield to that tab only.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from assistant.config import get_settings
from assistant.errors import SentinelleError
from assistant.events import ToolFinished
from assistant.session import ChatTurn, Session
from assistant.turns import StreamingAssistant, TurnFold, apply, apply_event
from assistant.ui import refinement
from assistant.ui.chat import live_messages, session_messages, user_messages
from assistant.ui.store import STORE, SessionStore
from assistant.ui.upload import accept_upload, upload_layers

log = logging.getLogger(__name__)
DEFAULT_IMAGE_QUESTION = "What does this image show?"


_assistant: StreamingAssistant | None = None
_assistant_lock = threading.Lock()


def default_assistant() -> StreamingAssistant:
    """The agent, built once per process (its models load lazily on first use)."""
    global _assistant
    with _assistant_lock:
        if _assistant is None:
            from assistant.agent import Assistant

            _assistant = Assistant()
        return _assistant


def models_status() -> str:
    """One line naming the models in use, from settings (shown under the title)."""
    s = get_settings()
    try:
        from assistant.llm import planner_mode

        mode = planner_mode(s)
    except ImportError:
        mode = s.planner
    if mode == "llm" and s.llm_backend == "openai":
        llm = f"agent LLM **{s.llm_model}** on vLLM/OpenAI server `{s.llm_base_url}`"
    elif mode == "llm":
        gguf = s.llm_gguf_path.name if s.llm_gguf_path else (s.llm_hub_gguf or "SmolLM2-135M-Instruct")
        llm = f"agent LLM **{gguf}** (embedded llama.cpp, CPU)"
    else:
        llm = "planner **offline semantic router** (EN/FR; answers from templates, offline fallback)"
    vlm = {
        "openai": f"VLM **{s.vlm_model}** on `{s.vlm_url}`",
        "transformers": f"VLM **{s.vlm_local_model}** (local)",
        "offline": "image reader: **offline facts** (no VLM)",
        "auto": "image reader: **auto** (vLLM when reachable, else offline facts)",
    }[s.vlm_backend]
    network = "offline" if s.offline else "online"
    from assistant.head_fitting import status_line

    return f"{llm} · {vlm} · {status_line()} · {network}"


class Handlers:
    """Event handlers bound to one store and one assistant factory (tests swap both)."""

    def __init__(
        self, store: SessionStore = STORE, assistant: Callable[[], StreamingAssistant] = default_assistant
    ) -> None:
        self.store = store
        self.assistant = assistant

    # --- page load / deep links -----------------------------------------------------------------------
    def load(self, params: dict[str, str]) -> tuple[str, list[dict[str, Any]], str | None]:
        """A new tab: restore the session named by the URL (a copy under a fresh id) or start an empty one.

        Returns (sid, chat messages, notice shown when a link could not be restored).
        """
        from assistant.ui.share import restore

        notice = None
        try:
            session = restore(params)
        except SentinelleError as exc:
            session, notice = None, str(exc)
        sid = self.store.create(session)
        messages = session_messages(session) if session is not None else []  # what was stored, not re-read
        if notice:
            messages.append({"role": "assistant", "content": f"⚠️ {notice}"})
        return sid, messages, notice

    # --- a question ----------------------------------------------------------------------------------
    def respond(self, sid: str, text: str, files: list[str] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Stream one answer: yields the full chat after every event; map layers go to the store as they come."""
        try:
            session = self.store.get(sid)
        except SentinelleError as exc:  # the server restarted under an open tab
            yield [{"role": "assistant", "content": f"⚠️ {exc}"}]
            return
        history = session_messages(session)
        text = (text or "").strip()
        limit = get_settings().question_max_chars
        if len(text) > limit:  # refused before any work: neither the upload nor the agent sees it
            session.turns += [
                ChatTurn(role="user", content=text[:200] + "…"),
                ChatTurn(role="assistant", content=f"⚠️ This question is {len(text):,} characters long; the limit is "
                                                   f"{limit:,}. Please ask it in fewer words."),
            ]
            self._put(sid, session)
            yield session_messages(session)
            return
        image = None
        if files:
            try:
                image = accept_upload(files[0], sid)
                for layer in upload_layers(image, sid):
                    session.add_layer(layer)
            except SentinelleError as exc:
                user = ChatTurn(role="user", content=text or f"(upload: {_name(files[0])})")
                answer = ChatTurn(role="assistant", content=f"⚠️ {exc}")
                session.turns += [user, answer]
                self._put(sid, session)
                yield session_messages(session)
                return
            self._put(sid, session)
        if not text and image is None:
            yield history
            return
        question = text or DEFAULT_IMAGE_QUESTION
        user = ChatTurn(role="user", content=question, image=str(image) if image else None)
        history = history + user_messages(user)
        folded = TurnFold()
        previews = []  # change answers given as a fast preview: their refined maps are drawn when they land
        yield history + live_messages(folded)

        try:
            stream = self.assistant().stream(question, image=str(image) if image else None, session=session)
            for event in stream:
                folded.feed(event)
                if isinstance(event, ToolFinished) and refinement.is_preview(event.result):
                    previews.append(event.result)
                if apply_event(session, event):  # a layer or a view: the map shows it now
                    self._put(sid, session)
                yield history + live_messages(folded)
        except SentinelleError as exc:
            folded.fail(str(exc))
        except Exception:  # noqa: BLE001 - a crash must end the turn with a message, not a spinner
            incident = uuid.uuid4().hex[:8]  # the user quotes it, the log has the traceback under it
            log.exception("agent stream failed (incident %s)", incident)
            folded.fail(f"Something went wrong on the server while answering (incident {incident}); please try again "
                        "or rephrase.")
        apply(session, user, folded)
        self._put(sid, session)
        for result in previews:  # after the turn is stored: the swap then finds the preview's layers in it
            refinement.watch(self.store, sid, result)
        yield history + live_messages(folded)

    def _put(self, sid: str, session: Session) -> None:
        """Stores the handler's copy of a session with the refined change maps that landed meanwhile."""
        refinement.apply_swaps(sid, session)
        self.store.put(sid, session)

    def focus(self, sid: str, clicked: Any) -> bool:
        """A click on a search thumbnail in the chat: the map flies to that scene (a new `view` with a fresh
        `focus` key, which the map page follows even when its layers are unchanged). False when the click was on
        anything else."""
        import uuid

        from assistant.ui.thumbnails import clicked_file, focus_bounds

        name = clicked_file(clicked)
        if not name:
            return False
        try:
            session = self.store.get(sid)
        except SentinelleError:
            return False
        bounds = focus_bounds(session, name)
        if bounds is None:
            return False
        session.view = {"bounds": bounds, "focus": uuid.uuid4().hex[:12]}
        self.store.put(sid, session)
        return True

    def clear(self, sid: str) -> list[dict[str, Any]]:
        """Start over in the same tab: empty chat and map."""
        self.store.put(sid, Session(id=self.store.get(sid).id))
        return []


def _name(path: str) -> str:
    return str(path).rsplit("/", 1)[-1]
