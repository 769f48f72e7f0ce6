"""Change pipeline on real pairs: OSCD per-band folders, a LEVIR PNG pair, grids that differ, bad inputs."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import rasterio
import torch
from rasterio.errors import NotGeoreferencedWarning
from rasterio.warp import calculate_default_transform, reproject
from rasterio.windows import from_bounds
from rio_cogeo.cogeo import cog_validate

from assistant.errors import BadInputError
from tools.change.accuracy import confusion, metrics, read_label
from tools.change.pipeline import run_change
from tools.data import geodata_path

torch.set_num_threads(1)


def _crop_city(city: str, date: int, dst, size: int = 96):
    """Copies a size x size (10 m pixels) corner of an OSCD date folder, every band cropped to the same bounds."""
    src_dir = geodata_path(f"oscd-s2/images/{city}/imgs_{date}")
    dst.mkdir(parents=True)
    ref = next(src_dir.glob("*_B02.tif"))
    with rasterio.open(ref) as r:
        t = r.transform
        bounds = (t.c + 40 * t.a, t.f + (40 + size) * t.e, t.c + (40 + size) * t.a, t.f + 40 * t.e)
    for f in src_dir.glob("*_B*.tif"):
        with rasterio.open(f) as src:
            win = from_bounds(*bounds, transform=src.transform).round_offsets().round_lengths()
            prof = src.profile | {"width": int(win.width), "height": int(win.height),
                                  "transform": src.window_transform(win)}
            with rasterio.open(dst / f.name, "w", **prof) as out:
                out.write(src.read(window=win))
    return dst


@pytest.fixture(scope="module")
def paris_crop(tmp_path_factory):
    root = tmp_path_factory.mktemp("paris")
    return _crop_city("paris", 1, root / "imgs_1"), _crop_city("paris", 2, root / "imgs_2")


def test_oscd_city_writes_cogs_on_before_grid_and_wgs84_polygons(paris_crop, tmp_path):
    before, after = paris_crop
    summary = run_change(before, after, tmp_path, method="zeroshot")
    for name in ("score.tif", "mask.tif"):
        valid, errors, _ = cog_validate(str(tmp_path / name))
        assert valid, errors
    ref = next(before.glob("*_B02.tif"))
    with rasterio.open(ref) as r, rasterio.open(tmp_path / "mask.tif") as m:
        assert (m.crs, m.width, m.height) == (r.crs, r.width, r.height)
        assert m.transform.almost_equals(r.transform)
        mask = m.read(1)
        lon0, lat0, lon1, lat1 = r.bounds
    assert set(np.unique(mask)) <= {0, 1, 255}
    assert summary["changed_pixels"] == int((mask == 1).sum())
    assert summary["before"]["date"] == "2016-11-30"
    assert summary["after"]["date"] == "2017-11-07"
    assert "S2_SWIR" in summary["galileo_groups"] and summary["regime"] == "s2"
    assert "season" not in summary["caveats"]  # November and November
    fc = json.loads((tmp_path / "changes.geojson").read_text())
    assert fc["properties"]["crs"] == "EPSG:4326"
    assert len(fc["features"]) == summary["n_patches"] > 0
    for feat in fc["features"]:
        lon, lat = feat["properties"]["centroid"]
        assert lon0 <= lon <= lon1 and lat0 <= lat <= lat1
        # 10 m pixels: a patch's ground area is its pixel count times ~100 m² (EPSG:4326 grid, geodesic area)
        assert 60 * feat["properties"]["area_px"] < feat["properties"]["area_m2"] < 160 * feat["properties"]["area_px"]
    assert summary["changed_km2"] == pytest.approx(summary["changed_pixels"] * 1.1e-4, rel=0.3)


def test_levir_pairs_pixel_grid_beat_chance(tmp_path):
    """Zero-shot on the LEVIR pairs: outputs on the pixel grid, and change found better than at random."""
    from tools.change.accuracy import ab_pairs

    total = np.zeros(4, int)
    positives = 0
    for pair in ab_pairs(geodata_path("levir-dsifn-samples/LEVIR")):
        out = tmp_path / pair.name
        summary = run_change(pair.before, pair.after, out, method="zeroshot")
        assert summary["georeferenced"] is False and summary["changed_km2"] is None
        fc = json.loads((out / "changes.geojson").read_text())
        assert fc["properties"]["georeferenced"] is False and fc["properties"]["crs"] == "pixel"
        for feat in fc["features"]:
            x, y = feat["properties"]["centroid"]
            assert 0 <= x <= 256 and 0 <= y <= 256 and feat["properties"]["area_m2"] is None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(out / "mask.tif") as m:
                pred = m.read(1) == 1
        assert pred.shape == (256, 256)
        label = read_label(pair)
        total += confusion(pred, label)
        positives += int(label.sum())
    m = metrics(total)
    assert m["precision"] > 1.1 * positives / total.sum()  # above flagging pixels at random
    assert m["recall"] < 0.9 and m["f1"] > 0.2  # not flagging everything


def _warp_to_wgs84(src_path, dst_path):
    """Writes the same image on another grid (EPSG:4326, other pixel size), as a second sensor would."""
    with rasterio.open(src_path) as src:
        transform, w, h = calculate_default_transform(src.crs, "EPSG:4326", src.width, src.height, *src.bounds,
                                                      resolution=(6.5e-5, 4.5e-5))
        prof = src.profile | {"crs": "EPSG:4326", "transform": transform, "width": w, "height": h}
        with rasterio.open(dst_path, "w", **prof) as dst:
            for b in range(1, src.count + 1):
                reproject(rasterio.band(src, b), rasterio.band(dst, b), resampling=rasterio.enums.Resampling.bilinear)


def test_mismatched_grids_are_aligned_on_before_grid(tmp_path):
    naip = geodata_path("naip-timeseries")
    before = naip / "m_4709963_se_14_1_20180716.tif"
    other_date = naip / "m_4709963_se_14_1_20090818.tif"
    warped = tmp_path / "m_4709963_se_14_1_20180716_wgs84.tif"
    _warp_to_wgs84(before, warped)
    same = run_change(before, warped, tmp_path / "same", method="cva")
    diff = run_change(before, other_date, tmp_path / "diff", method="cva")
    with rasterio.open(before) as b, rasterio.open(tmp_path / "same" / "mask.tif") as m:
        assert (m.crs, m.shape) == (b.crs, b.shape) and m.transform.almost_equals(b.transform)
    with rasterio.open(tmp_path / "same" / "score.tif") as s1, rasterio.open(tmp_path / "diff" / "score.tif") as s2:
        same_score, diff_score = np.nanmedian(s1.read(1)), np.nanmedian(s2.read(1))
    # the same image on another grid, once aligned, differs far less than a real second date
    assert same_score < 0.4 * diff_score
    assert same["before"]["date"] == "2018-07-16" and diff["after"]["date"] == "2009-08-18"


def test_non_overlapping_scenes_are_refused(tmp_path):
    naip = geodata_path("naip-timeseries/m_4709963_se_14_1_20180716.tif")
    paris = geodata_path("oscd-s2/images/paris/imgs_1")
    with pytest.raises(BadInputError, match="do not overlap"):
        run_change(naip, paris, tmp_path, method="cva")


def test_corrupt_and_missing_files_are_refused(tmp_path):
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"II*\x00" + b"\x13" * 500)
    good = geodata_path("naip-timeseries/m_4709963_se_14_1_20180716.tif")
    with pytest.raises(BadInputError, match="broken.tif is not a readable GeoTIFF"):
        run_change(good, bad, tmp_path / "out", method="cva")
    with pytest.raises(BadInputError, match="no such file"):
        run_change(good, tmp_path / "nothere.tif", tmp_path / "out", method="cva")


def _paint_cloud(folder, radius: float = 0.2) -> np.ndarray:
    """Paints a bright, soft-edged disc into every band of a Sentinel-2 date folder (a synthetic cloud over real
    ground); returns its opaque core on the 10 m grid."""
    for f in folder.glob("*_B*.tif"):
        with rasterio.open(f, "r+") as ds:
            a = ds.read(1).astype(np.float32)
            yy, xx = np.mgrid[0 : a.shape[0], 0 : a.shape[1]]
            d = np.hypot((xx + 0.5) / a.shape[1] - 0.5, (yy + 0.5) / a.shape[0] - 0.5) / radius
            alpha = np.clip(1.5 - d, 0, 1)
            bright = 3000.0 if f.stem.endswith(("B11", "B12")) else 5500.0  # TOA DN of thick cloud
            ds.write((a * (1 - alpha) + bright * alpha).astype(ds.dtypes[0]), 1)
    with rasterio.open(next(folder.glob("*_B02.tif"))) as ds:
        yy, xx = np.mgrid[0 : ds.height, 0 : ds.width]
        return np.hypot((xx + 0.5) / ds.width - 0.5, (yy + 0.5) / ds.height - 0.5) / radius < 0.5


def test_cloud_masking_excludes_pixels_when_bands_allow(tmp_path):
    root = tmp_path / "bercy"
    before = _crop_city("bercy", 1, root / "imgs_1", size=256)
    after = _crop_city("bercy", 2, root / "imgs_2", size=256)
    clear = run_change(before, after, tmp_path / "clear", method="cva", clouds=True)["clouds"]
    core = _paint_cloud(after)
    plain = run_change(before, after, tmp_path / "plain", method="cva")
    masked = run_change(before, after, tmp_path / "clouds", method="cva", clouds=True)
    info = masked["clouds"]
    assert info["applied"] is True
    assert info["date2_cloud_pixels"] > clear["date2_cloud_pixels"] + core.sum()
    assert info["date1_cloud_pixels"] == clear["date1_cloud_pixels"]
    with rasterio.open(tmp_path / "plain" / "mask.tif") as m:
        assert (m.read(1)[core] == 1).mean() > 0.5  # unmasked, the cloud reads as change
    with rasterio.open(tmp_path / "clouds" / "mask.tif") as m:
        mask = m.read(1)
    assert (mask[core] == 255).all()  # masked, it is left out of the change map
    assert int((mask == 255).sum()) == masked["masked_pixels"] >= plain["masked_pixels"]
    assert masked["masked_pixels"] - plain["masked_pixels"] <= info["date1_cloud_pixels"] + info["date2_cloud_pixels"]
    naip = geodata_path("naip-timeseries")
    rgbn = run_change(naip / "m_4709963_se_14_1_20150926.tif", naip / "m_4709963_se_14_1_20200831.tif",
                      tmp_path / "naip", method="cva", clouds=True)
    assert rgbn["clouds"]["applied"] is False and "reflectance" in rgbn["clouds"]["reason"]


def test_landsat_sampled_references_scored_with_per_date_scaling(tmp_path):
    """Taizhou (Landsat-7, 2000 -> 2003, hazier first date): only the sampled reference pixels are scored, and
    standardising each date on its own finds the changes that pooled scaling missed (F1 0.26 before)."""
    from tools.change.accuracy import labelled_pixels, sampled_pairs

    pairs = {p.name: p for p in sampled_pairs(geodata_path("landsat-cd-taizhou-nanjing"))}
    assert set(pairs) == {"Taizhou", "Nanjing"}
    pair = pairs["Taizhou"]
    assert pair.before.name == "2000TM" and pair.after.name == "2003TM"
    label = read_label(pair)
    labelled = labelled_pixels(pair, label)
    assert int(label.sum()) == 4227 and int((labelled & ~label).sum()) == 17163  # the MANIFEST's counts
    summary = run_change(pair.before, pair.after, tmp_path, method="zeroshot")
    assert summary["regime"] == "multispectral"
    with rasterio.open(tmp_path / "mask.tif") as m:
        mask = m.read(1)
    c = confusion(mask == 1, label, labelled & (mask != 255))
    assert metrics(c)["f1"] > 0.7, metrics(c)


def test_per_date_scaling_removes_an_offset_between_dates():
    from tools.change.bands import band_map_from_count, fit_scaling, to_galileo
    from tools.change.galileo import SPACE_TIME_BANDS

    rng = np.random.default_rng(0)
    base = rng.normal(100, 10, (3, 64, 64))
    hazy = base * 0.8 + 30  # the same ground seen through haze
    k = SPACE_TIME_BANDS.index("B4")
    for per_date, expect_equal in ((False, False), (True, True)):
        bms = [band_map_from_count(3), band_map_from_count(3)]
        fit_scaling(bms, [base.reshape(3, -1), hazy.reshape(3, -1)], per_date=per_date)
        g1, g2 = to_galileo(base, bms[0])[..., k], to_galileo(hazy, bms[1])[..., k]
        assert np.allclose(g1, g2, atol=1e-4) == expect_equal


def test_dates_in_different_seasons_are_flagged(tmp_path):
    """OSCD Bercy compares a November scene with an August one: the summary says seasons differ."""
    before = _crop_city("bercy", 1, tmp_path / "imgs_1", size=32)
    after = _crop_city("bercy", 2, tmp_path / "imgs_2", size=32)
    summary = run_change(before, after, tmp_path / "out", method="cva")
    assert (summary["before"]["date"], summary["after"]["date"]) == ("2016-11-30", "2017-08-29")
    assert "season" in summary["caveats"]


def test_change_polygons_are_simplified_but_keep_their_area(tmp_path):
    """Patch outlines lose their pixel staircases (fewer vertices than the raw outline of the mask) while their
    ground area stays within a few percent of their pixel count times the pixel area."""
    import shapely
    from rasterio.features import shapes
    from shapely.geometry import shape

    naip = geodata_path("naip-timeseries")
    summary = run_change(naip / "m_4709963_se_14_1_20150926.tif", naip / "m_4709963_se_14_1_20200831.tif",
                         tmp_path, method="cva", window=(0, 0, 600, 600))
    fc = json.loads((tmp_path / "changes.geojson").read_text())
    with rasterio.open(tmp_path / "mask.tif") as m:
        mask = m.read(1)
    raw = sum(shapely.get_num_coordinates(shape(g)) for g, _ in shapes((mask == 1).astype(np.uint8), mask == 1))
    drawn = sum(shapely.get_num_coordinates(shape(f["geometry"])) for f in fc["features"])
    assert len(fc["features"]) == summary["n_patches"] > 10
    assert drawn < 0.7 * raw
    px_m2 = summary["pixel_size_m"] ** 2
    big = [f["properties"] for f in fc["features"] if f["properties"]["area_px"] >= 100]
    assert big and all(0.9 < p["area_m2"] / (p["area_px"] * px_m2) < 1.1 for p in big)


def test_a_shifted_grid_is_read_without_a_warp_and_matches_one(monkeypatch):
    """NAIP 2020 sits 0.2 px off NAIP 2015's grid: bilinear resampling from a plain windowed read gives what a
    WarpedVRT gives (GDAL rounds to the source's integers: within 0.5), and a whole-pixel shift is an exact read."""
    from rasterio.transform import Affine
    from rasterio.windows import Window

    from tools.change import sources
    from tools.change.sources import AlignedReader, Grid, open_source

    naip = geodata_path("naip-timeseries")
    before = open_source(naip / "m_4709963_se_14_1_20150926.tif")
    after = open_source(naip / "m_4709963_se_14_1_20200831.tif")
    fast = AlignedReader(after, before.grid)
    assert list(fast._shift.values()) == [pytest.approx((0.2, 0.2, 0.0))]
    monkeypatch.setattr(sources, "_translation", lambda src, ref: None)
    warped = AlignedReader(after, before.grid)
    monkeypatch.undo()
    whole = Window(0, 0, before.grid.width, before.grid.height)
    for win in (whole, Window(100, 50, 300, 200), Window(900, 700, 34, 23)):
        assert np.abs(fast._read_window(win) - warped._read_window(win)).max() <= 0.5
    with rasterio.open(before.files[0]) as src:
        exact = src.read(window=Window(100, 60, 400, 300))
    for shift in (100, 100 - 1e-9, 100 + 1e-9):  # float noise in a grid's origin is no sub-pixel shift
        window_grid = Grid(before.grid.crs, before.grid.transform * Affine.translation(shift, 60), 400, 300)
        with AlignedReader(before, window_grid) as r:
            assert np.array_equal(r._read_window(Window(0, 0, 400, 300)), exact)


def test_every_written_polygon_is_valid_on_a_real_landsat_pair(tmp_path, monkeypatch):
    """Nanjing 2000 -> 2002 (CVA) wrote ring self-intersections before the repair (344 of 3000 patches); a GIS
    client must read every polygon as valid (OGC), and the repair must not change the areas."""
    import shapely
    from shapely.geometry import shape

    import tools.change.polygons as polygons

    nj = geodata_path("landsat-cd-taizhou-nanjing/Nanjing")
    pair = (nj / "LT51200382000124BJC00_Nanjing", nj / "LT51200382002193BJC00_Nanjing")
    run_change(*pair, tmp_path / "fixed", method="cva")
    fixed = [shape(f["geometry"]) for f in json.loads((tmp_path / "fixed" / "changes.geojson").read_text())["features"]]
    assert len(fixed) > 100 and all(g.is_valid for g in fixed)

    monkeypatch.setattr(polygons, "valid_polygonal", lambda g: g)  # what was written before the repair
    run_change(*pair, tmp_path / "raw", method="cva")
    raw = [shape(f["geometry"]) for f in json.loads((tmp_path / "raw" / "changes.geojson").read_text())["features"]]
    assert sum(not g.is_valid for g in raw) > 10
    assert abs(sum(shapely.area(fixed)) / sum(shapely.area(raw)) - 1) < 0.01


def test_patches_cut_by_block_edges_are_joined_as_one_block_would_draw_them(tmp_path):
    """The same real score raster polygonised in one block and in 128 px blocks (most patches cut by a block
    edge, then joined) gives the same patches: their number, pixel counts, scores and areas of the largest, the
    total area. Pieces meeting at a corner only are one 8-connected patch, as inside a block (they were split
    into separate patches before: the largest here, 15098 px, came out as 10799 px and others)."""
    import shapely
    from shapely.geometry import shape

    from tools.change.polygons import polygonize_mask
    from tools.change.sources import Grid

    naip = geodata_path("naip-timeseries")
    summary = run_change(naip / "m_4709963_se_14_1_20150926.tif", naip / "m_4709963_se_14_1_20200831.tif",
                         tmp_path / "run", method="cva", window=(0, 0, 600, 600))
    with rasterio.open(tmp_path / "run" / "score.tif") as f:
        grid = Grid(f.crs, f.transform, f.width, f.height)
    one = polygonize_mask(tmp_path / "run" / "score.tif", tmp_path / "one.tif", grid, summary["threshold"], 1, 1024)
    cut = polygonize_mask(tmp_path / "run" / "score.tif", tmp_path / "cut.tif", grid, summary["threshold"], 1, 128)

    def patches(result):
        return [(f["properties"]["area_px"], f["properties"]["mean_score"], f["properties"]["area_m2"])
                for f in result["geojson"]["features"]]

    assert cut["changed_pixels"] == one["changed_pixels"] > 1000
    assert cut["n_patches"] == one["n_patches"] > 1000
    big_one, big_cut = patches(one)[:5], patches(cut)[:5]
    assert [p[:2] for p in big_cut] == [p[:2] for p in big_one]
    assert all(abs(a[2] / b[2] - 1) < 0.02 for a, b in zip(big_cut, big_one, strict=True))  # outlines simplified
    area = [sum(shapely.area(shape(f["geometry"])) for f in r["geojson"]["features"]) for r in (one, cut)]
    assert abs(area[1] / area[0] - 1) < 0.01
    assert all(shape(f["geometry"]).is_valid for f in cut["geojson"]["features"])
