"""Which images the offline reader should refuse to classify, and on what evidence.

Two kinds of rule, both fixed on the 300 AID exemplar scenes before looking at the check images:

1. Distance (written down first): an image whose nearest bank exemplar is farther than the 99th percentile of the
   bank's own leave-one-out nearest-exemplar distances (cosine, in the probe's centred feature space) is unfamiliar.
2. Content: each statistic's limit lies outside the range of all 300 AID scenes, halfway to its physical limit:
   share of the 8 most common colours (AID max 0.925 -> refuse >= 0.96), correlation of neighbouring 4x4 block
   means (AID min 0.20 -> refuse < 0.10); plus fixed limits: < 32 px a side, >= 98% one flat colour or nodata.

The check images: real remote-sensing images that are not in the bank (should be read) and crafted non-scenes
(noise, flat colours, gradient, checkerboard, text page, screenshot; should be refused). Measured result, which is
why rule 1 only hedges (`scene_unfamiliar`) and rule 2 refuses: rule 1 passes noise (nearer the forests than most AID
scenes are to each other) and refuses a third of the real check images (NAIP, Landsat, 10 m).

    SENTINELLE_DATA_DIR=/tmp/ood python benchmarks/reader_ood.py [--bank-source DIR]
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REAL = [  # remote-sensing images that are not in the AID bank
    "geochat-demo/04133.png", "geochat-demo/04444.png", "geochat-demo/11760.jpg", "geochat-demo/11765.jpg",
    "geochat-demo/7292.JPG", "geochat-demo/church_183.png", "geochat-demo/train_2956_0001.png",
    "levir-dsifn-samples/LEVIR/A/test_2_0000_0000.png", "levir-dsifn-samples/LEVIR/B/test_77_0512_0256.png",
    "levir-dsifn-samples/LEVIR/A/test_121_0768_0256.png", "levir-dsifn-samples/DSIFN/A/0_2.png",
    "levir-dsifn-samples/DSIFN/B/4_4.png", "levir-dsifn-samples/DSIFN/A/1_1.png",
    "rasterio-fixtures/RGB.byte.tif", "rasterio-fixtures/cogeo.tif",
    "naip-timeseries/m_4709963_se_14_1_20090818.tif", "naip-timeseries/m_4709963_se_14_1_20180716.tif",
    "landsat-pucallpa-timeseries/1985.tif", "landsat-pucallpa-timeseries/2020.tif",
    "opengeos-cog-10m/cog.tif", "spacenet-solaris/rotterdam/rgb_unmasked.tif",
    "spacenet-solaris/atlanta/sample_geotiff.tif",
]  # fmt: skip


def crafted() -> dict[str, np.ndarray]:
    """Images that show no scene at all (the kinds a user may attach by mistake)."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    out = {
        "uniform noise": rng.integers(0, 256, (256, 256, 3), dtype=np.uint8),
        "grey noise": np.repeat(rng.integers(0, 256, (256, 256, 1), dtype=np.uint8), 3, axis=2),
        "gaussian noise": np.clip(rng.normal(128, 40, (256, 256, 3)), 0, 255).astype(np.uint8),
        "flat green": np.full((256, 256, 3), (40, 120, 40), dtype=np.uint8),
        "flat black": np.zeros((256, 256, 3), dtype=np.uint8),
        "flat white": np.full((256, 256, 3), 255, dtype=np.uint8),
        "horizontal gradient": np.repeat(np.repeat(np.linspace(0, 255, 256, dtype=np.uint8)[None, :, None], 256, 0),
                                         3, 2),
        "checkerboard": np.kron((np.indices((8, 8)).sum(0) % 2) * 255, np.ones((32, 32)))[:, :, None]
        .repeat(3, 2).astype(np.uint8),
    }
    text = Image.new("RGB", (400, 300), "white")
    draw = ImageDraw.Draw(text)
    for row in range(14):
        draw.text((10, 8 + row * 20), "The quick brown fox jumps over the lazy dog 0123456789", fill="black")
    out["text page"] = np.asarray(text)
    shot = Image.new("RGB", (480, 320), (240, 240, 240))
    draw = ImageDraw.Draw(shot)
    draw.rectangle((0, 0, 480, 30), fill=(40, 90, 160))
    draw.text((10, 8), "Settings - Preferences", fill="white")
    for i in range(6):
        y = 50 + i * 40
        draw.rectangle((20, y, 300, y + 28), outline=(120, 120, 120), fill="white")
        draw.text((30, y + 8), f"Option {i}: enabled", fill="black")
        draw.rectangle((320, y, 400, y + 28), fill=(60, 160, 80))
        draw.text((335, y + 8), "Save", fill="white")
    out["screenshot"] = np.asarray(shot)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bank-source", type=Path, help="labelled folder (default: the AID sample)")
    parser.add_argument("--percentile", type=float, default=99.0)
    args = parser.parse_args()

    import assistant.config  # noqa: F401 - the application settings (upload limit)
    from tools.data import geodata_path
    from tools.reader import bank, offline
    from tools.reader.inputs import load

    classifier = bank.build(args.bank_source) if args.bank_source else bank.get_classifier()
    loo = bank.loo_nearest_distances(classifier)
    threshold = float(np.percentile(loo, args.percentile))
    print(f"bank: {len(loo)} exemplars, {len(classifier.classes)} classes")
    print("bank leave-one-out nearest distance: " + ", ".join(
        f"p{p:g} {np.percentile(loo, p):.3f}" for p in (50, 90, 95, 99, 100)))
    print(f"threshold (p{args.percentile:g}): {threshold:.3f}\n")

    def show(name: str, rgb: np.ndarray) -> None:
        features = bank.embed([rgb])
        dist = float(bank.nearest_distance(classifier, features)[0])
        probs = classifier.predict(features)[0]
        top = int(np.argmax(probs))
        problem = offline.unreadable_reason_rgb(rgb)
        verdict = problem["unreadable"] if problem else ("unfamiliar" if dist > threshold else "read")
        print(f"{dist:6.3f} {offline.top_colours_share(rgb):5.3f} {offline.coarse_correlation(rgb):6.3f}  "
              f"{verdict:11s} {classifier.classes[top]:>18s} {probs[top]:.2f}  {name}")

    header = "  dist top8   corr   verdict     top class      score  image"
    print("real remote-sensing images, not in the bank:\n" + header)
    for rel in REAL:
        try:
            rgb = load(geodata_path(rel), max_side=1024).rgb
        except Exception as exc:  # noqa: BLE001 - a measurement script reports and goes on
            print(f"   -    {rel}: {exc}")
            continue
        show(rel, rgb)
    print("\ncrafted non-scene images (and their JPEG):\n" + header)
    for name, rgb in crafted().items():
        show(name, rgb)
        show(name + " (jpeg)", _jpeg(rgb))
    print("\nAID exemplars, content statistics:")
    stats = np.array([(offline.top_colours_share(rgb), offline.coarse_correlation(rgb), offline.flat_share(rgb))
                      for rgb in (load(row.path).rgb for row in bank.read_labels(args.bank_source
                                                                                 or bank.default_source()))])
    print(f"  top-8 colour share max {stats[:, 0].max():.3f}, block correlation min {stats[:, 1].min():.3f}, "
          f"flat share max {stats[:, 2].max():.3f}")


def _jpeg(rgb: np.ndarray) -> np.ndarray:
    """The image after a JPEG round trip (quality 85), as a user's file would often be."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=85)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))

if __name__ == "__main__":
    main()
