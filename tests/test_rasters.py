"""The one raster layer (`tools/rasters/`): what it refuses and how, on crafted files, and what it reads from the
mirror (sizes, bands, dates, footprints), with the stretch, dates and footprints checked against values computed
here independently."""

from __future__ import annotations

import http.server
import resource
import struct
import threading
import zlib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin

from tools.core.errors import BadInputError
from tools.data import geodata_path
from tools.rasters.dates import date_from_name, date_from_tags, oscd_dates
from tools.rasters.footprint import bbox_4326, dataset_footprint, footprint_4326, is_georeferenced
from tools.rasters.images import open_image_rgb
from tools.rasters.open import open_raster
from tools.rasters.sensors import platform_name, s2_band_file, s2_band_name
from tools.rasters.sniff import sniff_bytes
from tools.rasters.stretch import auto_stretch, percentiles, stretch

PARIS_1 = "oscd-s2/images/paris/imgs_1"
RGB_TIF = "rasterio-fixtures/RGB.byte.tif"
AID_JPG = "aid-scenes/Airport/airport_1.jpg"
TAIZHOU_ENVI = "landsat-cd-taizhou-nanjing/Taizhou/2000TM"
SID = "0123456789abcdef"


# --- crafted files ---------------------------------------------------------------------------------------------


class _Counter(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.hits.append(self.path)
        self.send_error(404)

    do_HEAD = do_GET  # noqa: N815

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def listener():
    """A local HTTP server that counts the requests it receives: (base URL, list of paths requested)."""
    hits: list[str] = []
    handler = type("Handler", (_Counter,), {"hits": hits})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def _vrt(source: str, raw: bool = False) -> str:
    if raw:
        band = (f'<VRTRasterBand dataType="Byte" band="1" subClass="VRTRawRasterBand">'
                f'<SourceFilename relativeToVRT="0">{source}</SourceFilename><ImageOffset>0</ImageOffset>'
                f"<PixelOffset>1</PixelOffset><LineOffset>8</LineOffset></VRTRasterBand>")
    else:
        band = (f'<VRTRasterBand dataType="Byte" band="1"><SimpleSource><SourceFilename relativeToVRT="0">{source}'
                f"</SourceFilename><SourceBand>1</SourceBand></SimpleSource></VRTRasterBand>")
    return f'<VRTDataset rasterXSize="8" rasterYSize="2">{band}</VRTDataset>'


@pytest.fixture
def ssrf_tif(tmp_path, listener):
    """A VRT named ssrf.tif whose only source is a URL on the local listener."""
    url, hits = listener
    path = tmp_path / "ssrf.tif"
    path.write_text(_vrt(f"/vsicurl/{url}/x.tif"))
    return path, hits


def _huge_sparse_tif(path: Path, size: int = 20000, count: int = 3) -> Path:
    profile = {"driver": "GTiff", "width": size, "height": size, "count": count, "dtype": "uint8", "tiled": True,
               "blockxsize": 512, "blockysize": 512, "compress": "deflate", "sparse_ok": True,
               "crs": "EPSG:32631", "transform": from_origin(440000, 5420000, 10, 10)}
    with rasterio.open(path, "w", **profile):
        pass  # no block written: every tile is implicit zeros
    return path


def _png_claiming(path: Path, width: int, height: int) -> Path:
    """A valid 8x8 PNG whose header then claims width x height (CRC fixed, so decoders trust the header)."""
    from PIL import Image

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = 8 + 8  # signature, then length + b"IHDR"
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(data[ihdr - 4 : ihdr + 13])))
    path.write_bytes(bytes(data))
    return path


def _one_line(exc: pytest.ExceptionInfo, tmp_path: Path) -> str:
    text = str(exc.value)
    assert "\n" not in text and str(tmp_path) not in text and "Traceback" not in text, text
    return text


# --- SSRF: a VRT pointing at a URL is refused everywhere, and no request leaves --------------------------------


