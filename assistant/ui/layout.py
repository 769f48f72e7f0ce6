"""The page: streaming chat beside the map, upload box, examples, share/export buttons, model status line."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.config import get_settings
from assistant.errors import SentinelleError
from assistant.ui.guard import gradio_served_folders
from assistant.ui.handlers import Handlers, models_status
from assistant.ui.map import map_iframe
from assistant.ui.share import export_files, share_link
from assistant.ui.thumbnails import thumbs_root
from assistant.ui.upload import IMAGE_SUFFIXES

EXAMPLE_IMAGE = "aid-scenes/Airport/airport_1.jpg"
# Sector services (measure_theme): environment, risk, industrial safety, security, energy (test_service_scenarios)
SECTOR_PROMPTS = [
    "Has the forest around Pucallpa been cut between 1985 and 2020?",
    "How did the open water of the North Dakota lakes evolve from 2009 to 2020?",
    "What changed within 2 km of 2.333, 48.821 between 2016 and 2017?",
    "Alert me if more than 5% changed within 1 km of 54.58, 24.33 between 2016 and 2018.",
    "How much land did new built-up infrastructure take in Abu Dhabi between 2016 and 2018?",
]
EXAMPLE_PROMPTS = [
    "What changed around Saclay between 2016 and 2017?",
    "Trouve des images d'aéroports",
    "Where is Rennes?",
    "Quelles images avez-vous en Île-de-France ?",
    "Quels changements à Bercy entre 2015 et 2018 ?",
    *SECTOR_PROMPTS,
]
EXAMPLE_IMAGE_PROMPT = "What kind of place is shown in this image?"

CSS = """
#sn-status { font-size: 0.85em; opacity: 0.85; }
#sn-map iframe { min-height: 560px; }
/* search thumbnails (assistant.ui.thumbnails names them scene-thumb-*.png): small, clickable */
#sn-chat img[src*="scene-thumb-"] { max-height: 112px; width: auto; cursor: pointer; }
"""


def example_image() -> str | None:
    """A copy of one AID sample in the data dir, for the image example (None when the data is absent)."""
    try:
        from tools.data import geodata_path

        src = geodata_path(EXAMPLE_IMAGE)
    except Exception:  # noqa: BLE001 - no sample data: the page simply has no image example
        return None
    dest = get_settings().data_dir / "ui" / "examples" / Path(EXAMPLE_IMAGE).name
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    return str(dest)


def client_file_allowed(path: str | None) -> bool:
    """A file named by the browser is used only when it lies in Gradio's upload folder (where uploads land)."""
    if not path or "\x00" in path:
        return False
    resolved = Path(path).resolve()
    return resolved.is_file() and any(resolved.is_relative_to(folder) for folder in gradio_served_folders())


def _base_url(request: gr.Request | None) -> str:
    """Where links should point: the configured public URL, else the address the browser used."""
    public = get_settings().public_url
    if public:
        return public.rstrip("/")
    if request is None:
        s = get_settings()
        return f"http://{s.host}:{s.port}"
    headers = request.headers
    host = headers.get("x-forwarded-host") or headers.get("host") or "127.0.0.1"
    scheme = headers.get("x-forwarded-proto") or request.url.scheme or "http"
    return f"{scheme}://{host}"


