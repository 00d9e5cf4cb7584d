"""Backbone embeddings of a corpus, with an on-disk cache.

``qser extract`` fills the cache for the configured corpus and backbone.

:func:`extract_embeddings` turns every clip of a corpus table into one embedding
row (same order as the table). Decoding (``audio.load_batch``, in a background
thread) overlaps with the batched backbone, so both CPU cores stay busy.

Cache layout, under ``<cache root>/<config.digest("audio", "features", "embedding")>/``
(the cache root is ``embedding.cache_dir``, else ``$QSER_HOME/embeddings``)::

    index.json          {"version", "dim", "backbone", "chunks": {file: {"rows", "sha256"}},
                         "entries": {identity: [chunk file, row, content hash]}}
    chunk-<id>.npy      float32 (rows, dim): the embeddings written by one run

A clip's identity is a hash of its absolute path, size and ``mtime_ns`` (one
``os.stat``, no file opens), so a cached run is one index read plus one read per
chunk. When an identity is missing (new or touched file), the file's content hash
is looked up before recomputing, so a copied or touched but unchanged clip is
not recomputed; a changed setting changes the folder name. Every file is written
to a temporary name and moved into place with ``os.replace``. A chunk that is
missing, truncated, of the wrong shape or fails its checksum is reported with a
warning and its clips are recomputed; an unreadable index is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import threading
import uuid
import warnings
from pathlib import Path

import numpy as np
import torch

from qser_core.config import QserConfig, qser_home
from qser_core.errors import DataError
from qser_core.progress import Progress

__all__ = ["extract_embeddings", "embed_waveforms", "cache_status", "cache_folder", "EmbeddingCache"]

_INDEX = "index.json"
_VERSION = 1
_FLUSH_ROWS = 1024  # rows embedded between cache writes (what an interrupted run keeps)
_MAX_CHUNKS = 32  # more chunk files than this are merged into one (fewer reads on the cached path)


# ------------------------------------------------------------------ identities
def cache_folder(config: QserConfig, *, cache_dir: str | os.PathLike | None = None) -> Path:
    """Folder of the cache entries for this config's audio, feature and embedding settings."""
    root = cache_dir or config.embedding.cache_dir or (qser_home() / "embeddings")
    return Path(root).expanduser() / config.digest("audio", "features", "embedding")


def _paths(table) -> list[str]:
    if "path" not in getattr(table, "columns", ()):
        raise DataError(
            f"the corpus table needs a 'path' column; got columns {list(getattr(table, 'columns', []))}; "
            "build it with qser_core.data.corpus.index_corpus"
        )
    return [os.path.abspath(str(p)) for p in table["path"]]


def _identities(paths: list[str]) -> list[str]:
    """Hash of (absolute path, size, mtime_ns) per file: one stat each, no opens."""
    out = []
    for p in paths:
        try:
            st = os.stat(p)
        except OSError as exc:
            raise DataError(
                f"clip {p} listed in the corpus table cannot be read ({exc.strerror}); "
                "re-index the corpus (qser data index) or restore the file"
            ) from None
        out.append(hashlib.blake2b(f"{p}\0{st.st_size}\0{st.st_mtime_ns}".encode(), digest_size=16).hexdigest())
    return out


def _content_hash(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, lambda: hashlib.blake2b(digest_size=16)).hexdigest()


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


