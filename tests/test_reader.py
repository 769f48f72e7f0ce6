"""The offline image reader on real images from the mirror: scene type, spectral facts, refusals, bad inputs, CLI."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from assistant.errors import BadInputError
from tools.data import geodata_path

CLASSES = ["Airport", "Beach", "Church", "Farmland", "Forest", "StorageTanks"]
BANK_PER_CLASS = 6


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _aid_rows() -> list[dict]:
    root = geodata_path("aid-scenes")
    with (root / "labels.csv").open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["label"] in CLASSES]
    for r in rows:
        r["abs"] = str(root / r["path"])
    return rows


def _split() -> tuple[list[dict], list[dict]]:
    bank_rows, held_out = [], []
    for label in CLASSES:
        rows = [r for r in _aid_rows() if r["label"] == label]
        bank_rows += rows[:BANK_PER_CLASS]
        held_out += rows[BANK_PER_CLASS:]
    return bank_rows, held_out


def _write_labels(folder: Path, rows: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        for r in rows:
            writer.writerow([r["abs"], r["label"]])
    return folder


@pytest.fixture(scope="module")
def small_bank(tmp_path_factory):
    """A 6-class exemplar bank from 36 real AID images (the full bank takes minutes on 2 shared cores)."""
    bank_rows, held_out = _split()
    root = tmp_path_factory.mktemp("reader")
    source = _write_labels(root / "bank_source", bank_rows)
    return {"source": source, "cache": root / "models" / "reader_bank.npz", "held_out": held_out, "root": root}


@pytest.fixture
def reader(small_bank, monkeypatch, tmp_data_dir):
    """read_image wired to the small bank (built once per module, cached in its npz)."""
    from tools.reader import bank

    monkeypatch.setenv("SENTINELLE_VLM_BACKEND", "offline")
    monkeypatch.setattr(bank, "default_source", lambda: small_bank["source"])
    monkeypatch.setattr(bank, "bank_path", lambda: small_bank["cache"])
    bank.clear_cache()
    from tools.reader import read_image

    return read_image


def test_bank_scores_held_out_aid_images(reader, small_bank):
    from tools.reader import bank

    classifier = bank.get_classifier()
    assert classifier.classes == sorted(CLASSES)
    held = small_bank["held_out"]
    probs = classifier.predict(bank.embed([bank.load_rgb(Path(r["abs"])) for r in held]))
    predicted = [classifier.classes[i] for i in probs.argmax(axis=1)]
    accuracy = np.mean([p == r["label"] for p, r in zip(predicted, held, strict=True)])
    assert accuracy >= 0.75, f"held-out accuracy {accuracy:.2f}"
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)


def test_bank_cache_is_reused_and_keyed_by_file_list(reader, small_bank, monkeypatch):
    from tools.reader import bank

    built = bank.build(small_bank["source"], cache=small_bank["cache"])
    monkeypatch.setattr(bank, "embed_training", lambda images: (_ for _ in ()).throw(AssertionError("re-embedded")))
    again = bank.build(small_bank["source"], cache=small_bank["cache"])
    assert again.key == built.key and np.array_equal(again.features, built.features)
    from tools.image_features import TRAIN_VIEWS

    assert again.view_features.shape == (len(built.labels), TRAIN_VIEWS, built.features.shape[1])
    assert 0 < again.temperature <= 1.0 and again.temperature == built.temperature
    other = _write_labels(small_bank["root"] / "other_source", _split()[0][:-1])
    assert bank.bank_key(bank.read_labels(other)) != built.key


def test_read_image_gives_scene_type_and_names_model(reader, small_bank):
    sample = next(r for r in small_bank["held_out"] if r["label"] == "Beach")
    result = reader("What kind of scene is this?", image=sample["abs"])
    classes = result.facts["scene_classes"]
    assert [type(c[0]) for c in classes] == [str] * len(classes)
    scores = [c[1] for c in classes]
    assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1
    assert "EfficientNet-Lite0" in result.model
    assert "EfficientNet-Lite0" in result.facts["answer"]
    assert result.layers == []  # a JPEG has no footprint
    assert result.facts["georeferenced"] is False


def test_refuses_counts_and_objects_but_gives_scene(reader):
    demo = geodata_path("geochat-demo")
    planes = reader("Where are the airplanes located and what is their type?", image=str(demo / "train_2956_0001.png"))
    assert planes.facts["refused"] == ["detect"]
    assert "airplanes" in planes.facts["answer"] and "Qwen2.5-VL" in planes.facts["answer"]
    assert planes.facts["scene_classes"][0][0] in CLASSES
    count = reader("Combien de bâtiments sont inondés ?", image=str(demo / "7292.JPG"), language="fr")
    assert count.facts["refused"] == ["count"]
    assert "ne savent pas compter" in count.facts["answer"]
    # no number in the answer except scores, percentages of measured facts and the model names
    text = re.sub(r"\(\d\.\d\d\)|Lite0|Qwen2\.5", "", count.facts["answer"])
    assert not re.search(r"\d", text), text


def test_candidate_classes_restrict_the_ranking(reader):
    demo = geodata_path("geochat-demo")
    result = reader("Classify the image in the following classes: Church, Beach, Forest.", image=str(demo / "church_183.png"))  # noqa: E501
    assert {c[0] for c in result.facts["scene_classes"]} == {"Church", "Beach", "Forest"}
    assert result.facts["refused"] == []
    assert abs(sum(c[1] for c in result.facts["scene_classes"]) - 1.0) < 1e-3


def test_naip_spectral_facts_footprint_and_no_swir(reader):
    naip = geodata_path("naip-timeseries") / "m_4709963_se_14_1_20200831.tif"
    result = reader("Is there water or vegetation? Any buildings?", image=str(naip))
    facts = result.facts
    assert facts["crs"] == "EPSG:26914" and facts["gsd_m"] == 5.0 and facts["date"] == "2020-08-31"
    assert set(facts["measurable"]) == {"vegetation", "water"}
    assert 10 < facts["vegetation_pct"] < 95 and 1 < facts["water_pct"] < 60
    assert "built_up_pct" not in facts
    assert "short-wave infrared" in facts["answer"]
    assert "spectral indices" in result.model
    (layer,) = result.layers
    west, south, east, north = layer.bounds
    assert -99.3 < west < east < -99.0 and 46.9 < south < north < 47.1
    assert layer.data["features"][0]["geometry"]["type"] == "Polygon"


def test_an_uploads_map_layer_and_facts_carry_the_users_file_name(reader, tmp_path):
    """Uploads are stored as '<8 hex>_<name>': the map's layer list and the facts show the name the user gave."""
    import shutil

    stored = tmp_path / "be470c60_m_4709963_se_14_1_20200831.tif"
    shutil.copyfile(geodata_path("naip-timeseries") / "m_4709963_se_14_1_20200831.tif", stored)
    result = reader("What is this?", image=str(stored))
    (layer,) = result.layers
    assert layer.name == "m_4709963_se_14_1_20200831.tif footprint"
    assert result.facts["source"] == "m_4709963_se_14_1_20200831.tif" and "be470c60" not in result.facts["answer"]


