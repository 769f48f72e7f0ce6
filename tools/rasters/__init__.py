"""The one raster layer: every read of a raster or image file goes through here.

`open.open_raster` is the only way the project opens a raster (GDAL drivers, path and size checks, network off);
`images` opens pictures with PIL under the same checks; `sniff` says what a file really is; `sensors`, `dates`,
`footprint` and `stretch` hold the sensor facts, date parsing, EPSG:4326 outlines and the display stretch once.
"""
