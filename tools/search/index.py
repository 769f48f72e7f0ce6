"""The chip index: chromadb holds vectors + metadata; a numpy side table answers filtered queries fast.

chromadb is the store of record (embedded `PersistentClient` at `settings.chroma_root`, or a chroma server at
`settings.chroma_url`). Its `where` filters cost 130-295 ms per query at 100k chips, so filtered queries resolve
the filters on an in-memory side table (metadata columns as numpy arrays, rows sorted by platform, date and
scene) and score the surviving rows exactly: few rows are gathered, contiguous spans are scored in place; only
very large candidate sets go to chroma's HNSW with over-fetching, post-filtered on the same table. The side table
is rebuilt from chroma (or its disk cache) whenever the collection changes. `benchmarks/bench_search.py`, 100k
chips, 2 shared cores: every filtered query p95 under 6 ms at 286-d (the default encoder), under 13 ms at 1280-d.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from tools.core.errors import ModelUnavailableError
from tools.core.settings import get_settings
from tools.search.encoders import DEFAULT_ENCODER, collection_name

# Budgets in vector *values* (rows x dim), so a 286-d index (the default encoder) scores 4.5x more rows exactly than
# a 1280-d one for the same memory traffic: matrix-vector scoring is bound by memory bandwidth (~10 GB/s here).
EXACT_MAX_VALUES = 5_120_000  # filtered rows up to this many values are gathered and scored exactly (1280-d: 4k rows)
SPAN_MAX_VALUES = 51_200_000  # rows in contiguous spans up to this many values are scored in place (1280-d: 40k rows)
MAX_SPANS = 512  # more spans than this: gather instead
STAMP_CHECK_S = 1.0  # how often a query re-checks whether the collection changed
PAGE = 5_000
NO_TIME = np.iinfo(np.int64).min


@dataclass
class Filters:
    """Metadata filters resolved to plain values (place names are resolved to a bbox or scene ids upstream)."""

    bbox: Sequence[float] | None = None  # west, south, east, north
    start: int | None = None  # epoch seconds, inclusive
    end: int | None = None  # epoch seconds, inclusive
    platform: str | None = None
    max_cloud_cover: float | None = None
    scene_ids: set[str] | None = None

    def empty(self) -> bool:
        return all(
            v is None for v in (self.bbox, self.start, self.end, self.platform, self.max_cloud_cover, self.scene_ids)
        )

    def to_where(self) -> dict[str, Any] | None:
        """The same filters as a chroma `where` clause (the baseline the benchmark compares against)."""
        terms: list[dict[str, Any]] = []
        if self.start is not None:
            terms.append({"datetime": {"$gte": int(self.start)}})
        if self.end is not None:
            terms.append({"datetime": {"$lte": int(self.end)}})
        if self.platform:
            terms.append({"platform": self.platform.lower()})
        if self.max_cloud_cover is not None:
            terms.append({"cloud_cover": {"$lte": float(self.max_cloud_cover)}})
        if self.bbox is not None:
            w, s, e, n = self.bbox
            terms += [{"west": {"$lte": e}}, {"east": {"$gte": w}}, {"south": {"$lte": n}}, {"north": {"$gte": s}}]
        if self.scene_ids is not None:
            terms.append({"scene_id": {"$in": sorted(self.scene_ids)}})
        if not terms:
            return None
        return terms[0] if len(terms) == 1 else {"$and": terms}


@dataclass
class Hit:
    id: str
    score: float
    metadata: dict[str, Any]
    document: str | None = None


@dataclass
class SideTable:
    """Everything a filtered query needs, in memory: ids, vectors, metadata columns."""

    ids: np.ndarray
    vectors: np.ndarray
    metadatas: list[dict[str, Any]]
    documents: list[str | None]
    t: np.ndarray = field(init=False)
    platform: np.ndarray = field(init=False)
    platform_names: np.ndarray = field(init=False)
    cloud: np.ndarray = field(init=False)
    bbox: np.ndarray = field(init=False)
    scene: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        m = self.metadatas
        self.t = np.array([int(x.get("datetime", NO_TIME)) for x in m], dtype=np.int64)
        names = [f"{x.get('platform', '')}|{x.get('constellation', '')}".lower() for x in m]
        self.platform_names, self.platform = np.unique(np.array(names or [""], dtype=object), return_inverse=True)
        self.platform = self.platform[: len(m)]
        self.cloud = np.array([float(x.get("cloud_cover", np.nan)) for x in m], dtype=np.float64)
        self.bbox = np.array(
            [[x.get(k, np.nan) for k in ("west", "south", "east", "north")] for x in m], dtype=np.float64
        ).reshape(len(m), 4)
        self.scene = np.array([str(x.get("scene_id", "")) for x in m], dtype=object)
        # Rows sorted by (platform, date, scene): platform and date filters select a few contiguous spans, which are
        # scored in place without copying vectors (the temporal/platform partitioning of the index).
        order = np.lexsort((self.scene.astype(str), self.t, self.platform)) if len(m) else np.arange(0)
        if len(order) and np.any(order != np.arange(len(order))):
            self.ids, self.vectors = self.ids[order], np.ascontiguousarray(self.vectors[order])
            self.metadatas = [self.metadatas[i] for i in order]
            self.documents = [self.documents[i] for i in order]
            self.t, self.platform, self.cloud = self.t[order], self.platform[order], self.cloud[order]
            self.bbox, self.scene = self.bbox[order], self.scene[order]

    def __len__(self) -> int:
        return len(self.ids)

    def mask(self, f: Filters) -> np.ndarray:
        """Boolean mask of the rows passing the filters; unknown cloud cover passes, unknown dates do not."""
        keep = np.ones(len(self), dtype=bool)
        if f.start is not None:
            keep &= (self.t != NO_TIME) & (self.t >= f.start)
        if f.end is not None:
            keep &= (self.t != NO_TIME) & (self.t <= f.end)
        if f.platform:
            codes = [i for i, name in enumerate(self.platform_names) if platform_matches(name, f.platform)]
            keep &= np.isin(self.platform, codes)
        if f.max_cloud_cover is not None:
            keep &= ~(self.cloud > f.max_cloud_cover)
        if f.bbox is not None:
            w, s, e, n = f.bbox
            b = self.bbox
            with np.errstate(invalid="ignore"):
                keep &= (b[:, 0] <= e) & (b[:, 2] >= w) & (b[:, 1] <= n) & (b[:, 3] >= s)
        if f.scene_ids is not None:
            keep &= np.isin(self.scene, np.array(sorted(f.scene_ids), dtype=object))
        return keep

    def hit(self, row: int, score: float) -> Hit:
        return Hit(str(self.ids[row]), float(score), self.metadatas[row], self.documents[row])


_CONTROLLER = None


def _blas_one_thread():  # noqa: ANN202 - a context manager
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


def mask_spans(mask: np.ndarray, gap: int = 64) -> list[tuple[int, int]]:
    """Contiguous [start, end) row spans covering the True rows; spans closer than `gap` rows are merged."""
    if not mask.any():
        return []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    starts, ends = edges[0::2], edges[1::2]
    keep = np.concatenate([[True], starts[1:] - ends[:-1] > gap])
    merged_ends = np.concatenate([ends[np.flatnonzero(keep)[1:] - 1], [ends[-1]]])
    return list(zip(starts[keep].tolist(), merged_ends.tolist(), strict=True))


def platform_matches(stored: str, wanted: str) -> bool:
    """'sentinel-2' matches platform 'sentinel-2a' or constellation 'sentinel-2'; 'landsat' matches 'landsat-8'."""
    want = wanted.strip().lower().replace(" ", "-").replace("_", "-")
    return any(part and (part == want or part.startswith(want)) for part in stored.split("|"))


def _client(root: Path | None = None, url: str | None = None):  # noqa: ANN202 - chromadb client type
    import chromadb

    settings = get_settings()
    url = url if url is not None else (settings.chroma_url if root is None else None)
    chroma_settings = chromadb.Settings(anonymized_telemetry=False)
    if url:
        parsed = urlparse(url)
        try:
            return chromadb.HttpClient(
                host=parsed.hostname or "localhost",
                port=parsed.port or 8000,
                ssl=parsed.scheme == "https",
                settings=chroma_settings,
            )
        except Exception as exc:  # noqa: BLE001 - connection refused, DNS, version mismatch
            raise ModelUnavailableError(f"the chroma server at {url} cannot be reached") from exc
    root = Path(root or settings.chroma_root)
    root.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(root), settings=chroma_settings)


class ChipIndex:
    """Image vectors ('img') and description vectors ('txt') of the same chips, one pair of collections per encoder."""

    def __init__(self, root: Path | None = None, url: str | None = None, encoder: str = DEFAULT_ENCODER) -> None:
        self.encoder = encoder
        self.client = _client(root, url)
        settings = get_settings()
        remote = url if url is not None else (settings.chroma_url if root is None else None)
        self.root: Path | None = None if remote else Path(root or settings.chroma_root)
        space = {"hnsw:space": "cosine"}
        self.img = self.client.get_or_create_collection(collection_name(encoder, "img"), metadata=space)
        self.txt = self.client.get_or_create_collection(collection_name(encoder, "txt"), metadata=space)
        self._tables: dict[str, tuple[tuple[int, int], tuple[int, ...] | None, SideTable]] = {}
        self._checked: dict[str, float] = {}
        self._lock = threading.Lock()

    # --- writing ---------------------------------------------------------------------------------
    def existing(self, ids: Sequence[str]) -> set[str]:
        """Which of `ids` are already stored (both collections must have them)."""
        if not ids:
            return set()
        have = set(self.img.get(ids=list(ids), include=[])["ids"])
        return have & set(self.txt.get(ids=list(have), include=[])["ids"]) if have else set()

    def all_ids(self) -> set[str]:
        """Every id in the image collection (the indexer skips these)."""
        out: set[str] = set()
        total = self.img.count()
        for offset in range(0, total, PAGE):
            out.update(self.img.get(include=[], limit=PAGE, offset=offset)["ids"])
        return out & self._txt_ids() if out else out

    def _txt_ids(self) -> set[str]:
        out: set[str] = set()
        for offset in range(0, self.txt.count(), PAGE):
            out.update(self.txt.get(include=[], limit=PAGE, offset=offset)["ids"])
        return out

    def add(
        self,
        ids: Sequence[str],
        img_vectors: np.ndarray,
        txt_vectors: np.ndarray,
        metadatas: Sequence[dict[str, Any]],
        documents: Sequence[str],
    ) -> None:
        """Store a batch (upsert: a re-run after a crash rewrites the same ids, never duplicates)."""
        if not len(ids):
            return
        metas = [clean_metadata(m) for m in metadatas]
        self.txt.upsert(
            ids=list(ids), embeddings=np.asarray(txt_vectors, np.float32), metadatas=metas, documents=list(documents)
        )
        self.img.upsert(
            ids=list(ids), embeddings=np.asarray(img_vectors, np.float32), metadatas=metas, documents=list(documents)
        )
        self._checked.clear()  # this process wrote: the next query re-checks at once

    def count(self) -> int:
        return self.img.count()

    # --- reading ---------------------------------------------------------------------------------
    def _files_stamp(self) -> tuple[int, ...] | None:
        """(mtime, size) of the embedded database files: any write changes them. None for a chroma server."""
        if not self.root:
            return None
        out: list[int] = []
        for f in (self.root / "chroma.sqlite3", self.root / "chroma.sqlite3-wal"):
            try:
                st = f.stat()
                out += [st.st_mtime_ns, st.st_size]
            except FileNotFoundError:
                out += [0, 0]
        return tuple(out)

    def _stamp(self, coll, files: tuple[int, ...] | None) -> tuple[int, int]:  # noqa: ANN001 - a chroma collection
        """(count, last write of the embedded database, from `_files_stamp`): changes whenever the collection may
        have changed."""
        return coll.count(), max(files[0::2]) if files else 0

    def table(self, kind: str = "img") -> SideTable:
        """The side table of one collection: from memory, else from its disk cache, else rebuilt from chroma.

        Freshness: at most every STAMP_CHECK_S, and for an embedded chroma only a `stat` of its database files;
        chroma's `count()` (a SQL count, tens of ms at 100k chips on a busy machine: it was the p95 tail) runs only
        when those files changed, or for a chroma server.
        """
        coll = self.img if kind == "img" else self.txt
        with self._lock:
            cached = self._tables.get(kind)
            now = time.monotonic()
            if cached and now - self._checked.get(kind, 0.0) < STAMP_CHECK_S:
                return cached[2]  # queries in a burst skip the freshness check
            files = self._files_stamp()
            self._checked[kind] = now
            if cached and files is not None and cached[1] == files:
                return cached[2]
            stamp = self._stamp(coll, files)
            if cached and cached[0] == stamp:
                self._tables[kind] = (stamp, files, cached[2])
                return cached[2]
            table = self._load_cache(coll.name, stamp) or self._build(coll, stamp[0])
            self._tables[kind] = (stamp, self._files_stamp(), table)
            return table

    def _build(self, coll, n: int) -> SideTable:  # noqa: ANN001
        ids, vecs, metas, docs = [], [], [], []
        for offset in range(0, n, PAGE):
            page = coll.get(include=["embeddings", "metadatas", "documents"], limit=PAGE, offset=offset)
            ids += page["ids"]
            vecs.append(np.asarray(page["embeddings"], dtype=np.float32))
            metas += page["metadatas"]
            docs += page["documents"] or [None] * len(page["ids"])
        dim = vecs[0].shape[1] if vecs else 0
        table = SideTable(
            np.array(ids, dtype=object), np.concatenate(vecs) if vecs else np.zeros((0, dim)), metas, docs
        )
        self._save_cache(coll.name, self._stamp(coll, self._files_stamp()), table)
        return table

    def _cache_paths(self, name: str) -> tuple[Path, Path] | None:
        if not self.root:
            return None
        folder = self.root / "sentinelle-sidetables"
        return folder / f"{name}.npz", folder / f"{name}.json"

    def _save_cache(self, name: str, stamp: tuple[int, int], table: SideTable) -> None:
        """Vectors and metadata on disk next to chroma, so a new process does not re-read every embedding."""
        paths = self._cache_paths(name)
        if not paths or not len(table):
            return
        paths[0].parent.mkdir(parents=True, exist_ok=True)
        tmp = paths[0].with_suffix(".tmp.npz")
        np.savez(tmp, vectors=table.vectors, stamp=np.array(stamp, dtype=np.int64))
        paths[1].write_text(
            json.dumps(
                {
                    "stamp": list(stamp),
                    "ids": [str(i) for i in table.ids],
                    "metadatas": table.metadatas,
                    "documents": table.documents,
                }
            )
        )
        tmp.replace(paths[0])

    def _load_cache(self, name: str, stamp: tuple[int, int]) -> SideTable | None:
        paths = self._cache_paths(name)
        if not paths or not paths[0].exists() or not paths[1].exists():
            return None
        try:
            with np.load(paths[0]) as data:
                if tuple(int(v) for v in data["stamp"]) != stamp:
                    return None
                vectors = data["vectors"]
            meta = json.loads(paths[1].read_text())
        except (OSError, ValueError, KeyError):
            return None
        if tuple(meta["stamp"]) != stamp or len(meta["ids"]) != len(vectors):
            return None
        return SideTable(np.array(meta["ids"], dtype=object), vectors, meta["metadatas"], meta["documents"])

    def query(
        self,
        vector: np.ndarray,
        k: int = 10,
        filters: Filters | None = None,
        kind: str = "img",
        exclude_ids: set[str] | None = None,
    ) -> list[Hit]:
        """Top-k chips by cosine similarity, filtered (see `_query`); BLAS on one thread: a matrix-vector product
        gains nothing from a second thread on a busy 2-core machine and its p95 doubles."""
        with _blas_one_thread():
            return self._query(vector, k, filters, kind, exclude_ids)

    def _query(
        self, vector: np.ndarray, k: int, filters: Filters | None, kind: str, exclude_ids: set[str] | None
    ) -> list[Hit]:
        """Top-k chips by cosine similarity, filtered; exact on filtered candidates, HNSW when unfiltered."""
        filters = filters or Filters()
        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        table = self.table(kind)
        if not len(table):
            return []
        want = k + len(exclude_ids or ())
        dim = max(1, table.vectors.shape[1])
        if filters.empty():
            if kind == "txt" or len(table) * dim <= SPAN_MAX_VALUES:
                return self._exact(table, q, np.arange(len(table)), want, exclude_ids)[:k]
            return self._hnsw(table, q, want, None, exclude_ids)[:k]
        mask = table.mask(filters)
        cand = np.flatnonzero(mask)
        if len(cand) * dim <= EXACT_MAX_VALUES:
            return self._exact(table, q, cand, want, exclude_ids)[:k]
        spans = mask_spans(mask)
        if len(spans) <= MAX_SPANS and sum(b - a for a, b in spans) * dim <= SPAN_MAX_VALUES:
            return self._spans(table, q, spans, mask, want, exclude_ids)[:k]
        if kind == "txt":
            return self._exact(table, q, cand, want, exclude_ids)[:k]
        return self._hnsw(table, q, want, mask, exclude_ids)[:k]

    @staticmethod
    def _spans(
        table: SideTable,
        q: np.ndarray,
        spans: list[tuple[int, int]],
        mask: np.ndarray,
        k: int,
        exclude: set[str] | None,
    ) -> list[Hit]:
        """Exact scores of contiguous row spans, computed on views of the vector matrix (no copy)."""
        scores = np.concatenate([table.vectors[a:b] @ q for a, b in spans])
        rows = np.concatenate([np.arange(a, b) for a, b in spans])
        scores[~mask[rows]] = -np.inf
        return ChipIndex._top(table, scores, rows, min(k, int(mask.sum())), exclude)

    @staticmethod
    def _exact(table: SideTable, q: np.ndarray, rows: np.ndarray, k: int, exclude: set[str] | None) -> list[Hit]:
        if not len(rows):
            return []
        scores = table.vectors[rows] @ q if len(rows) < len(table) else table.vectors @ q
        return ChipIndex._top(table, scores, rows, min(k, len(rows)), exclude)

    @staticmethod
    def _top(table: SideTable, scores: np.ndarray, rows: np.ndarray, k: int, exclude: set[str] | None) -> list[Hit]:
        """The `k` best of `scores` (scores[i] is row rows[i]) as hits, best first, less the excluded ids."""
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [table.hit(int(rows[i]), scores[i]) for i in top if not exclude or table.ids[rows[i]] not in exclude]

    def _hnsw(
        self, table: SideTable, q: np.ndarray, k: int, mask: np.ndarray | None, exclude: set[str] | None
    ) -> list[Hit]:
        """Approximate search in chroma, over-fetching by the filter's selectivity, then post-filtering."""
        coll = self.img
        frac = 1.0 if mask is None else max(mask.mean(), 1e-6)
        n = min(len(table), math.ceil(k / frac * 2) + 10)
        res = coll.query(query_embeddings=q[None], n_results=n, include=["distances"])
        row_of = self._row_index(table)
        hits = []
        for cid, dist in zip(res["ids"][0], res["distances"][0], strict=True):
            row = row_of.get(cid)
            if row is None or (mask is not None and not mask[row]) or (exclude and cid in exclude):
                continue
            hits.append(table.hit(row, 1.0 - dist))
        if len(hits) < k and mask is not None:  # the filter was less selective than HNSW's neighbourhood
            return self._exact(table, q, np.flatnonzero(mask), k, exclude)
        return hits

    def _row_index(self, table: SideTable) -> dict[str, int]:
        cached = getattr(table, "_row_of", None)
        if cached is None:
            cached = {cid: i for i, cid in enumerate(table.ids)}
            table._row_of = cached  # type: ignore[attr-defined]
        return cached

    def query_where(self, vector: np.ndarray, k: int, filters: Filters) -> list[Hit]:
        """Plain chroma query with a `where` clause: the baseline that the side table replaces."""
        res = self.img.query(
            query_embeddings=np.asarray(vector, np.float32)[None],
            n_results=k,
            where=filters.to_where(),
            include=["distances", "metadatas"],
        )
        return [
            Hit(cid, 1.0 - d, m)
            for cid, d, m in zip(res["ids"][0], res["distances"][0], res["metadatas"][0], strict=True)
        ]

    def get(self, ids: Sequence[str], kind: str = "img") -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Stored vectors and metadata of some chips (image queries by chip id)."""
        coll = self.img if kind == "img" else self.txt
        res = coll.get(ids=list(ids), include=["embeddings", "metadatas"])
        order = {cid: i for i, cid in enumerate(res["ids"])}
        rows = [order[c] for c in ids if c in order]
        vecs = np.asarray(res["embeddings"], dtype=np.float32)
        return (vecs[rows] if len(rows) else np.zeros((0, 0), np.float32)), [res["metadatas"][i] for i in rows]


def clean_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """chroma metadata takes str/int/float/bool only: drop None, round floats, stringify the rest."""
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if value is None:
            continue
        if isinstance(value, bool | int | str):
            out[key] = value
        elif isinstance(value, float | np.floating):
            if not math.isnan(float(value)):
                out[key] = float(value)
        elif isinstance(value, np.integer):
            out[key] = int(value)
        else:
            out[key] = str(value)
    return out


_INDEXES: dict[tuple[str, str, str], ChipIndex] = {}
_OPEN_LOCK = threading.Lock()


def open_index(root: Path | None = None, encoder: str = DEFAULT_ENCODER) -> ChipIndex:
    """The index at `root` (default: the configured chroma server or folder), opened once per process."""
    settings = get_settings()
    url = settings.chroma_url if root is None else None
    key = (str(root or settings.chroma_root), url or "", encoder)
    with _OPEN_LOCK:  # chromadb's client cache is not thread-safe: two first openings at once raised KeyError
        if key not in _INDEXES:
            _INDEXES[key] = ChipIndex(root=root, url=url, encoder=encoder)
        return _INDEXES[key]