def test_sentinel2_stack_gets_cloud_mask_and_built_up(reader):
    s2 = geodata_path("eo-learn-s2") / "derived" / "REFERENCE_SCENES_idx2_13band_assumed-georef.tif"
    result = reader("Est-ce nuageux ?", image=str(s2), language="fr")
    facts = result.facts
    assert facts["platform"] == "sentinel-2"
    assert {"vegetation", "water", "built_up"} <= set(facts["measurable"])
    assert 0 <= facts["cloud_pct"] <= 100 and 0 <= facts["cloud_shadow_pct"] <= 100
    assert "ukis-csmask" in result.model and "nuages" in facts["answer"]


def _uint16_stack(tmp_path: Path, described: bool) -> Path:
    """A 16-bit 4-band GeoTIFF made from the real OSCD Sentinel-2 Paris bands B02, B03, B04, B08."""
    import rasterio

    folder = next((geodata_path("oscd-s2") / "images" / "paris").glob("imgs_1*"))
    paths = [next(folder.glob(f"*_{b}.tif")) for b in ("B02", "B03", "B04", "B08")]
    arrays = []
    for p in paths:
        with rasterio.open(p) as src:
            arrays.append(src.read(1))
            profile = src.profile
    h = min(a.shape[0] for a in arrays)
    w = min(a.shape[1] for a in arrays)
    profile.update(count=4, dtype="uint16", height=h, width=w)
    target = tmp_path / ("s2_described.tif" if described else "s2_plain.tif")
    with rasterio.open(target, "w", **profile) as dst:
        for i, a in enumerate(arrays, 1):
            dst.write(a[:h, :w].astype("uint16"), i)
            if described:
                dst.set_band_description(i, ("B02", "B03", "B04", "B08")[i - 1])
    return target


