"""Sharing: deep links that restore chat and map, exports of results, and a one-page HTML report.

Small sessions travel inside the link (`?s=<Session.to_token()>`, nothing stored on the server); larger ones are
frozen on the server under a random id (`?snap=<id>`). Either way the link restores exactly what was shown.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError

from assistant.config import get_settings
from assistant.errors import BadInputError, NotFoundError
from assistant.events import MapLayer
from assistant.links import LinkRefused
from assistant.session import Session
from assistant.ui.map import standalone_map_html
from assistant.ui.restored import allowed_file, check_restored
from assistant.ui.store import load_snapshot, save_snapshot

MAX_TOKEN_CHARS = 1800
"""Longest state kept inside the URL; beyond it the link points at a server-side snapshot."""

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def share_link(session: Session, base_url: str) -> str:
    """A URL that reopens this conversation and its map."""
    token = session.to_token()
    if len(token) <= MAX_TOKEN_CHARS:
        query = {"s": token}
    else:
        query = {"snap": save_snapshot(session)}
    return f"{base_url.rstrip('/')}/?{urlencode(query)}"


def restore(params: dict[str, str]) -> Session | None:
    """The session named by a deep link's query parameters, None when the URL has none.

    Raises `NotFoundError` for a link that is corrupt or whose snapshot is gone, `LinkRefused` for one that was
    altered, has expired, is too large or names anything this server does not serve.
    """
    if params.get("s"):
        try:
            session = Session.from_token(params["s"])
        except LinkRefused:
            raise
        except Exception as exc:  # noqa: BLE001 - a signed token that does not parse: same thing to the user
            raise NotFoundError("This shared link is damaged (it may have been cut when copied).") from exc
        return check_restored(session)
    if params.get("snap"):
        try:
            return check_restored(load_snapshot(params["snap"]))
        except ValidationError as exc:
            raise NotFoundError("This shared link's conversation is damaged.") from exc
    return None


def exports_dir(sid: str) -> Path:
    folder = get_settings().data_dir / "exports" / _SAFE.sub("_", sid)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _layer_features(layer: MapLayer) -> list[dict[str, Any]]:
    base = {"layer": layer.name, "kind": layer.kind}
    if layer.kind == "geojson" and layer.data:
        data = layer.data
        if data.get("type") == "FeatureCollection":
            feats = data.get("features", [])
        elif data.get("type") == "Feature":
            feats = [data]
        else:
            feats = [{"type": "Feature", "geometry": data, "properties": {}}]
        return [{**f, "properties": {**base, **(f.get("properties") or {})}} for f in feats]
    if layer.kind == "marker" and layer.point:
        return [{"type": "Feature", "geometry": {"type": "Point", "coordinates": layer.point}, "properties": base}]
    if layer.kind in ("bounds", "image", "tiles") and layer.bounds:
        w, s, e, n = layer.bounds
        ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
        return [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}, "properties": base}]
    return []


def layers_geojson(session: Session) -> dict[str, Any]:
    """Every vector on the map (polygons, footprints, markers, raster extents) as one FeatureCollection."""
    features = [f for layer in session.layers for f in _layer_features(layer)]
    return {"type": "FeatureCollection", "features": features}


def result_files(session: Session) -> list[Path]:
    """Files that tools exported (COG, GeoJSON), existing and inside the data dir's results folder."""
    root = (get_settings().data_dir / "results").resolve()
    out: list[Path] = []
    for turn in session.turns:
        for step in turn.steps:
            for name in step.result.files if step.result else []:
                path = Path(name).resolve()
                if path.is_file() and path.is_relative_to(root) and path not in out:
                    out.append(path)
    return out


def export_files(session: Session, sid: str, base_url: str = "") -> list[Path]:
    """What the download box offers: map GeoJSON, the HTML report, and the tools' own result files."""
    folder = exports_dir(sid)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    geojson = folder / f"sentinelle-map-{stamp}.geojson"
    geojson.write_text(json.dumps(layers_geojson(session), ensure_ascii=False))
    report = folder / f"sentinelle-report-{stamp}.html"
    report.write_text(report_html(session, base_url=base_url), encoding="utf-8")
    copies = []
    for path in result_files(session):
        dest = folder / path.name
        if not dest.exists():
            shutil.copyfile(path, dest)
        copies.append(dest)
    return [geojson, report, *copies]