def test_the_listener_does_count_an_unguarded_gdal_read(ssrf_tif):
    """Control: plain rasterio on the same file does reach the listener, so zero requests below means refused."""
    path, hits = ssrf_tif
    with rasterio.Env(GDAL_HTTP_MAX_RETRY=0), pytest.raises(rasterio.errors.RasterioIOError):
        with rasterio.open(path) as ds:
            ds.read(1)
    assert hits, "GDAL should have requested the VRT's source from the listener"


def test_gdal_options_alone_keep_a_vrt_source_off_the_network(ssrf_tif):
    """Defence in depth: even if a VRT got past the checks, GDAL under `gdal_guard` fetches nothing."""
    from tools.rasters.open import gdal_guard

    path, hits = ssrf_tif
    with gdal_guard(), pytest.raises(rasterio.errors.RasterioIOError):
        with rasterio.open(path) as ds:
            ds.read(1)
    assert hits == []


def test_vrt_named_tif_is_refused_by_every_entry_point(ssrf_tif, tmp_path, tmp_data_dir, monkeypatch):
    from assistant.ui.upload import accept_upload
    from tools.catalog import open_catalog
    from tools.change.sources import open_source
    from tools.reader import read_image
    from tools.reader.inputs import load
    from tools.render import read_rgb_image

    path, hits = ssrf_tif
    monkeypatch.setenv("SENTINELLE_VLM_BACKEND", "offline")
    for entry in (open_raster, load, read_rgb_image, open_source, lambda p: read_image("what is this?", image=p),
                  lambda p: accept_upload(p, SID)):
        with pytest.raises(BadInputError) as exc:
            entry(str(path))
        assert "VRT" in _one_line(exc, tmp_path)
    assert not list((tmp_data_dir / "uploads").rglob("*ssrf*")), "a refused upload leaves no copy behind"
    report = open_catalog(tmp_data_dir / "catalog").ingest([path])
    assert report.items == [] and "VRT" in report.refused[0].reason
    assert hits == [], f"requests left the process: {hits}"


def test_urls_and_gdal_virtual_paths_are_refused_without_a_request(listener, tmp_path):
    url, hits = listener
    for name in (f"/vsicurl/{url}/x.tif", f"{url}/x.tif", "ftp://example.invalid/x.tif", "s3://bucket/x.tif",
                 "/vsizip//tmp/a.zip/x.tif", "GTIFF_DIR:1:/tmp/x.tif"):
        with pytest.raises(BadInputError, match="not a local file"):
            open_raster(name)
    assert hits == []


def test_raw_raster_band_vrt_over_a_system_file_is_refused(tmp_path):
    path = tmp_path / "hostname.tif"
    path.write_text(_vrt("/etc/hostname", raw=True))
    with pytest.raises(BadInputError) as exc:
        open_raster(path)
    assert "VRT" in _one_line(exc, tmp_path)
    prolog = tmp_path / "prolog.tif"  # an XML prolog and a comment before the element
    prolog.write_text('<?xml version="1.0"?>\n<!-- x -->\n' + _vrt("/etc/hostname", raw=True))
    with pytest.raises(BadInputError, match="VRT"):
        open_raster(prolog)


def test_only_existing_regular_files_are_opened(tmp_path):
    with pytest.raises(BadInputError, match="does not exist"):
        open_raster(tmp_path / "missing.tif")
    with pytest.raises(BadInputError, match="not a regular file"):
        open_raster(tmp_path)
    with pytest.raises(BadInputError, match="not a regular file"):
        open_raster("/dev/zero")
    link = tmp_path / "passwd.tif"
    link.symlink_to("/etc/passwd")
    with pytest.raises(BadInputError, match="not a GeoTIFF"):
        open_raster(link)


# --- size: refused from the header, before memory is allocated --------------------------------------------------


