"""A small PNG line chart of measures over dates (Pillow only: matplotlib is not a dependency).

One line per measure, x = date (true time spacing), y = percent of the analysed area, a dot and value per date.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

COLOURS = ["#1b9e77", "#1f78b4", "#d95f02", "#e7298a", "#7570b3"]
WIDTH, HEIGHT = 640, 360
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 40, 48


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default()


def line_chart(lines: dict[str, list[tuple[dt.date, float]]], title: str, path: Path, y_label: str = "%") -> Path:
    """Write the chart of `lines` (label -> [(date, value)]) to `path` (PNG) and return it."""
    points = [p for rows in lines.values() for p in rows]
    if not points:
        raise ValueError("nothing to chart")
    days = [d.toordinal() for d, _ in points]
    d0, d1 = min(days), max(days)
    d1 = d1 if d1 > d0 else d0 + 1
    hi = max(v for _, v in points)
    lo = min(0.0, min(v for _, v in points))
    hi = hi + 0.1 * (hi - lo or 1.0)
    img = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(img)
    font, small = _font(14), _font(11)

    def xy(day: dt.date, value: float) -> tuple[float, float]:
        x = LEFT + (day.toordinal() - d0) / (d1 - d0) * (WIDTH - LEFT - RIGHT)
        y = HEIGHT - BOTTOM - (value - lo) / (hi - lo) * (HEIGHT - TOP - BOTTOM)
        return x, y

    draw.text((LEFT, 10), title, fill="black", font=font)
    draw.line([(LEFT, TOP), (LEFT, HEIGHT - BOTTOM), (WIDTH - RIGHT, HEIGHT - BOTTOM)], fill="#444444")
    for k in range(5):
        value = lo + k * (hi - lo) / 4
        _, y = xy(dt.date.fromordinal(d0), value)
        draw.line([(LEFT - 4, y), (WIDTH - RIGHT, y)], fill="#e5e5e5")
        draw.text((4, y - 7), f"{value:.0f}{y_label}" if hi - lo > 4 else f"{value:.1f}{y_label}", fill="#444444",
                  font=small)
    for day in sorted({d for d, _ in points}):
        x, _ = xy(day, lo)
        draw.text((x - 14, HEIGHT - BOTTOM + 6), str(day.year), fill="#444444", font=small)
    for i, (label, rows) in enumerate(lines.items()):
        colour = COLOURS[i % len(COLOURS)]
        coords = [xy(d, v) for d, v in sorted(rows)]
        if len(coords) > 1:
            draw.line(coords, fill=colour, width=2)
        for x, y in coords:
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
        draw.text((LEFT + 8 + 160 * i, HEIGHT - 20), f"— {label}", fill=colour, font=small)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="PNG")
    return path
