"""Sector measures checked against an independent recomputation on the raw mirror files (numpy + rasterio), and the
site buffer's area against pi r²."""

from __future__ import annotations

import math

import numpy as np
import pytest
import rasterio

from tools.core.errors import BadInputError
from tools.data import geodata_path

PUCALLPA = [f"landsat-pucallpa-timeseries/{year}.tif" for year in range(1985, 2021, 5)]
NAIP = ["m_4709963_se_14_1_20090818.tif", "m_4709963_se_14_1_20150926.tif", "m_4709963_se_14_1_20200831.tif"]


@pytest.fixture
def catalog(tmp_data_dir):
    from tools.catalog import open_catalog

    cat = open_catalog()
    cat.ingest([geodata_path(p) for p in PUCALLPA], place="Pucallpa")
    cat.ingest([geodata_path(f"naip-timeseries/{n}") for n in NAIP], place="North Dakota")
    return cat


def _nd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a + b > 0, (a - b) / (a + b), np.nan)


def _spherical_row_areas_km2(path) -> np.ndarray:
    """km² of a pixel per row of a lon/lat grid on a sphere of the WGS84 authalic radius (independent of pyproj)."""
    radius_km = 6371.0072
    with rasterio.open(path) as ds:
        t, rows = ds.transform, ds.height
    tops = t.f + np.arange(rows) * t.e
    bottoms = tops + t.e
    dlon = math.radians(t.a)
    return radius_km**2 * dlon * np.abs(np.sin(np.radians(tops)) - np.sin(np.radians(bottoms)))


def _forest(path) -> np.ndarray:
    with rasterio.open(path) as ds:
        swir, nir, red, _green = ds.read()  # band order of this product: SWIR1, NIR, Red, Green
    return (_nd(nir, red) >= 0.5) & (_nd(nir, swir) >= 0.3)


def test_forest_cover_and_loss_match_numpy_on_the_raw_landsat_files(catalog):
    from tools.services import measure_theme

    facts = measure_theme("vegetation", place="Pucallpa").facts
    fig = facts["by_theme"]["vegetation"]
    assert facts["n_dates"] == 8 and [d[:4] for d in facts["dates"]] == [str(y) for y in range(1985, 2021, 5)]
    first, last = geodata_path(PUCALLPA[0]), geodata_path(PUCALLPA[-1])
    rows = _spherical_row_areas_km2(first)[:, None]
    f85, f20 = _forest(first), _forest(last)
    assert fig["first_km2"] == pytest.approx(float((f85 * rows).sum()), rel=5e-3)
    assert fig["last_km2"] == pytest.approx(float((f20 * rows).sum()), rel=5e-3)
    assert fig["loss_km2"] == pytest.approx(float(((f85 & ~f20) * rows).sum()), rel=5e-3)
    assert fig["gain_km2"] == pytest.approx(float(((~f85 & f20) * rows).sum()), rel=5e-3)
    assert facts["analysed_km2"] == pytest.approx(float(rows.sum() * f85.shape[1]), rel=5e-3)
    # the series: one row per date, the largest net loss is the interval whose net is the most negative
    nets = [r["net_km2"] for r in fig["intervals"]]
    worst = fig["intervals"][int(np.argmin(nets))]
    assert (fig["largest_loss"]["from"], fig["largest_loss"]["to"]) == (worst["from"], worst["to"])
    assert fig["trend_km2_per_year"] < 0
    assert "not_reflectance" in facts["caveats"] and "year_only" in facts["caveats"]


def test_burned_area_matches_a_numpy_dnbr(catalog):
    from tools.services import measure_theme

    facts = measure_theme("burned", place="Pucallpa", start_date="2015-01-01", end_date="2020-12-31").facts
    before, after = geodata_path(PUCALLPA[-2]), geodata_path(PUCALLPA[-1])
    with rasterio.open(before) as a, rasterio.open(after) as b:
        s1, n1, _r1, _g1 = a.read()
        s2, n2, _r2, _g2 = b.read()
    burned = (_nd(n1, s1) - _nd(n2, s2)) >= 0.27
    rows = _spherical_row_areas_km2(before)[:, None]
    assert facts["by_theme"]["burned"]["burned_km2"] == pytest.approx(float((burned * rows).sum()), rel=5e-3)


