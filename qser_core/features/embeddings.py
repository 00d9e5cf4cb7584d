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

A clip's identity is a hash of its absolute path, size, ``mtime_ns`` and
``ctime_ns`` (one ``os.stat``, no file opens); ctime changes with every write and
cannot be set back, so a file whose content changed while its size and mtime
were kept (``cp -p``, ``rsync -a``) misses and its content hash (blake2b of the
bytes) decides. When an
identity is missing (new, copied or touched file), the content hash is looked up before
recomputing, so a copied or touched but unchanged clip is not recomputed; a
changed setting changes the folder name. Every file is written to a temporary
name and moved into place with ``os.replace``. A chunk that is missing,
truncated, of the wrong shape, fails its checksum or has metadata without one,
and index entries that are malformed or point past their chunk, are reported
with a warning and their clips recomputed; an unreadable index is rebuilt.
Clips that cannot be used (silent, constant, NaN-filled, too short or long,
corrupt) are skipped one by one, remembered in the index under ``"bad"`` (with
their content hash) and reported all together.
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

__all__ = ["extract_embeddings", "extract_corpus", "embed_waveforms", "cache_status", "cache_folder", "EmbeddingCache"]

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
    """Hash of (absolute path, size, mtime_ns, ctime_ns) per file: one stat each, no opens.

    ``ctime`` changes on every write and cannot be set back (``cp -p`` and ``rsync -a`` restore
    mtime, not ctime), so new content with the old size and mtime still misses here and goes
    through the content-hash check. Reading every file's bytes instead would cost about 0.5 ms per
    clip on a loaded 2-core machine (EmoDB: 535 clips, 0.27-0.31 s warm), 4 s for CREMA-D.
    """
    out = []
    for p in paths:
        try:
            st = os.stat(p)
        except OSError as exc:
            raise DataError(
                f"clip {p} listed in the corpus table cannot be read ({exc.strerror}); "
                "re-index the corpus (qser data index) or restore the file"
            ) from None
        key = f"{p}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}"
        out.append(hashlib.blake2b(key.encode(), digest_size=16).hexdigest())
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
        self._dropped_entries: set[str] = set()
        self.index = self._read_index()

    # reading ------------------------------------------------------------
    def _empty(self) -> dict:
        return {"version": _VERSION, "dim": None, "backbone": None, "chunks": {}, "entries": {}, "bad": {}}

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
            if entry is not None and self._valid_entry(ident, entry):
                wanted.setdefault(entry[0], []).append((ident, entry[1]))
        found: dict[str, np.ndarray] = {}
        for chunk, items in wanted.items():
            data = self._load_chunk(chunk)
            if data is None:
                continue
            bad = [ident for ident, row in items if row >= len(data)]
            if bad:
                warnings.warn(f"embedding cache {self.folder / _INDEX}: {len(bad)} entries point past the end of "
                              f"{chunk} ({len(data)} rows); those clips will be recomputed", stacklevel=3)
                self._drop_entries(bad)
                items = [(ident, row) for ident, row in items if row < len(data)]
            rows = np.fromiter((r for _, r in items), dtype=np.int64, count=len(items))
            block = data[rows]
            for (ident, _), vec in zip(items, block):
                found[ident] = vec
        return found

    def _valid_entry(self, ident: str, entry) -> bool:
        """An index entry is ``[chunk file, row >= 0, content hash]``; anything else is dropped with a warning."""
        ok = (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)
              and isinstance(entry[1], int) and not isinstance(entry[1], bool) and entry[1] >= 0)
        if not ok:
            warnings.warn(f"embedding cache {self.folder / _INDEX} holds a malformed entry {str(entry)[:80]}; "
                          "its clip will be recomputed", stacklevel=4)
            self._drop_entries([ident])
        return ok

    def _drop_entries(self, idents: list[str]) -> None:
        for ident in idents:
            self.index["entries"].pop(ident, None)
        self._dropped_entries.update(idents)

    def _load_chunk(self, chunk: str) -> np.ndarray | None:
        meta = self.index["chunks"].get(chunk)
        path = self.folder / chunk
        problem = None
        if meta is None:
            problem = "it is not listed in the index"
        elif not isinstance(meta, dict) or not isinstance(meta.get("sha256"), str) \
                or not isinstance(meta.get("rows"), int):
            problem = f"its index metadata {str(meta)[:80]} lacks the checksum or row count"
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

    def bad(self, identities: list[str], content: list[str]) -> dict[str, str]:
        """Reasons recorded for clips that could not be used, where the content is unchanged."""
        recorded = self.index.get("bad", {})
        return {i: recorded[i][1] for i, c in zip(identities, content)
                if isinstance(recorded.get(i), list) and len(recorded[i]) == 2 and recorded[i][0] == c}

    def add_bad(self, identities: list[str], content: list[str], reasons: list[str]) -> None:
        """Remember unusable clips (by identity and content) so later runs skip them without decoding."""
        self.index.setdefault("bad", {}).update({i: [c, r] for i, c, r in zip(identities, content, reasons)})
        self.save()

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
        current.setdefault("bad", {}).update(self.index.get("bad", {}))
        for ident in self._dropped_entries - set(self.index["entries"]):
            current["entries"].pop(ident, None)
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
    """Producer thread: decoded batches ``(start, waves, hashes, bad)`` or the exception that stopped it.

    A clip that cannot be used is left out of its batch (``bad`` maps its offset in the batch to the
    reason), so one bad clip never stops the others.
    """
    try:
        from qser_core.data.audio import load_batches

        a = config.audio
        for start, waves, bad in load_batches(paths, batch_size=batch_size, sr=sr, duration=a.duration,
                                              top_db=a.top_db, max_seconds=a.max_seconds, n_jobs=1):
            part = paths[start:start + batch_size]
            out.put((start, np.asarray(waves, dtype=np.float32), [_content_hash(p) for p in part], bad))
            if stop.is_set():  # checked before the generator decodes the next batch
                return
        out.put(None)
    except BaseException as exc:  # handed to the consumer, which re-raises it
        out.put(exc)