def _thumbnail_data_uri(path: str | None, max_px: int = 320) -> str | None:
    """A small JPEG of an attached image, inlined so the report stays one file."""
    if not path or not Path(path).is_file():
        return None
    try:
        from PIL import Image

        from tools.rasters.open import open_raster
        from tools.rasters.stretch import auto_stretch

        with open_raster(path) as ds:
            scale = max(ds.width, ds.height) / max_px
            shape = (max(1, int(ds.height / max(scale, 1))), max(1, int(ds.width / max(scale, 1))))
            idx = [1, 2, 3] if ds.count >= 3 else [1]
            data = ds.read(idx, out_shape=(len(idx), *shape))
        buf = io.BytesIO()
        Image.fromarray(auto_stretch(data)).save(buf, format="JPEG", quality=80)
        return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()
    except Exception:  # noqa: BLE001 - a report without a thumbnail is still a report
        return None


def _markdown_light(text: str) -> str:
    """Escape, keep paragraphs and **bold**: enough for answers composed from templates."""
    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)
    return "<p>" + out.replace("\n\n", "</p><p>").replace("\n", "<br>") + "</p>"


def conversation_html(session: Session) -> str:
    """The conversation as HTML: questions, tool steps (arguments, duration, facts), answers and their charts."""
    from assistant.ui.figures import figures_html

    parts = []
    for turn in session.turns:
        if turn.role == "user":
            thumb = _thumbnail_data_uri(turn.image) if allowed_file(turn.image) else None
            img = f"<img class='thumb' src='{thumb}' alt='attached image'>" if thumb else ""
            parts.append(f"<div class='q'><b>Question</b>{img}{_markdown_light(turn.content)}</div>")
            continue
        steps = []
        for step in turn.steps:
            dur = f" — {step.duration_s:.2f} s" if step.duration_s is not None else ""
            status = "failed" if step.status == "error" else step.status
            args = html.escape(json.dumps(step.args, ensure_ascii=False, default=str))
            facts = ""
            if step.result:
                rows = "".join(
                    f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))[:300]}</td></tr>"
                    for k, v in step.result.facts.items()
                    if k != "answer"
                )
                model = f"<div class='model'>model: {html.escape(step.result.model)}</div>" if step.result.model else ""
                facts = f"<table>{rows}</table>{model}"
            err = f"<div class='err'>{html.escape(step.error)}</div>" if step.error else ""
            steps.append(
                f"<details><summary>{html.escape(step.name)} ({status}{dur})</summary>"
                f"<code>{args}</code>{facts}{err}</details>"
            )
        charts = figures_html(turn.steps)  # a measure's chart, inlined as a data: URI PNG under the answer
        parts.append(f"<div class='a'>{''.join(steps)}{_markdown_light(turn.content)}{charts}</div>")
    return "".join(parts)


REPORT_CSS = """
body{margin:0;font:14px/1.45 system-ui,sans-serif;color:#1d2330}
.report{display:flex;height:100vh}
.conv{background:#fff;width:42%;overflow:auto;padding:16px 20px;box-sizing:border-box;border-right:1px solid #ccd}
.mapbox{flex:1;position:relative}
#map{position:absolute;inset:0}
h1{font-size:20px;margin:0 0 4px} .meta{color:#667;margin-bottom:12px}
.q{background:#eef3ff;border-radius:8px;padding:8px 12px;margin:10px 0}
.a{background:#f7f7f9;border-radius:8px;padding:8px 12px;margin:10px 0}
details{margin:4px 0;font-size:13px} summary{cursor:pointer;color:#345}
table{border-collapse:collapse;margin:4px 0} th{text-align:left;padding-right:8px;color:#556;font-weight:500}
.err{color:#a11} .model{color:#667;font-style:italic} .thumb{display:block;max-width:240px;margin:6px 0}
.chart{display:block;max-width:100%;margin:8px 0}
code{font-size:12px;word-break:break-all}
"""


def report_html(session: Session, base_url: str = "") -> str:
    """One self-contained page: the conversation beside its map (Leaflet, vectors and imagery inlined)."""
    from assistant.ui.report_imagery import inline_imagery

    layers = inline_imagery([layer.model_dump(exclude_none=True) for layer in session.layers])
    state = {"layers": layers, "view": session.view}
    page = standalone_map_html(state, title="Sentinelle report", base_url=base_url)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    conv = (
        f"<div class='conv'><h1>Sentinelle report</h1><div class='meta'>{when} · {len(session.layers)} map layers"
        f"</div>{conversation_html(session)}</div>"
    )
    page = page.replace("<div id='map'></div>", f"<div class='report'>{conv}<div class='mapbox'><div id='map'></div>"
                        "</div></div>", 1)
    return page.replace("</head>", f"<style>{REPORT_CSS}</style></head>", 1)


def check_base_url(url: str) -> str:
    """A base URL for links: http(s) only, no trailing slash."""
    if not re.match(r"^https?://[^\s/]+(/[^\s]*)?$", url):
        raise BadInputError(f"not a usable base URL: {url!r}")
    return url.rstrip("/")
