"""The on-disk embedding cache: one verified store of backbone embeddings per setting.

``qser extract`` fills it; ``qser data index`` reports how much of a corpus it holds.

Layout, under ``<cache root>/<config.digest("audio", "features", "embedding")>/``
(the cache root is ``embedding.cache_dir``, else ``$QSER_HOME/embeddings``)::

    index.json          {"version", "dim", "backbone", "chunks": {file: {"rows", "sha256"}},
                         "entries": {identity: [chunk file, row, content hash]}}
    chunk-<id>.npy      float32 (rows, dim): embeddings written together

A clip's identity is a hash of its absolute path, size, ``mtime_ns`` and
``ctime_ns`` (one ``os.stat``, no file opens); ctime changes with every write and
cannot be set back, so a file whose content changed while its size and mtime
were kept (``cp -p``, ``rsync -a``) misses and its content hash (blake2b of the
bytes) decides. When an identity is missing (new, copied or touched file), the
content hash is looked up before recomputing, so a copied or touched but unchanged
clip is not recomputed; a changed setting changes the folder name.

Every file is written to a temporary name and moved into place with ``os.replace``,
so a process killed at any moment leaves either the old or the new file. A write that
fails (disk full, read-only folder) removes its temporary file and raises
:class:`CacheWriteError` saying what is wrong and how much space the work needs. A chunk
that is missing, truncated, of the wrong shape, fails its checksum or has metadata
without one, and index entries that are malformed or point past their chunk, are
reported with a warning and their clips recomputed; an unreadable index is rebuilt.
Clips that cannot be used are remembered under ``"bad"`` (with their content hash).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import shutil
import threading
import uuid
import warnings
from pathlib import Path

import numpy as np

from qser_core.config import QserConfig, qser_home
from qser_core.errors import DataError, StorageError

__all__ = ["EmbeddingCache", "CacheWriteError", "cache_folder", "cache_status", "identities", "content_hash", "table_paths"]

_INDEX = "index.json"
_VERSION = 1
_MAX_CHUNKS = 32  # more chunk files than this are merged into one (fewer reads on the cached path)
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


class CacheWriteError(StorageError):
    """The embedding cache folder cannot be written (full disk, read-only or not a folder)."""


# ------------------------------------------------------------------ identities
def cache_folder(config: QserConfig, *, cache_dir: str | os.PathLike | None = None) -> Path:
    """Folder of the cache entries for this config's audio, feature and embedding settings."""
    root = cache_dir or config.embedding.cache_dir or (qser_home() / "embeddings")
    return Path(root).expanduser() / config.digest("audio", "features", "embedding")


def table_paths(table) -> list[str]:
    """Absolute paths of a corpus table's ``path`` column (:class:`DataError` without one)."""
    if "path" not in getattr(table, "columns", ()):
        raise DataError(
            f"the corpus table needs a 'path' column; got columns {list(getattr(table, 'columns', []))}; "
            "build it with qser_core.data.corpus.index_corpus"
        )
    return [os.path.abspath(str(p)) for p in table["path"]]


def identities(paths: list[str]) -> list[str]:
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