def extract_embeddings(table, config: QserConfig, *, progress: Progress | None = None,
                       cache_dir: str | os.PathLike | None = None, errors: str = "raise"):
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
    errors : {"raise", "skip"}, default="raise"
        Clips that cannot be used (silent, constant, NaN, too short or long, corrupt) are always
        skipped one by one and the others embedded and cached. ``"raise"``: then raise one
        :class:`~qser_core.errors.AudioError` naming every bad clip. ``"skip"``: return them.

    Returns
    -------
    embeddings : np.ndarray [shape=(n_clips, dim)]
        float32, in the row order of ``table`` (``errors="raise"``).
    (embeddings, bad) : tuple
        With ``errors="skip"``: rows of the usable clips only (table order kept) and ``bad``, a list
        of ``(path, reason)`` for the others.

    Raises
    ------
    DataError
        The table has no ``path`` column or lists a file that cannot be read.
    AudioError
        With ``errors="raise"``: some clips cannot be used (all of them named).
    """
    if errors not in ("raise", "skip"):
        raise DataError(f"errors must be 'raise' or 'skip'; got {errors!r}")
    paths = _paths(table)
    total = len(paths)
    idents = _identities(paths)
    cache = EmbeddingCache(cache_folder(config, cache_dir=cache_dir))
    found = cache.lookup(idents)

    # Identity misses whose content is cached already (copied or touched files): reuse, don't recompute.
    missing = list(dict.fromkeys(i for i in idents if i not in found))
    first_path = dict(zip(idents, paths))
    content = {i: _content_hash(first_path[i]) for i in missing}
    bad = cache.bad(missing, [content[i] for i in missing])
    missing = [i for i in missing if i not in bad]
    if missing and cache.index["entries"]:
        by_content = cache.by_content()
        aliased = {i: by_content[content[i]] for i in missing if content[i] in by_content}
        if aliased:
            reused = cache.lookup(list(aliased.values()))
            for new, old in aliased.items():
                if old in reused:
                    found[new] = reused[old]
                    cache.alias(new, old)
            cache.save()
            missing = [i for i in missing if i not in found]

    done = total - sum(1 for i in idents if i not in found and i not in bad)
    if progress is not None:
        progress(done, total, f"{done} of {total} clips cached")
    if missing:
        bad.update(_compute_missing(missing, first_path, idents, config, cache, found, progress, done, total))
    return _result(idents, first_path, found, bad, cache, config, errors)


def _result(idents, first_path, found, bad, cache, config, errors):
    rows = [i for i in idents if i not in bad]
    dim = cache.index["dim"] or (None if rows else _backbone(config).dim)
    vectors = np.stack([found[i] for i in rows]).astype(np.float32, copy=False) if rows \
        else np.zeros((0, dim), dtype=np.float32)
    listed = [(first_path[i], bad[i]) for i in dict.fromkeys(idents) if i in bad]
    if errors == "skip":
        return vectors, listed
    if listed:
        from qser_core.data.audio import unusable_clips_error

        raise unusable_clips_error(listed, len(idents), done="the others are embedded and cached")
    return vectors


def _compute_missing(missing, first_path, idents, config, cache, found, progress, done, total) -> dict[str, str]:
    """Embed the clips of ``missing`` (decoding overlapped with the CNN) and cache them.

    Finished rows are written every ``_FLUSH_ROWS`` rows and when anything (Ctrl-C, a
    cancelled dashboard run) stops the loop, so a long extraction resumes where it stopped.
    Returns the clips that could not be used (identity → reason), remembered in the cache.
    """
    backbone = _backbone(config)
    miss_paths = [first_path[i] for i in missing]
    batch_size = config.embedding.batch_size
    batches: queue.Queue = queue.Queue(maxsize=2)  # decode at most two batches ahead of the CNN
    stop = threading.Event()
    worker = threading.Thread(target=_decode_batches, args=(miss_paths, config, config.audio.sr, batch_size, batches, stop),
                              name="qser-decode", daemon=True)
    worker.start()
    good: list[str] = []
    vectors = np.empty((len(missing), backbone.dim), dtype=np.float32)
    content: list[str] = []
    bad: dict[str, str] = {}
    bad_content: list[str] = []
    counts: dict[str, int] = {}
    for i in idents:
        counts[i] = counts.get(i, 0) + 1
    flushed = 0  # rows written to the cache

    def flush() -> None:
        nonlocal flushed
        if len(good) > flushed:
            cache.add(good[flushed:], content[flushed:], vectors[flushed:len(good)], backbone=backbone.name)
            flushed = len(good)

    try:
        while True:
            item = batches.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            start, waves, hashes, failed = item
            part = missing[start:start + len(hashes)]
            for k, reason in failed.items():
                bad[part[k]] = reason
                bad_content.append(hashes[k])
            kept = [k for k in range(len(part)) if k not in failed]
            if kept:
                vectors[len(good):len(good) + len(kept)] = _embed_batch(backbone, waves, config.audio.sr)
                good.extend(part[k] for k in kept)
                content.extend(hashes[k] for k in kept)
            done += sum(counts[i] for i in part)
            if len(good) - flushed >= _FLUSH_ROWS:
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
        if bad:
            cache.add_bad(list(bad), bad_content, list(bad.values()))
    for ident, vec in zip(good, vectors):
        found[ident] = vec
    return bad


def extract_corpus(corpus, config: QserConfig, *, progress: Progress | None = None,
                   cache_dir: str | os.PathLike | None = None):
    """Embeddings of a corpus's usable clips; clips extraction cannot use join the corpus's skipped list.

    Indexing reads headers only; a clip that decodes as silent, constant, NaN-filled or corrupt is
    found here. It is dropped from the returned corpus's table, added to ``report.skipped`` with its
    reason, and the updated summary (as ``qser data index`` prints it) is logged as a warning.

    Parameters
    ----------
    corpus : qser_core.data.corpus.Corpus
    config : QserConfig
    progress, cache_dir
        As in :func:`extract_embeddings`.

    Returns
    -------
    (corpus, embeddings) : tuple
        A :class:`~qser_core.data.corpus.Corpus` of the usable clips and their embeddings (same rows).

    Raises
    ------
    DataError
        Fewer than two emotions keep usable clips.
    """
    from qser_core.data.corpus import drop_unusable

    embeddings, bad = extract_embeddings(corpus.table, config, progress=progress, cache_dir=cache_dir, errors="skip")
    corpus, _ = drop_unusable(corpus, bad)
    return corpus, embeddings


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