def test_huge_sparse_geotiff_is_refused_at_ingest_and_upload_without_memory(tmp_path, tmp_data_dir):
    from assistant.ui.upload import accept_upload
    from tools.catalog import open_catalog

    path = _huge_sparse_tif(tmp_path / "huge.tif")
    assert path.stat().st_size < 200_000, "the crafted file should be tiny on disk"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(BadInputError) as exc:
        accept_upload(path, SID)
    assert "20000 x 20000 pixels" in _one_line(exc, tmp_path) and "larger than the limit" in str(exc.value)
    report = open_catalog(tmp_data_dir / "catalog").ingest([path])
    assert report.items == [] and "20000 x 20000 pixels" in report.refused[0].reason
    assert "\n" not in report.refused[0].reason
    with pytest.raises(BadInputError, match="larger than the limit"):
        open_raster(path, max_pixels=10_000 * 10_000)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024  # Linux: kB
    assert grown_mb < 300, f"peak memory grew by {grown_mb:.0f} MB"


def test_the_band_count_is_bounded_and_a_full_sentinel2_tile_is_not(tmp_path, monkeypatch):
    """A header may promise thousands of bands on a tiny file; a 13-band 10980² Sentinel-2 stack (1.57 G values)
    stays within the default budget, since reads are windowed band by band."""
    from tools.rasters import open as raster_open

    path = _huge_sparse_tif(tmp_path / "stack.tif", size=1000, count=5)
    with open_raster(path) as ds:
        assert ds.count == 5
    raster_open.check_budget(10980, 10980, 13, "T31UDQ.tif")  # no error
    monkeypatch.setattr(raster_open, "MAX_BANDS", 4)
    with pytest.raises(BadInputError, match="stack.tif has 5 bands, more than the limit of 4"):
        open_raster(path)


def test_picture_claiming_huge_size_is_refused_before_decoding(tmp_path, tmp_data_dir):
    from PIL import Image

    from assistant.ui.upload import accept_upload

    path = _png_claiming(tmp_path / "bomb.png", 30000, 30000)
    with pytest.raises(BadInputError, match="bomb.png is larger than the limit"):
        open_image_rgb(path)
    _png_claiming(path, 17000, 17000)  # over our limit, under PIL's own (twice ours): refused from the header
    with pytest.raises(BadInputError, match="17000 x 17000 pixels, larger than the limit"):
        open_image_rgb(path)
    assert Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS <= 16384 * 16384
    with pytest.raises(BadInputError, match="larger than the limit"):
        accept_upload(path, SID)


# --- files that are not what their name says ----------------------------------------------------------------------


def test_mislabelled_empty_and_truncated_files_get_one_line_reasons(tmp_path):
    from PIL import Image

    text = tmp_path / "notes.tif"
    text.write_text("just some text, not an image\n" * 20)
    png = tmp_path / "photo.tif"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(png, format="PNG")
    html = tmp_path / "page.png"
    html.write_text("<html><body>hello</body></html>")
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    cases = {text: "notes.tif is not a GeoTIFF (it looks like text)", png: "photo.tif is not a GeoTIFF (it looks "
             "like PNG)", html: "page.png is not a PNG (it looks like XML or HTML)", empty: "empty.tif is empty"}
    for path, message in cases.items():
        with pytest.raises(BadInputError) as exc:
            open_raster(path)
        assert _one_line(exc, tmp_path) == message
    truncated = tmp_path / "truncated.tif"
    truncated.write_bytes(geodata_path(RGB_TIF).read_bytes()[:200_000])
    with pytest.raises(BadInputError) as exc:
        open_raster(truncated)
    assert _one_line(exc, tmp_path).startswith("truncated.tif")


def test_sniff_names_formats_from_their_first_bytes():
    assert sniff_bytes(b"II*\x00rest") == "GeoTIFF" and sniff_bytes(b"MM\x00+rest") == "GeoTIFF"
    assert sniff_bytes(b"\xff\xd8\xff\xe0") == "JPEG" and sniff_bytes(b"BM\x00\x00") == "BMP"
    assert sniff_bytes(b"\xef\xbb\xbf  <VRTDataset rasterXSize='1'>") == "VRT"
    assert sniff_bytes(b"\x00\x01\x02\x03\xff") == "binary" and sniff_bytes(b"") == "empty"