def test_water_extent_matches_numpy_on_the_raw_naip_files(catalog):
    """NAIP has no SWIR: water is NDWI (green - nir) / (green + nir) > 0 on 5 m UTM pixels (25 m² each)."""
    from tools.services import measure_theme

    facts = measure_theme("water", place="North Dakota").facts
    fig = facts["by_theme"]["water"]
    assert facts["dates"] == ["2009-08-18", "2015-09-26", "2020-08-31"]
    with rasterio.open(geodata_path(f"naip-timeseries/{NAIP[0]}")) as ds:
        red, green, blue, nir = ds.read()
    valid = (red > 0) | (green > 0) | (blue > 0) | (nir > 0)
    water_2009 = (_nd(green, nir) > 0) & valid
    # the analysed area drops the pixels missing at any date (the later grids are a row shorter), hence 1 %
    assert fig["first_km2"] == pytest.approx(float(water_2009.sum()) * 25e-6, rel=1e-2)
    assert fig["last_percent"] > fig["first_percent"]  # the potholes filled up between 2009 and 2020
    assert "NDWI" in fig["formula"]


def test_built_up_without_swir_is_refused_in_one_line(catalog):
    from tools.services import measure_theme

    with pytest.raises(BadInputError, match="needs the swir16"):
        measure_theme("built", place="North Dakota")


def test_a_site_watch_measures_only_the_buffer_and_says_when_the_threshold_is_crossed(catalog):
    from tools.services import measure_theme

    lon, lat = -99.155, 47.02  # inside the NAIP quarter-quad
    result = measure_theme("any", lon=lon, lat=lat, radius_km=1.0, threshold_percent=1.0)
    facts = result.facts
    assert facts["analysed_km2"] == pytest.approx(math.pi, rel=2e-2)  # a 1 km circle of 5 m pixels
    assert facts["measures"] == ["vegetation", "water"]  # built-up needs SWIR: left out of the site watch
    assert facts["alert"] == (facts["changed_percent"] > 1.0)
    quiet = measure_theme("any", lon=lon, lat=lat, radius_km=1.0, threshold_percent=99.0).facts
    assert quiet["alert"] is False
    assert any(layer.kind == "geojson" for layer in result.layers)
    assert result.files[0].endswith("chart.png")
    with rasterio.open(result.files[1]) as ds:  # the loss/gain COG
        assert ds.count == 1 and ds.nodata == 255 and ds.overviews(1) is not None


def test_unknown_theme_and_far_site_fail_clearly(catalog):
    from tools.core.errors import NotFoundError
    from tools.services import measure_theme

    with pytest.raises(BadInputError, match="unknown measure"):
        measure_theme("snow", place="Pucallpa")
    with pytest.raises(NotFoundError):
        measure_theme("any", lon=10.0, lat=10.0, radius_km=2.0)


def test_a_failed_measure_is_said_in_french_without_english_left(catalog):
    from assistant import answers
    from tools.core.errors import NotFoundError
    from tools.services import measure_theme

    said = []
    for call, error in ((lambda: measure_theme("built", place="North Dakota"), BadInputError),
                        (lambda: measure_theme("snow", place="Pucallpa"), BadInputError),
                        (lambda: measure_theme("any", lon=10.0, lat=10.0, radius_km=2.0), NotFoundError),
                        (lambda: measure_theme("any", lon=10.0, lat=10.0, radius_km=300.0), BadInputError)):
        with pytest.raises(error) as caught:
            call()
        said.append(answers.error_answer("measure_theme", str(caught.value), "fr"))
    assert "la mesure des surfaces bâties et sols nus demande les bandes" in said[0]
    assert "mesure inconnue « snow »" in said[1]
    assert "aucune scène datée sur" in said[2] or "la zone autour du site ne recouvre pas" in said[2]
    assert "hors limites" in said[3]
    for text in said:
        assert not any(word in text for word in (" needs ", " measure ", "scene(s) found", "out of range")), text


