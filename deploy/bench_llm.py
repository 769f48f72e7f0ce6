"""Latency of the app's own OpenAI-compatible client against a live server (vLLM on GPU), by concurrency level.

Why: sizing (deploy/README.md) needs measured time-to-first-token and turn times for the two calls a question
makes: the agent's tool choice (text + the four tool schemas) and the image reader (one image + a question).
The client is `assistant.llm.get_chat_model()` with the settings (SENTINELLE_LLM_*), i.e. what the app runs;
concurrency 1 is the baseline printed in the same table.

    SENTINELLE_LLM_BASE_URL=http://gpu-host:8000/v1 SENTINELLE_LLM_API_KEY=... \\
        python -m deploy.bench_llm --concurrency 1,4,16 --requests 16 --json
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

QUESTIONS = ["Where is Paris?", "Trouve des images de Rotterdam en 2017", "Is there an airport near Bercy?",
             "Qu'est-ce qui a changé à Saclay entre 2015 et 2018 ?"]


def _image_url(path: str | None) -> str:
    """A small real image as a data URL (default: an AID sample of the mirror, resized to 448 px)."""
    from PIL import Image

    from tools.render import read_rgb_image

    if path is None:
        from tools.data import geodata_path
        from tools.search.chips import read_labels

        path = str(read_labels(geodata_path("aid-scenes"))[0][0])
    image = Image.fromarray(read_rgb_image(path)).resize((448, 448))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _timed(stream: Callable[[], Any]) -> dict[str, Any]:
    """Time to the first chunk that carries text or a tool call, and to the end of the stream."""
    t0 = time.perf_counter()
    first = None
    full = None
    for chunk in stream():
        if first is None and (chunk.content or getattr(chunk, "tool_call_chunks", None)):
            first = time.perf_counter() - t0
        full = chunk if full is None else full + chunk
    total = time.perf_counter() - t0
    calls = [c["name"] for c in (getattr(full, "tool_calls", None) or [])]
    return {"ttft_s": first if first is not None else total, "total_s": total, "tool_calls": calls}


def run(concurrency: list[int], requests: int, image: str | None = None) -> list[dict[str, Any]]:
    """One row per (kind, concurrency): p50/p95 of TTFT and total time, and how many answers called a tool."""
    from langchain_core.messages import HumanMessage

    from assistant.llm import get_chat_model
    from assistant.registry import langchain_tools

    model = get_chat_model()
    agent = model.bind_tools(langchain_tools())
    url = _image_url(image)
    kinds: dict[str, Callable[[int], Callable[[], Any]]] = {
        "agent tool choice": lambda i: lambda: agent.stream(QUESTIONS[i % len(QUESTIONS)]),
        "image reader": lambda i: lambda: model.stream([HumanMessage(content=[
            {"type": "image_url", "image_url": {"url": url}},
            {"type": "text", "text": "Describe this satellite image in one sentence."}])]),
    }
    rows = []
    for kind, make in kinds.items():
        for level in concurrency:
            with ThreadPoolExecutor(max_workers=level) as pool:
                t0 = time.perf_counter()
                results = list(pool.map(lambda i: _timed(make(i)), range(requests)))  # noqa: B023 - used at once
                wall = time.perf_counter() - t0
            ttft = sorted(r["ttft_s"] for r in results)
            total = sorted(r["total_s"] for r in results)
            rows.append({
                "kind": kind, "concurrency": level, "requests": requests,
                "ttft_p50_s": round(statistics.median(ttft), 3), "ttft_p95_s": round(_p95(ttft), 3),
                "total_p50_s": round(statistics.median(total), 3), "total_p95_s": round(_p95(total), 3),
                "requests_per_s": round(requests / wall, 2),
                "with_tool_call": sum(1 for r in results if r["tool_calls"]),
            })
    return rows


def _p95(values: list[float]) -> float:
    return values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.bench_llm", description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", default="1,4,16", help="comma-separated levels; 1 is the baseline")
    parser.add_argument("--requests", type=int, default=16, help="requests per level and kind")
    parser.add_argument("--image", default=None, help="image for the reader calls (default: an AID sample)")
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    args = parser.parse_args(argv)
    from assistant.config import get_settings

    s = get_settings()
    print(f"# {s.llm_model} @ {s.llm_base_url}", file=sys.stderr)
    rows = run([int(x) for x in args.concurrency.split(",")], args.requests, args.image)
    if args.json:
        for row in rows:
            print(json.dumps(row))
    else:
        keys = list(rows[0])
        print(" | ".join(keys))
        for row in rows:
            print(" | ".join(str(row[k]) for k in keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