def content_hash(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, lambda: hashlib.blake2b(digest_size=16)).hexdigest()


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _npy_bytes(array: np.ndarray) -> bytes:
    """``array`` in .npy format, in memory (so the checksum needs no second read of the file)."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


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
        #: bytes the current work still has to write (named in a "no space left" message)
        self.need_bytes = 0
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
    def check_writable(self, need_bytes: int) -> None:
        """Raise :class:`CacheWriteError` now, before any work, if ``need_bytes`` cannot be written here.

        Creates the folder and a probe file (read-only or not-a-folder shows at once) and compares
        the free space with ``need_bytes``: cheap, and it spares computing embeddings that could
        not be kept.
        """
        probe = self.folder / f".probe.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"")
            probe.unlink()
            free = shutil.disk_usage(self.folder).free
        except OSError as exc:
            with contextlib.suppress(OSError):
                probe.unlink(missing_ok=True)
            raise self._write_error(exc, need_bytes) from None
        if free < need_bytes:
            raise self._write_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), need_bytes, free=free)

    def _write_error(self, exc: OSError, need_bytes: int, *, free: int | None = None) -> CacheWriteError:
        need_bytes = max(need_bytes, self.need_bytes)
        need = f"need ~{max(1, round(need_bytes / 1e6))} MB"
        where = self.folder
        if exc.errno in _NO_SPACE:
            have = f", {free / 1e6:.0f} MB free" if free is not None else ""
            message = (f"no space left on {where}, {need}{have}; free some space, "
                       "or set embedding.cache_dir (or QSER_HOME) to a disk with room")
        elif exc.errno in _READ_ONLY:
            message = (f"the embedding cache folder {where} is read-only ({exc.strerror}); "
                       "set embedding.cache_dir or QSER_HOME to a writable folder")
        else:
            message = (f"cannot write the embedding cache folder {where} ({exc.strerror or exc}); "
                       f"{need}; set embedding.cache_dir or QSER_HOME to a writable folder")
        error = CacheWriteError(message)  # one argument: str() is the message, without "[Errno N]"
        error.errno = exc.errno
        return error

    def add(self, identities: list[str], content: list[str], vectors: np.ndarray, *, backbone: str,
            compact: bool = True) -> str:
        """Write one new chunk and merge its entries into the index (atomically); returns the chunk's name.

        ``compact=False`` leaves merging many chunks to a later :meth:`merge` (extraction writes one
        chunk per batch, so a killed run keeps all but the batch in flight, and merges them at the end).
        """
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.index["dim"] not in (None, vectors.shape[1]):
            warnings.warn(
                f"embedding cache {self.folder} held {self.index['dim']}-dim rows, now {vectors.shape[1]}; rebuilding",
                stacklevel=3,
            )
            self.index = self._empty()
        chunk = f"chunk-{uuid.uuid4().hex[:12]}.npy"
        digest = self._write_array(chunk, vectors)
        self.index["dim"], self.index["backbone"] = int(vectors.shape[1]), backbone
        self.index["chunks"][chunk] = {"rows": int(vectors.shape[0]), "sha256": digest}
        for row, (ident, chash) in enumerate(zip(identities, content)):
            self.index["entries"][ident] = [chunk, row, chash]
        try:
            self.save()
        except CacheWriteError:
            # the index does not list the chunk: remove it rather than leave it filling the disk
            self._drop_chunk(chunk)
            with contextlib.suppress(OSError):
                (self.folder / chunk).unlink(missing_ok=True)
            raise
        if compact and len(self.index["chunks"]) > _MAX_CHUNKS:
            self._compact()
        return chunk

    def merge(self, chunks: list[str]) -> None:
        """Rewrite ``chunks`` (written by one run) as one chunk, then compact if there are too many.

        Best effort: the chunks are valid as they are, so a failed merge (say, a full disk) only
        warns and leaves them.
        """
        try:
            if len(chunks) > 1:
                live = sorted(k for k, v in self.index["entries"].items() if v[0] in set(chunks))
                found = self.lookup(live)
                live = [k for k in live if k in found]
                if live:
                    self._replace_chunks(live, found, set(chunks))
            if len(self.index["chunks"]) > _MAX_CHUNKS:
                self._compact()
        except CacheWriteError as exc:
            warnings.warn(f"embedding cache {self.folder}: the chunks of this run were kept unmerged ({exc})",
                          stacklevel=2)

    def _replace_chunks(self, live: list[str], found: dict[str, np.ndarray], old: set[str]) -> None:
        chunk = f"chunk-{uuid.uuid4().hex[:12]}.npy"
        digest = self._write_array(chunk, np.stack([found[k] for k in live]))
        self.index["chunks"][chunk] = {"rows": len(live), "sha256": digest}
        for i, k in enumerate(live):
            self.index["entries"][k] = [chunk, i, self.index["entries"][k][2]]
        for name in old:
            self.index["chunks"].pop(name, None)
        self._dropped.update(old)
        self.save()
        self._dropped.difference_update(old)  # gone for good: no later save needs to drop them again
        for name in old:
            (self.folder / name).unlink(missing_ok=True)

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
        digest = self._write_array(chunk, np.stack([found[k] for k in live]))
        old = set(self.index["chunks"])
        self.index["chunks"] = {chunk: {"rows": len(live), "sha256": digest}}
        self.index["entries"] = {k: [chunk, i, self.index["entries"][k][2]] for i, k in enumerate(live)}
        self._write_index()
        for name in old:
            (self.folder / name).unlink(missing_ok=True)

    def _write_array(self, name: str, array: np.ndarray) -> str:
        """Write ``array`` as ``name`` atomically; returns its sha256 (hashed from memory, not re-read)."""
        data = _npy_bytes(array)
        self._write_bytes(name, data)
        return hashlib.sha256(data).hexdigest()

    def _write_bytes(self, name: str, data: bytes) -> None:
        tmp = self.folder / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, self.folder / name)
        except OSError as exc:
            # a partial temporary file would keep a full disk full for every later command
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
            raise self._write_error(exc, len(data)) from None

    def _write_index(self) -> None:
        self._write_bytes(_INDEX, json.dumps(self.index, separators=(",", ":")).encode("utf-8"))




def cache_status(table, config: QserConfig, *, cache_dir: str | os.PathLike | None = None) -> dict:
    """How many clips of ``table`` already have a cached embedding for ``config``.

    Returns
    -------
    dict
        ``cached`` (int), ``total`` (int), ``folder`` (str, the cache folder).
    """
    folder = cache_folder(config, cache_dir=cache_dir)
    paths = table_paths(table)
    entries = EmbeddingCache(folder).index["entries"] if (folder / _INDEX).exists() else {}
    idents = identities(paths)
    return {"cached": sum(i in entries for i in idents), "total": len(paths), "folder": str(folder)}