# --- the good path: real files from the mirror --------------------------------------------------------------------


def test_sentinel2_band_opens_with_its_date_and_footprint():
    folder = geodata_path(PARIS_1)
    band = next(p for p in sorted(folder.iterdir()) if p.name.endswith("_B02.tif"))
    with open_raster(band) as ds:
        assert ds.count == 1 and ds.driver == "GTiff" and is_georeferenced(ds.crs, ds.transform)
        geometry, bbox = dataset_footprint(ds)
        # independent: pyproj on the four corners
        to_lonlat = Transformer.from_crs(ds.crs.to_wkt(), "EPSG:4326", always_xy=True)
        left, bottom, right, top = ds.bounds
        lons, lats = to_lonlat.transform([left, right, right, left], [bottom, bottom, top, top])
    assert bbox == pytest.approx([min(lons), min(lats), max(lons), max(lats)], abs=1e-4)
    assert 2.0 < bbox[0] < bbox[2] < 2.8 and 48.6 < bbox[1] < bbox[3] < 49.1
    assert geometry["type"] == "Polygon"
    # the name carries a processing time; the absolute orbit gives the sensing day, which dates.txt states
    stated = (folder.parent / "dates.txt").read_text().split("date_1:")[1].split()[0]
    fact = date_from_name(band.name)
    assert fact.exact and fact.day == f"{stated[:4]}-{stated[4:6]}-{stated[6:]}"
    assert oscd_dates(folder.parent)["imgs_1"].day == fact.day
    assert s2_band_file(band.name)[1] == "B02"


def test_rgb_geotiff_envi_and_jpeg_open_with_their_sizes():
    with open_raster(geodata_path(RGB_TIF)) as ds:
        assert (ds.width, ds.height, ds.count, ds.driver) == (791, 718, 3, "GTiff")
    with open_raster(geodata_path(TAIZHOU_ENVI)) as ds:
        assert (ds.width, ds.height, ds.count, ds.driver) == (400, 400, 6, "ENVI")
    jpg = geodata_path(AID_JPG)
    with open_raster(jpg) as ds:
        assert (ds.count, ds.driver) == (3, "JPEG") and not is_georeferenced(ds.crs, ds.transform)
    from PIL import Image

    rgb, size = open_image_rgb(jpg)
    with Image.open(jpg) as reference:
        np.testing.assert_array_equal(rgb, np.asarray(reference.convert("RGB")))
        assert size == reference.size
    small, _ = open_image_rgb(jpg, max_side=100)
    assert max(small.shape[:2]) == 100


def test_change_label_bmp_opens():
    with open_raster(geodata_path("landsat-cd-taizhou-nanjing/Taizhou/change.bmp")) as ds:
        assert ds.driver == "BMP" and (ds.width, ds.height) == (400, 400)


# --- stretch, dates, footprint against independent computations --------------------------------------------------


def test_stretch_matches_numpy_percentiles():
    rng = np.random.default_rng(0)
    data = rng.normal(1000, 200, size=(3, 50, 40)).astype(np.float32)
    data[0, 0, 0] = np.nan
    valid = np.ones((50, 40), bool)
    valid[:5] = False
    low, high = percentiles(data, valid)
    for b in range(3):
        values = data[b][valid & np.isfinite(data[b])]
        assert low[b] == pytest.approx(np.percentile(values, 2))
        assert high[b] == pytest.approx(np.percentile(values, 98))
    out = stretch(data, low, high, valid)
    assert out.shape == (50, 40, 3) and out.dtype == np.uint8
    assert (out[:5] == 0).all(), "invalid pixels are black"
    expected = np.clip(np.round((data[1, 20, 10] - low[1]) / (high[1] - low[1]) * 255), 0, 255)
    assert out[20, 10, 1] == expected
    flat = auto_stretch(np.full((1, 4, 4), 7.0))
    assert flat.shape == (4, 4, 3) and (flat == 0).all(), "a flat band is shown black, not divided by zero"
    masked = np.ma.masked_array(data[:1], mask=np.zeros_like(data[:1], bool))
    masked.mask[0, :25] = True
    lo_m, hi_m = percentiles(masked)
    kept = data[0, 25:][np.isfinite(data[0, 25:])]
    assert lo_m[0] == pytest.approx(np.percentile(kept, 2)) and hi_m[0] == pytest.approx(np.percentile(kept, 98))