def build_blocks(handlers: Handlers | None = None) -> gr.Blocks:
    """The Gradio Blocks of the app (mounted on the FastAPI server by `app.build_app`)."""
    handlers = handlers or Handlers()
    with gr.Blocks(title="Sentinelle") as demo:
        sid = gr.State(None)
        gr.Markdown("## Sentinelle — ask about satellite imagery")
        status = gr.Markdown(models_status(), elem_id="sn-status")
        with gr.Row(equal_height=False):
            with gr.Column(scale=5, min_width=360):
                chatbot = gr.Chatbot(
                    label="Conversation",
                    sanitize_html=True,
                    height=560,
                    elem_id="sn-chat",
                    feedback_options=None,
                    buttons=["copy", "copy_all"],
                    placeholder="Ask about places, scenes and changes, in English or French; attach an image to ask "
                    "about it.",
                )
                box = gr.MultimodalTextbox(
                    placeholder="Ask a question, or attach an image / GeoTIFF…",
                    file_types=sorted(IMAGE_SUFFIXES),
                    file_count="single",
                    sources=["upload"],
                    show_label=False,
                    elem_id="sn-input",
                    autofocus=True,
                )
                examples = [{"text": t, "files": []} for t in EXAMPLE_PROMPTS]
                image = example_image()
                if image:
                    examples.append({"text": EXAMPLE_IMAGE_PROMPT, "files": [image]})
                gr.Examples(examples=[[e] for e in examples], inputs=[box], label="Examples", examples_per_page=10)
            with gr.Column(scale=6, min_width=360):
                map_view = gr.HTML(map_iframe(None), elem_id="sn-map", padding=False)
                with gr.Row():
                    share_btn = gr.Button("Share link", size="sm", elem_id="sn-share")
                    export_btn = gr.Button("Export (GeoJSON, report, COG)", size="sm", elem_id="sn-export")
                    clear_btn = gr.Button("New conversation", size="sm", elem_id="sn-clear")
                link = gr.Textbox(label="Shareable link", visible=False, elem_id="sn-link", buttons=["copy"])
                downloads = gr.File(label="Exports", file_count="multiple", visible=False, elem_id="sn-files")

        def on_load(request: gr.Request):
            params = dict(request.query_params) if request else {}
            new_sid, messages, _ = handlers.load(params)
            return new_sid, messages, map_iframe(new_sid)

        def on_submit(message: dict[str, Any] | None, current: str):
            message = message or {}
            files = [f if isinstance(f, str) else f.get("path") for f in message.get("files") or []]
            files = [f for f in files if client_file_allowed(f)]  # a client names only what it uploaded
            messages: list = []
            box_update = gr.MultimodalTextbox(value=None, interactive=False)
            for messages in handlers.respond(current, message.get("text", ""), files):
                yield messages, box_update
                box_update = gr.skip()  # sent once: later updates carry the chat only
            yield messages, gr.MultimodalTextbox(value=None, interactive=True)

        def on_share(current: str, request: gr.Request):
            try:
                url = share_link(handlers.store.get(current), _base_url(request))
            except SentinelleError as exc:
                url = f"⚠️ {exc}"
            return gr.Textbox(value=url, visible=True)

        def on_export(current: str, request: gr.Request):
            try:
                session = handlers.store.get(current)
            except SentinelleError as exc:
                raise gr.Error(str(exc)) from exc
            paths = export_files(session, current, base_url=_base_url(request))
            return gr.File(value=[str(p) for p in paths], visible=True)

        def on_clear(current: str):
            return handlers.clear(current), gr.Textbox(visible=False), gr.File(value=None, visible=False)

        def on_select(current: str, event: gr.SelectData):
            handlers.focus(current, event.value)  # a search thumbnail: the map flies to its scene

        demo.load(on_load, None, [sid, chatbot, map_view], queue=False)
        demo.load(models_status, None, [status], queue=False)  # the change method changes once the heads are fitted
        box.submit(on_submit, [box, sid], [chatbot, box], concurrency_limit=16, concurrency_id="chat")
        share_btn.click(on_share, [sid], [link], queue=False)
        export_btn.click(on_export, [sid], [downloads], concurrency_limit=4)
        clear_btn.click(on_clear, [sid], [chatbot, link, downloads], queue=False)
        chatbot.clear(on_clear, [sid], [chatbot, link, downloads], queue=False)
        chatbot.select(on_select, [sid], None, queue=False)
    return demo


def launch_settings() -> dict[str, Any]:
    """Keyword arguments for mounting: auth, upload cap, the folders Gradio may serve files from and those it
    may never serve."""
    s = get_settings()
    data = s.data_dir
    # Only what the page shows or offers for download; never the data dir itself (index, models, catalog,
    # snapshots, the signing key). Gradio copies these into its cache before serving them.
    # Search thumbnails: small PNG copies made for the chat (assistant.ui.thumbnails), never the catalog's files.
    allowed = [data / "uploads", data / "results", data / "exports", data / "ui" / "examples", thumbs_root()]
    blocked = [data / "chroma", s.chroma_root, s.catalog_root, s.models_dir, data / "shared_sessions",
               data / "secret_key", data / "cache", s.data_mirror, s.models_mirror]
    kwargs: dict[str, Any] = {
        "allowed_paths": [str(path.resolve()) for path in allowed],
        "blocked_paths": [str(path.resolve()) for path in blocked if path is not None],
        # Gradio refuses far larger files itself; files over the limit but under this cap get a chat message.
        "max_file_size": f"{int(s.upload_max_mb * 4)}mb",
        "css": CSS,
    }
    if s.auth:
        user, _, password = s.auth.partition(":")
        kwargs["auth"] = (user, password)
        kwargs["auth_message"] = "Sentinelle — sign in with the credentials you were given."
    return kwargs
