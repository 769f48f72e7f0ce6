"""Sector services: thematic measures (forest, water, built-up, burned) over time series and site buffers.

`themes` holds the index formulas and thresholds, `cube` loads catalog items as a lazy xarray cube (odc-stac +
dask), `areas` the km² per pixel and site buffers, `measure` the per-date figures and maps, `chart` the PNG chart,
`tool` the `measure_theme` agent tool.
"""

from tools.services.tool import measure_theme

__all__ = ["measure_theme"]