@pytest.mark.parametrize(("name", "day", "exact"), [
    ("m_4709963_se_14_1_20200831.tif", "2020-08-31", True),
    ("LT51200382000124BJC00_Nanjing", "2000-05-03", True),  # 2000 is a leap year: day 124 is 3 May
    ("T31UDQ_20171107T105229_B01.jp2", "2017-11-07", True),
    ("scene_2019-07-14_rgb.tif", "2019-07-14", True),
    ("scene_2019_07_14.tif", "2019-07-14", True),
    ("1990.tif", "1990-07-02", False),
    ("taizhou2003.jpg", "2003-07-02", False),
])
def test_dates_from_file_names(name, day, exact):
    fact = date_from_name(name)
    assert fact is not None and fact.day == day and fact.exact is exact


def test_names_without_a_date():
    for name in ("airport_1.jpg", "tile_2048.tif", "x_20170231.tif", "11765.jpg", "RGB.byte.tif"):
        assert date_from_name(name) is None, name


def test_dates_from_tags():
    fact = date_from_tags({"TIFFTAG_DATETIME": "2016:05:04 10:20:30"})
    assert fact.start == datetime(2016, 5, 4, 10, 20, 30, tzinfo=UTC)
    assert date_from_tags({"TIFFTAG_DATETIME": "garbage", "ACQUISITIONDATE": "2001-02-03"}).day == "2001-02-03"
    assert date_from_tags({}) is None


def test_footprint_of_a_window_matches_pyproj():
    transform = from_origin(440000, 5420000, 10, 10)  # UTM 31N, near Paris
    to_lonlat = Transformer.from_crs("EPSG:32631", "EPSG:4326", always_xy=True)
    from rasterio.windows import Window

    window = Window(100, 200, 300, 50)
    geometry, bbox = footprint_4326("EPSG:32631", transform, 1000, 1000, window)
    xs = [440000 + 10 * c for c in (100, 400)]
    ys = [5420000 - 10 * r for r in (200, 250)]
    lons, lats = to_lonlat.transform([xs[0], xs[1], xs[1], xs[0]], [ys[0], ys[0], ys[1], ys[1]])
    assert bbox == pytest.approx([min(lons), min(lats), max(lons), max(lats)], abs=1e-6)
    ring = np.array(geometry["coordinates"][0])
    assert ring[:, 0].min() == pytest.approx(min(lons), abs=1e-6) and ring[:, 1].max() == pytest.approx(
        max(lats), abs=1e-6)
    assert bbox_4326(None, transform, 10, 10) is None
    assert footprint_4326("EPSG:32631", rasterio.Affine.identity(), 10, 10) is None


def test_sensor_names():
    assert [s2_band_name(x) for x in ("B4", "b04", "8A", "B8A", "B13", "red")] == ["B04", "B04", "B8A", "B8A",
                                                                                  None, None]
    assert s2_band_file("S2A_OPER_MSI_L1C_TL_MPS__20161130T130757_A007527_T31UDQ_B8A.tif")[1] == "B8A"
    assert s2_band_file("T31UDQ_20171107T105229_B02_10m.jp2")[1] == "B02"
    assert s2_band_file("LC08_L1TP_B4.TIF") is None
    names = {"Sentinel 2": "sentinel-2", "sentinel2": "sentinel-2", "S2A": "sentinel-2a", "s2": "sentinel-2",
             "LANDSAT_8": "landsat-8", "l8": "landsat-8", "Landsat 5": "landsat-5", "NAIP": "naip"}
    assert {k: platform_name(k) for k in names} == names
