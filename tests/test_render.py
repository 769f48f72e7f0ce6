"""Display RGB from rasters and images: band choice by common names, percentile stretch, nodata, windows."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from helpers.data_dirs import module_data_dir
from PIL import Image
from rasterio.windows import Window

from assistant.errors import BadInputError
from tools.data import geodata_path
from tools.rasters.sensors import s2_bands, tm_bands
from tools.render import display_indexes, percentiles, read_rgb_image, to_rgb


@pytest.fixture(scope="module")
def s2_item(tmp_path_factory):
    with module_data_dir(tmp_path_factory, "render-data"):
        from tools.catalog import open_catalog

        report = open_catalog().ingest([geodata_path("oscd-s2/images/bercy/imgs_2")])
        yield report.items[0]


def test_band_choice_follows_common_names():
    assert display_indexes([b.to_dict() for b in s2_bands()]) == [4, 3, 2]  # B04, B03, B02
    assert display_indexes(s2_bands(), "falsecolor") == [8, 4, 3]  # B08, B04, B03
    assert display_indexes(tm_bands(), constellation="landsat") == [4, 3, 2]  # Landsat: false colour NIR,R,G
    pucallpa = [{"name": n, "common_name": n} for n in ("swir16", "nir", "red", "green")]
    assert display_indexes(pucallpa, constellation="landsat") == [1, 2, 3]
    assert display_indexes([{"name": "pan"}]) == [1, 1, 1]
    with pytest.raises(BadInputError):
        display_indexes(s2_bands(), "infrared-ish")
    with pytest.raises(BadInputError):
        display_indexes(pucallpa, "truecolor")


def test_item_rgb_is_the_stretched_true_colour_of_its_cog(s2_item):
    from tools.catalog import asset_path

    rgb = to_rgb(s2_item)
    with rasterio.open(asset_path(s2_item)) as ds:
        assert rgb.shape == (ds.height, ds.width, 3) and rgb.dtype == np.uint8
        red = ds.read(4).astype(np.float64)
    stats = s2_item.properties["sentinelle:stats"]
    expected = np.clip((red - stats["p2"][3]) / (stats["p98"][3] - stats["p2"][3]) * 255 + 0.5, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(rgb[:, :, 0], expected)
    assert 0.01 < (rgb[:, :, 0] == 255).mean() < 0.05  # ~2 % saturate at the top of a 2-98 stretch


def test_windows_and_max_size_use_the_same_colours(s2_item):
    whole = to_rgb(s2_item)
    part = to_rgb(s2_item, window=Window(10, 20, 64, 48))
    np.testing.assert_array_equal(part, whole[20:68, 10:74])
    small = to_rgb(s2_item, max_size=100)
    assert max(small.shape[:2]) == 100
    west, south, east, north = s2_item.bbox
    centre = to_rgb(s2_item, window=[west + (east - west) / 4, south + (north - south) / 4,
                                     east - (east - west) / 4, north - (north - south) / 4])
    assert abs(centre.shape[0] - whole.shape[0] / 2) <= 2 and abs(centre.shape[1] - whole.shape[1] / 2) <= 2
    with pytest.raises(BadInputError):
        to_rgb(s2_item, window=[0.0, 0.0, 0.1, 0.1])


def test_nodata_collar_stays_black():
    path = geodata_path("rasterio-fixtures/RGB.byte.tif")
    rgb = to_rgb(path)
    with rasterio.open(path) as ds:
        nodata = np.all(ds.read() == ds.nodata, axis=0)
    assert nodata.any() and (rgb[nodata] == 0).all()
    assert rgb[~nodata].mean() > 40


def test_float_and_uint16_rasters_are_stretched():
    eo = to_rgb(geodata_path("eo-learn-s2/derived/REFERENCE_SCENES_idx2_13band_assumed-georef.tif"))
    assert eo.shape == (101, 100, 3) and eo.std() > 30  # reflectances 0..1 become a full 0..255 picture
    pan = read_rgb_image(geodata_path("spacenet-solaris/atlanta/sample_geotiff.tif"))
    assert pan.shape == (900, 900, 3) and (pan[:, :, 0] == pan[:, :, 2]).all() and pan.std() > 30
    low, high = percentiles(np.arange(100, dtype=np.float32).reshape(1, 10, 10))
    assert low[0] == pytest.approx(1.98) and high[0] == pytest.approx(97.02)


def test_photos_are_read_as_they_are():
    path = geodata_path("geochat-demo/11765.jpg")
    rgb = read_rgb_image(path)
    np.testing.assert_array_equal(rgb, np.asarray(Image.open(path).convert("RGB")))
    small = read_rgb_image(geodata_path("geochat-demo/7292.JPG"), max_size=512)
    assert max(small.shape[:2]) == 512 and small.dtype == np.uint8


def test_unreadable_images_are_user_errors(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    with pytest.raises(BadInputError):
        read_rgb_image(bad)
    with pytest.raises(BadInputError):
        read_rgb_image(tmp_path / "missing.jpg")
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"II*\x00 junk")
    with pytest.raises(BadInputError):
        read_rgb_image(junk)