def test_16bit_4band_geotiff(reader, tmp_path):
    described = reader("Is there vegetation?", image=str(_uint16_stack(tmp_path, True)))
    assert {"vegetation", "water"} <= set(described.facts["measurable"])
    assert 0 <= described.facts["vegetation_pct"] <= 100
    plain = reader("Is there vegetation?", image=str(_uint16_stack(tmp_path, False)))
    assert plain.facts["measurable"] == []  # unnamed bands: no index is guessed
    assert "near-infrared" in plain.facts["answer"]
    assert plain.facts["scene_classes"]


def test_bbox_reads_only_the_window(reader):
    naip = geodata_path("naip-timeseries") / "m_4709963_se_14_1_20200831.tif"
    full = reader("What is this?", image=str(naip))
    west, south, east, north = full.layers[0].bounds
    box = [west, south, (west + east) / 2, (south + north) / 2]
    part = reader("What is this?", image=str(naip), bbox=box)
    assert part.facts["width"] < full.facts["width"] * 0.6 and part.facts["height"] < full.facts["height"] * 0.6
    pw, ps, pe, pn = part.layers[0].bounds
    assert pw >= west - 1e-3 and pe <= box[2] + 1e-3 and pn <= box[3] + 1e-3
    with pytest.raises(BadInputError, match="does not overlap"):
        reader("What is this?", image=str(naip), bbox=[2.0, 48.0, 2.1, 48.1])


def test_catalog_scene_with_bbox(reader, tmp_data_dir):
    from tools.catalog import open_catalog

    naip = geodata_path("naip-timeseries") / "m_4709963_se_14_1_20200831.tif"
    report = open_catalog().ingest([naip])
    (item,) = report.items
    west, south, east, north = item.bbox
    box = [west, south, (west + east) / 2, (south + north) / 2]
    result = reader("Is there water?", scene_id=item.id, bbox=box)
    assert result.facts["window_bbox"] == pytest.approx(box)
    assert "water_pct" in result.facts and result.facts["source"] == item.id
    assert result.layers[0].bounds[2] <= box[2] + 1e-3
    as_image = reader("Is there water?", image=item.id)  # an id passed as the image still finds the scene
    assert as_image.facts["source"] == item.id and as_image.facts["width"] > result.facts["width"]