# ----------------------------------------------------------------------- cache
class EmbeddingCache:
    """The chunked embedding store of one cache folder (see the module docstring).

    Parameters
    ----------
    folder : path-like
        The folder (created on first write).
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self._dropped: set[str] = set()
        self.index = self._read_index()

    # reading ------------------------------------------------------------
    def _empty(self) -> dict:
        return {"version": _VERSION, "dim": None, "backbone": None, "chunks": {}, "entries": {}}

    def _read_index(self, *, warn: bool = True) -> dict:
        path = self.folder / _INDEX
        if not path.exists():
            return self._empty()
        try:
            index = json.loads(path.read_text(encoding="utf-8"))
            if index.get("version") != _VERSION or not isinstance(index.get("entries"), dict) \
                    or not isinstance(index.get("chunks"), dict):
                raise ValueError(f"unexpected layout (version {index.get('version')!r})")
        except (OSError, ValueError, AttributeError) as exc:
            if not warn:
                return self._empty()
            warnings.warn(f"embedding cache index {path} is unreadable ({exc}); rebuilding the cache", stacklevel=3)
            return self._empty()
        return index

    def lookup(self, identities: list[str]) -> dict[str, np.ndarray]:
        """Cached embeddings of the given identities that are present and verified."""
        wanted: dict[str, list[tuple[str, int]]] = {}
        for ident in set(identities):
            entry = self.index["entries"].get(ident)
            if entry is not None:
                wanted.setdefault(entry[0], []).append((ident, entry[1]))
        found: dict[str, np.ndarray] = {}
        for chunk, items in wanted.items():
            data = self._load_chunk(chunk)
            if data is None:
                continue
            rows = np.fromiter((r for _, r in items), dtype=np.int64, count=len(items))
            block = data[rows]
            for (ident, _), vec in zip(items, block):
                found[ident] = vec
        return found

    def _load_chunk(self, chunk: str) -> np.ndarray | None:
        meta = self.index["chunks"].get(chunk)
        path = self.folder / chunk
        problem = None
        if meta is None:
            problem = "it is not listed in the index"
        elif not path.is_file():
            problem = "the file is missing"
        else:
            try:
                if _sha256(path) != meta["sha256"]:
                    problem = "its checksum does not match"
                else:
                    data = np.load(path, allow_pickle=False)
                    if data.ndim != 2 or data.shape != (meta["rows"], self.index["dim"]) or data.dtype != np.float32:
                        problem = f"it has shape {data.shape} {data.dtype}, expected ({meta['rows']}, {self.index['dim']}) float32"
                    else:
                        return data
            except (OSError, ValueError) as exc:
                problem = f"it cannot be read ({exc})"
        warnings.warn(f"embedding cache chunk {path} is corrupt: {problem}; its clips will be recomputed", stacklevel=4)
        self._drop_chunk(chunk)
        return None

    def _drop_chunk(self, chunk: str) -> None:
        self._dropped.add(chunk)
        self.index["chunks"].pop(chunk, None)
        self.index["entries"] = {k: v for k, v in self.index["entries"].items() if v[0] != chunk}

    def by_content(self) -> dict[str, str]:
        """content hash → an identity that holds it."""
        return {v[2]: k for k, v in self.index["entries"].items() if v[2]}

    # writing ------------------------------------------------------------
    def add(self, identities: list[str], content: list[str], vectors: np.ndarray, *, backbone: str) -> None:
        """Write one new chunk and merge its entries into the index (atomically)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.index["dim"] not in (None, vectors.shape[1]):
            warnings.warn(
                f"embedding cache {self.folder} held {self.index['dim']}-dim rows, now {vectors.shape[1]}; rebuilding",
                stacklevel=3,
            )
            self.index = self._empty()
        self.folder.mkdir(parents=True, exist_ok=True)
        chunk = f"chunk-{uuid.uuid4().hex[:12]}.npy"
        self._write_array(chunk, vectors)
        self.index["dim"], self.index["backbone"] = int(vectors.shape[1]), backbone
        self.index["chunks"][chunk] = {"rows": int(vectors.shape[0]), "sha256": _sha256(self.folder / chunk)}
        for row, (ident, chash) in enumerate(zip(identities, content)):
            self.index["entries"][ident] = [chunk, row, chash]
        self.save()
        if len(self.index["chunks"]) > _MAX_CHUNKS:
            self._compact()

    def alias(self, new: str, old: str) -> None:
        """Point identity ``new`` at the entry of ``old`` (same content, e.g. a touched file); call :meth:`save`."""
        self.index["entries"][new] = list(self.index["entries"][old])

    def save(self) -> None:
        """Merge this index into the one on disk and write it atomically.

        Entries another process wrote meanwhile are kept (a simultaneous write of the
        same clips at worst loses one copy, which is recomputed later); chunks found
        corrupt here are dropped from the merged index too.
        """
        current = self._read_index(warn=False)
        if current.get("dim") not in (None, self.index["dim"]):
            current = self._empty()
        current["chunks"].update(self.index["chunks"])
        current["entries"].update(self.index["entries"])
        for chunk in self._dropped:
            current["chunks"].pop(chunk, None)
        if self._dropped:
            current["entries"] = {k: v for k, v in current["entries"].items() if v[0] not in self._dropped}
        current["dim"], current["backbone"] = self.index["dim"], self.index["backbone"]
        self.index = current
        self._write_index()

    def _compact(self) -> None:
        live = sorted(self.index["entries"])
        found = self.lookup(live)
        live = [k for k in live if k in found]
        if not live:
            return
        chunk = f"chunk-{uuid.uuid4().hex[:12]}.npy"
        self._write_array(chunk, np.stack([found[k] for k in live]))
        old = set(self.index["chunks"])
        self.index["chunks"] = {chunk: {"rows": len(live), "sha256": _sha256(self.folder / chunk)}}
        self.index["entries"] = {k: [chunk, i, self.index["entries"][k][2]] for i, k in enumerate(live)}
        self._write_index()
        for name in old:
            (self.folder / name).unlink(missing_ok=True)

    def _write_array(self, name: str, array: np.ndarray) -> None:
        tmp = self.folder / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(tmp, "wb") as fh:
            np.save(fh, array, allow_pickle=False)
        os.replace(tmp, self.folder / name)

    def _write_index(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{_INDEX}.{os.getpid()}.{threading.get_ident()}.tmp"
        tmp.write_text(json.dumps(self.index, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, self.folder / _INDEX)


# ------------------------------------------------------------------ extraction
def cache_status(table, config: QserConfig, *, cache_dir: str | os.PathLike | None = None) -> dict:
    """How many clips of ``table`` already have a cached embedding for ``config``.

    Returns
    -------
    dict
        ``cached`` (int), ``total`` (int), ``folder`` (str, the cache folder).
    """
    folder = cache_folder(config, cache_dir=cache_dir)
    paths = _paths(table)
    entries = EmbeddingCache(folder).index["entries"] if (folder / _INDEX).exists() else {}
    idents = _identities(paths)
    return {"cached": sum(i in entries for i in idents), "total": len(paths), "folder": str(folder)}


def _backbone(config: QserConfig):
    from qser_core.features.backbones import get_backbone

    return get_backbone(config.embedding.backbone, features=config.features, sr=config.audio.sr)


def _embed_batch(backbone, waves: np.ndarray, sr: int) -> np.ndarray:
    """Embeddings of clips at ``sr``: the one path from decoded clips to vectors.

    Extraction and single-clip prediction both end here, so a clip gives the same
    embedding either way. Backbones that compute their own log-mel are built at
    ``audio.sr`` (no resampling); fixed-rate ones (PANNs 32 kHz, eGeMAPS 16 kHz) get the
    clip resampled (soxr, high quality) after it was trimmed and cut at ``audio.sr``.
    """
    if backbone.sr != sr:
        import soxr

        waves = np.stack([soxr.resample(w, sr, backbone.sr, quality="soxr_hq") for w in waves]).astype(np.float32)
    return backbone.embed(torch.from_numpy(np.ascontiguousarray(waves, dtype=np.float32))).numpy()


def _decode_batches(paths: list[str], config: QserConfig, sr: int, batch_size: int, out: queue.Queue,
                    stop: threading.Event) -> None:
    """Producer thread: decoded batches (waveforms, content hashes) or the exception that stopped it."""
    try:
        from qser_core.data.audio import load_batch

        for start in range(0, len(paths), batch_size):
            if stop.is_set():
                return
            part = paths[start:start + batch_size]
            waves = load_batch(part, sr=sr, duration=config.audio.duration, top_db=config.audio.top_db,
                               max_seconds=config.audio.max_seconds, n_jobs=1)
            out.put((start, np.asarray(waves, dtype=np.float32), [_content_hash(p) for p in part]))
        out.put(None)
    except BaseException as exc:  # handed to the consumer, which re-raises it
        out.put(exc)


def extract_embeddings(table, config: QserConfig, *, progress: Progress | None = None,
                       cache_dir: str | os.PathLike | None = None) -> np.ndarray:
    """Embeddings of every clip in ``table`` with the configured backbone, cached on disk.

    Parameters
    ----------
    table : pandas.DataFrame
        Corpus table with a ``path`` column (``data.Corpus.table``).
    config : QserConfig
        Uses ``audio``, ``features`` and ``embedding`` (backbone, batch size, cache folder).
    progress : callable or None, default=None
        ``progress(done, total, message)`` after the cache lookup and every batch.
    cache_dir : path-like or None, default=None
        Cache root; overrides ``embedding.cache_dir`` (default ``$QSER_HOME/embeddings``).

    Returns
    -------
    np.ndarray [shape=(n_clips, dim)]
        float32, in the row order of ``table``.

    Raises
    ------
    DataError
        The table has no ``path`` column or lists a file that cannot be read.
    AudioError
        A clip cannot be decoded (from ``audio.load_batch``, naming the file).
    """
    paths = _paths(table)
    total = len(paths)
    idents = _identities(paths)
    cache = EmbeddingCache(cache_folder(config, cache_dir=cache_dir))
    found = cache.lookup(idents)

    # Identity misses whose content is cached already (copied or touched files): reuse, don't recompute.
    missing = list(dict.fromkeys(i for i in idents if i not in found))
    first_path = dict(zip(idents, paths))
    if missing and cache.index["entries"]:
        by_content = cache.by_content()
        aliased = {}
        for ident in missing:
            old = by_content.get(_content_hash(first_path[ident]))
            if old is not None:
                aliased[ident] = old
        if aliased:
            reused = cache.lookup(list(aliased.values()))
            for new, old in aliased.items():
                if old in reused:
                    found[new] = reused[old]
                    cache.alias(new, old)
            cache.save()
            missing = [i for i in missing if i not in found]

    done = total - sum(1 for i in idents if i not in found)
    if progress is not None:
        progress(done, total, f"{done} of {total} clips cached")
    if missing:
        _compute_missing(missing, first_path, idents, config, cache, found, progress, done, total)

    if total == 0:
        dim = cache.index["dim"] or _backbone(config).dim
        return np.zeros((0, dim), dtype=np.float32)
    return np.stack([found[i] for i in idents]).astype(np.float32, copy=False)


def _compute_missing(missing, first_path, idents, config, cache, found, progress, done, total) -> None:
    """Embed the clips of ``missing`` (decoding overlapped with the CNN) and cache them.

    Finished rows are written every ``_FLUSH_ROWS`` rows and when anything (a bad clip,
    Ctrl-C, a cancelled dashboard run) stops the loop, so a long extraction resumes
    where it stopped.
    """
    backbone = _backbone(config)
    miss_paths = [first_path[i] for i in missing]
    batch_size = config.embedding.batch_size
    batches: queue.Queue = queue.Queue(maxsize=2)  # decode at most two batches ahead of the CNN
    stop = threading.Event()
    worker = threading.Thread(target=_decode_batches, args=(miss_paths, config, config.audio.sr, batch_size, batches, stop),
                              name="qser-decode", daemon=True)
    worker.start()
    vectors = np.empty((len(missing), backbone.dim), dtype=np.float32)
    content = [""] * len(missing)
    counts: dict[str, int] = {}
    for i in idents:
        counts[i] = counts.get(i, 0) + 1
    finished = flushed = 0  # rows embedded / rows written to the cache

    def flush() -> None:
        nonlocal flushed
        if finished > flushed:
            cache.add(missing[flushed:finished], content[flushed:finished], vectors[flushed:finished],
                      backbone=backbone.name)
            flushed = finished

    try:
        while True:
            item = batches.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            start, waves, hashes = item
            vectors[start:start + len(waves)] = _embed_batch(backbone, waves, config.audio.sr)
            content[start:start + len(waves)] = hashes
            finished = start + len(waves)
            done += sum(counts[i] for i in missing[start:finished])
            if finished - flushed >= _FLUSH_ROWS:
                flush()
            if progress is not None:
                progress(done, total, f"embedded {done} of {total} clips ({backbone.name})")
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                batches.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)
        flush()
    for ident, vec in zip(missing, vectors):
        found[ident] = vec


def embed_waveforms(waveforms: np.ndarray, config: QserConfig) -> np.ndarray:
    """Embeddings of in-memory clips (live demo, predict), the same path as :func:`extract_embeddings`.

    Parameters
    ----------
    waveforms : np.ndarray [shape=(n, samples)] or [shape=(samples,)]
        Clips at ``config.audio.sr`` (already trimmed/padded by ``audio.load_audio``).
    config : QserConfig

    Returns
    -------
    np.ndarray [shape=(n, dim)]
        float32 (one row for a 1-D input).
    """
    y = np.asarray(waveforms, dtype=np.float32)
    if y.ndim == 1:
        y = y[None]
    if y.ndim != 2:
        raise DataError(f"embed_waveforms takes clips of shape (n, samples) or (samples,); got shape {y.shape}")
    backbone = _backbone(config)
    batch = config.embedding.batch_size
    parts = [_embed_batch(backbone, y[i:i + batch], config.audio.sr) for i in range(0, len(y), batch)]
    return np.concatenate(parts) if parts else np.zeros((0, backbone.dim), dtype=np.float32)
