"""A stand-in for `assistant.agent.Assistant` used by UI tests when the real agent is not the subject.

It yields the event sequence of the contract (started, progress, finished, layers, text deltas, done) with
numbers measured on real mirror files, so the UI is exercised on realistic events.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import numpy as np
import rasterio
from rasterio.warp import transform_bounds

from assistant.events import (
    Done,
    LayerAdded,
    MapLayer,
    TextDelta,
    ToolFinished,
    ToolProgress,
    ToolResult,
    ToolStarted,
)
from assistant.session import Session
from tools.data import geodata_path

SACLAY_B04 = "oscd-s2/images/saclay_e/imgs_1/S2A_OPER_MSI_L1C_TL_SGS__20160315T201048_A003809_T31UDP_B04.tif"


def _bbox(rel: str) -> list[float]:
    with rasterio.open(geodata_path(rel)) as ds:
        return list(transform_bounds(ds.crs, "EPSG:4326", *ds.bounds))


def _words(text: str, delay: float) -> Iterator[TextDelta]:
    for word in text.split(" "):
        if delay:
            time.sleep(delay)
        yield TextDelta(text=word + " ")


class FakeAssistant:
    """Answers change questions with a polygon layer and image questions with measured brightness."""

    def __init__(self, tool_delay_s: float = 0.0, word_delay_s: float = 0.0) -> None:
        self.tool_delay_s = tool_delay_s
        self.word_delay_s = word_delay_s

    def stream(self, message: str, image: str | None = None, session: Session | None = None) -> Iterator:
        call = uuid.uuid4().hex[:8]
        if image:
            with rasterio.open(image) as ds:
                data = ds.read()
            mean = float(np.mean(data))
            args = {"question": message, "image": image}
            yield ToolStarted(call_id=call, name="read_image", args=args)
            facts = {"mean_brightness": round(mean, 1), "bands": int(data.shape[0])}
            result = ToolResult(tool="read_image", facts=facts, model="fake-reader")
            yield ToolFinished(call_id=call, name="read_image", args=args, duration_s=0.01, ok=True, result=result)
            answer = f"The image has {data.shape[0]} bands and a mean brightness of {mean:.1f}."
        elif message.lower().startswith(("where is ", "où est ")):
            place = message.split(" ", 2)[2].strip(" ?")
            args = {"place": place}
            yield ToolStarted(call_id=call, name="locate_place", args=args)
            west, south, east, north = _bbox(SACLAY_B04)
            marker = MapLayer(name=f"place: {place}", kind="marker", point=[(west + east) / 2, (south + north) / 2],
                              fly_to=True)
            result = ToolResult(tool="locate_place", facts={"name": place}, layers=[marker], model="fake-gazetteer")
            yield ToolFinished(call_id=call, name="locate_place", args=args, duration_s=0.0, ok=True, result=result)
            yield LayerAdded(layer=marker)
            answer = f"{place} is here (fake gazetteer)."
        elif "fail" in message:
            args = {"place": "Atlantis"}
            yield ToolStarted(call_id=call, name="locate_place", args=args)
            yield ToolFinished(call_id=call, name="locate_place", args=args, duration_s=0.0, ok=False,
                               error="No place called 'Atlantis' in the gazetteer.")
            answer = "I could not find Atlantis."
        else:
            west, south, east, north = _bbox(SACLAY_B04)
            args = {"place": "Saclay", "start_date": "2016-01-01", "end_date": "2017-12-31"}
            yield ToolStarted(call_id=call, name="detect_change", args=args)
            yield ToolProgress(call_id=call, name="detect_change", fraction=0.5, message="scoring tiles")
            if self.tool_delay_s:
                time.sleep(self.tool_delay_s)
            if "slow" in message.lower():  # a long tool run, to check it does not block other users
                time.sleep(6.0)
            cx, cy = (west + east) / 2, (south + north) / 2
            dx, dy = (east - west) / 8, (north - south) / 8
            ring = [[cx - dx, cy - dy], [cx + dx, cy - dy], [cx + dx, cy + dy], [cx - dx, cy + dy], [cx - dx, cy - dy]]
            polygons = MapLayer(
                name="Change polygons",
                kind="geojson",
                data={"type": "FeatureCollection", "features": [
                    {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                     "properties": {"area_ha": 12.5}}]},
                style={"color": "#e31a1c"},
                legend={"changed": "#e31a1c"},
                fly_to=True,
            )
            footprint = MapLayer(name="Scene footprint", kind="bounds", bounds=[west, south, east, north])
            result = ToolResult(tool="detect_change", facts={"changed_area_ha": 12.5, "n_polygons": 1},
                                layers=[footprint, polygons], model="fake-change")
            yield ToolFinished(call_id=call, name="detect_change", args=args, duration_s=0.02, ok=True, result=result)
            yield LayerAdded(layer=footprint)
            yield LayerAdded(layer=polygons)
            answer = "Around Saclay, 12.5 ha changed between 2016 and 2017 (1 polygon)."
        yield from _words(answer, self.word_delay_s)
        yield Done(answer=answer, language="en")
