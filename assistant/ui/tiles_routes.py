"""The tile routes of the app's server: HTTP around the library's renderers (`tools.tiles`).

A renderer's NotFoundError is a 404, its BadInputError a 400, a tile outside the raster a 204 (Leaflet then
draws nothing there); images are cached an hour by the browser.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, HTTPException, Query, Response

from tools import tiles
from tools.core.errors import BadInputError, NotFoundError

router = APIRouter(prefix=tiles.PREFIX, tags=["tiles"])

_PNG = "image/png"
_CACHE_HEADERS = {"Cache-Control": "public, max-age=3600"}


def _png_response(render: Callable[[], bytes | None]) -> Response:
    """The renderer's PNG, 204 for an empty tile, its errors as HTTP statuses."""
    try:
        png = render()
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    except BadInputError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    if png is None:
        return Response(status_code=204)
    return Response(content=png, media_type=_PNG, headers=_CACHE_HEADERS)


@router.get("/scenes/{item_id}/{z}/{x}/{y}.png")
def scene_tile(item_id: str, z: int, x: int, y: int, preset: str | None = Query(None)) -> Response:
    """One 256x256 PNG tile of a catalog scene; 204 when the tile is outside the scene, 404 for unknown ids."""
    return _png_response(lambda: tiles.render_scene_tile(item_id, z, x, y, preset))


@router.get("/results/{relpath:path}/{z}/{x}/{y}.png")
def result_tile(relpath: str, z: int, x: int, y: int, colormap: str = Query("viridis"),
                rescale: str | None = Query(None)) -> Response:
    """One PNG tile of a result raster (band 1, colour-mapped); only files under `<data_dir>/results/`."""
    return _png_response(lambda: tiles.render_result_tile(relpath, z, x, y, colormap=colormap, rescale=rescale))