def _crop_paint(city: str, date: int, dst, size: int = 256, cloud: bool = False) -> np.ndarray:
    """A size x size corner of an OSCD date folder (every band cropped to the same bounds, file names kept so the
    date is read from them); with `cloud`, a bright soft-edged disc painted into every band (a synthetic thick
    cloud over real ground). Returns the opaque core of the disc on the 10 m grid."""
    from rasterio.windows import from_bounds

    src_dir = geodata_path(f"oscd-s2/images/{city}/imgs_{date}")
    dst.mkdir(parents=True)
    with rasterio.open(next(src_dir.glob("*_B02.tif"))) as r:
        t = r.transform
    bounds = (t.c + 40 * t.a, t.f + (40 + size) * t.e, t.c + (40 + size) * t.a, t.f + 40 * t.e)
    for f in src_dir.glob("*_B*.tif"):
        with rasterio.open(f) as src:
            win = from_bounds(*bounds, transform=src.transform).round_offsets().round_lengths()
            prof = src.profile | {"width": int(win.width), "height": int(win.height),
                                  "transform": src.window_transform(win)}
            a = src.read(1, window=win).astype(np.float32)
            if cloud:
                yy, xx = np.mgrid[0 : a.shape[0], 0 : a.shape[1]]
                d = np.hypot((xx + 0.5) / a.shape[1] - 0.5, (yy + 0.5) / a.shape[0] - 0.5) / 0.2
                alpha = np.clip(1.5 - d, 0, 1)
                a = a * (1 - alpha) + (3000.0 if f.stem.endswith(("B11", "B12")) else 5500.0) * alpha
            with rasterio.open(dst / f.name, "w", **prof) as out:
                out.write(a.astype(prof["dtype"]), 1)
    yy, xx = np.mgrid[0:size, 0:size]
    return np.hypot((xx + 0.5) / size - 0.5, (yy + 0.5) / size - 0.5) / 0.2 < 0.5


def test_sentinel2_clouds_are_masked_before_measuring(tmp_data_dir, tmp_path):
    """A thick cloud painted on the second of two real Sentinel-2 dates reads as new water (MNDWI > 0.2, above
    NDVI) when nothing is masked; masked, its pixels leave the analysed area and the water gain stays small."""
    from tools.catalog import open_catalog
    from tools.services import measure_theme
    from tools.services.measure import load_series, theme_figures
    from tools.services.themes import THEMES
    from tools.services.tool import pick_series

    cat = open_catalog()
    _crop_paint("bercy", 1, tmp_path / "clear" / "imgs_1")
    _crop_paint("bercy", 2, tmp_path / "clear" / "imgs_2")
    cat.ingest([tmp_path / "clear" / "imgs_1", tmp_path / "clear" / "imgs_2"], place="Bercy clear")
    _crop_paint("bercy", 1, tmp_path / "cloud" / "imgs_1")
    core = _crop_paint("bercy", 2, tmp_path / "cloud" / "imgs_2", cloud=True)
    cat.ingest([tmp_path / "cloud" / "imgs_1", tmp_path / "cloud" / "imgs_2"], place="Bercy cloud")
    core_km2 = float(core.sum()) * 1e-4  # 10 m pixels

    clear = measure_theme("water", place="Bercy clear").facts
    masked = measure_theme("water", place="Bercy cloud").facts
    assert clear["clouds"] is not None and masked["clouds"] is not None
    assert "clouds_masked" in masked["caveats"] and "clouds" not in masked["caveats"]
    first, second = masked["dates"]
    assert masked["clouds"]["percent_per_date"][second] >= masked["clouds"]["percent_per_date"][first] + 100 * (
        core.sum() / core.size) * 0.9
    assert masked["analysed_km2"] <= clear["analysed_km2"] - 0.9 * core_km2
    assert masked["clouds"]["masked_km2"] >= 0.9 * core_km2

    items = pick_series(cat.search(place="Bercy cloud"), None, None)
    raw = theme_figures(load_series(items, [THEMES["water"]], mask_clouds=False), THEMES["water"])
    assert raw["gain_km2"] >= 0.8 * core_km2  # unmasked, the cloud is 'new water'
    assert masked["by_theme"]["water"]["gain_km2"] <= clear["by_theme"]["water"]["gain_km2"] + 0.1 * core_km2


def test_naip_is_not_cloud_masked_and_says_so(catalog):
    from tools.services import measure_theme

    facts = measure_theme("water", place="North Dakota").facts
    assert facts["clouds"] is None and "clouds" in facts["caveats"]
