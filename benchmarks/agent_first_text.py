"""Time to first answer text for locate/find questions (router mode, CPU), after `Assistant.warm_up()`.

Usage: python benchmarks/agent_first_text.py [--repeat 1]
Prints per-question latency (question received -> first TextDelta) and p50/p95. Tools run for real
(gazetteer, catalog, scene index), so the numbers include them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

QUESTIONS = [
    "Where is Rennes?", "Where is Pucallpa?", "Go to Abu Dhabi on the map.", "Montre-moi Lyon sur la carte.",
    "Où se trouve Taizhou ?", "Zoom on Rotterdam.", "Where is the state of North Dakota?",
    "Centre la carte sur Nantes.",
    "Where is Groningen located?", "Localise Bordeaux.", "Find Sentinel-2 scenes of Nantes.",
    "Which images do you have from 2015?", "Show me Landsat imagery over China.",
    "Is there imagery of the Netherlands with less than 10% clouds?", "Quelles images as-tu de Paris ?",
    "Find scenes that look like a forest.", "Cherche des images de zones industrielles.",
    "Search for images of beaches.", "Any NAIP imagery over North Dakota in 2014?", "Find Landsat scenes of Pucallpa.",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    from assistant.agent import Assistant
    from assistant.events import ErrorEvent, TextDelta, ToolStarted

    assistant = Assistant()
    t0 = time.perf_counter()
    assistant.warm_up()
    print(f"warm_up: {time.perf_counter() - t0:.2f} s")
    latencies = []
    for _ in range(args.repeat):
        for question in QUESTIONS:
            start = time.perf_counter()
            first = None
            tool, error = None, None
            for event in assistant.stream(question):
                if isinstance(event, ToolStarted):
                    tool = event.name
                elif isinstance(event, ErrorEvent):
                    error = event.message
                elif isinstance(event, TextDelta) and first is None:
                    first = time.perf_counter() - start
            latencies.append(first)
            print(json.dumps({"question": question, "tool": tool, "first_text_s": round(first, 3),
                              "error": error}, ensure_ascii=False))
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(f"n={len(ordered)} p50={statistics.median(ordered):.3f} s p95={p95:.3f} s max={ordered[-1]:.3f} s")


if __name__ == "__main__":
    main()