def test_bad_inputs_are_one_line_errors(reader, tmp_path, monkeypatch):
    text = tmp_path / "notes.png"
    text.write_text("this is not an image\n")
    with pytest.raises(BadInputError, match=r"notes.png is not a PNG \(it looks like text\)"):
        reader("What is this?", image=str(text))
    real = Path(_aid_rows()[0]["abs"]).read_bytes()
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(real[: len(real) // 3])
    with pytest.raises(BadInputError, match="corrupt or truncated"):
        reader("What is this?", image=str(truncated))
    fake_tif = tmp_path / "fake.tif"
    fake_tif.write_text("II*\0 not really a tiff")
    with pytest.raises(BadInputError, match="fake.tif is not a readable GeoTIFF"):
        reader("What is this?", image=str(fake_tif))
    with pytest.raises(BadInputError, match="does not exist"):
        reader("What is this?", image=str(tmp_path / "missing.jpg"))
    monkeypatch.setenv("SENTINELLE_MAX_PIXELS", "10000")
    from assistant.config import get_settings

    get_settings.cache_clear()
    with pytest.raises(BadInputError, match="airport_1.jpg is larger than the limit of 10,000 pixels"):
        reader("What is this?", image=_aid_rows()[0]["abs"])
    with pytest.raises(BadInputError, match="four numbers"):
        reader("What is this?", image=_aid_rows()[0]["abs"], bbox=[1, 2, 3])


def test_cli_describe_json_and_batch(reader, small_bank, tmp_path, capsys):
    from assistant.cli import main

    sample = small_bank["held_out"][0]
    assert main(["describe", sample["abs"], "--question", "What is this?", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"answer", "facts", "model"} and out["facts"]["scene_classes"]
    assert "answer" not in out["facts"]
    batch = tmp_path / "batch.jsonl"
    rows = small_bank["held_out"][:2]
    lines = [json.dumps({"id": f"img{i}", "image": r["abs"]}) for i, r in enumerate(rows)]
    lines.append(json.dumps({"id": "bad", "image": str(tmp_path / "missing.png"), "question": "count cars"}))
    batch.write_text("\n".join(lines) + "\n")
    assert main(["describe", "--batch", str(batch), "--json"]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [p["id"] for p in printed] == ["img0", "img1", "bad"]
    assert printed[0]["facts"]["scene_classes"][0][0] in CLASSES and "error" in printed[2]


def test_eval_scenes_is_out_of_fold_for_bank_images(reader, small_bank, tmp_path, capsys):
    from assistant.commands.eval_scenes import evaluate

    bank_rows, held_out = _split()
    mixed = _write_labels(tmp_path / "mixed", bank_rows[:12] + held_out[:12])
    scores = evaluate(mixed, folds=3)
    assert scores["images"] == 24
    assert "12 bank images scored out-of-fold" in scores["protocol"]
    assert "12 held-out images" in scores["protocol"]
    assert 0.5 <= scores["top1"] <= scores["top3"] <= 1.0


def test_16bit_png_is_stretched_not_saturated(tmp_path):
    import rasterio
    from PIL import Image

    from tools.reader.inputs import load

    with rasterio.open(geodata_path("spacenet-solaris") / "atlanta" / "sample_geotiff.tif") as src:
        pan = src.read(1)[:300, :300]
    target = tmp_path / "pan16.png"
    Image.fromarray(pan.astype(np.uint16)).save(target)
    img = load(target)
    assert img.rgb.shape == (300, 300, 3) and img.rgb.dtype == np.uint8
    assert 30 < img.rgb.mean() < 225 and img.rgb.std() > 20
    assert not img.georeferenced and img.bands == {}


def test_question_naming_one_class_gets_its_score(reader, small_bank):
    sample = next(r for r in small_bank["held_out"] if r["label"] == "Forest")
    result = reader("Is this a forest?", image=sample["abs"])
    (score,) = result.facts["asked_classes"].values()
    assert list(result.facts["asked_classes"]) == ["Forest"] and score > 0.3
    assert "not an object detector" in result.facts["answer"]
    park = reader("Is there a park near the airport?", image=sample["abs"])
    assert "scene_candidates" not in park.facts  # two classes named in passing do not restrict the ranking
    assert set(park.facts["asked_classes"]) == {"Airport"}  # Park is not in this small bank
