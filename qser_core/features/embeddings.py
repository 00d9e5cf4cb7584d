"""Backbone embeddings of a corpus: the extraction pipeline in front of the embedding cache.

``qser extract`` fills the cache for the configured corpus and backbone.

:func:`extract_embeddings` turns every clip of a corpus table into one embedding
row (same order as the table). Decoding (``audio.load_batches``, in a background
thread) overlaps with the batched backbone, so both CPU cores stay busy. Every
batch is written to the cache (:mod:`qser_core.features.cache`) as soon as it is
embedded, so a run stopped in any way, a hard kill included, loses at most the
batch in flight; at the end the run's chunks are merged into one.
"""

from __future__ import annotations

import os
import queue
import threading

import numpy as np
import torch

from qser_core.config import QserConfig
from qser_core.errors import DataError
from qser_core.features.cache import (
    CacheWriteError,
    EmbeddingCache,
    cache_folder,
    cache_status,
    content_hash,
    identities,
    table_paths,
)
from qser_core.progress import Progress

_MAX_PARTS = 4  # parallel parts of a batch at most (more cores give each part several threads)

# The cache's names stay importable from here, where callers have always found them.
__all__ = ["extract_embeddings", "extract_corpus", "embed_waveforms", "cache_status", "cache_folder",
           "EmbeddingCache", "CacheWriteError"]

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


class _SplitEmbedder:
    """Embeds each batch as parts in parallel threads, each with its own single torch thread.

    Why: torch's intra-op threads meet at a barrier after every operation, and on a shared
    2-core machine one descheduled thread stalls the other at each of the network's ~200
    operations. Measured on the 2-core machine under load 17 (docs/performance.md): one
    thread 3.3x faster than two intra-op threads, and two parts in two single-threaded
    workers as fast as one thread; on idle cores the two workers use both without any
    barrier. Each clip's embedding is the same as in one batch (clips are independent in
    eval mode). ``torch.set_num_threads`` is per thread under OpenMP, but also sets the
    default of threads started later, so the previous default is put back on close.
    """

    def __init__(self, backbone, sr: int) -> None:
        self.backbone, self.sr = backbone, sr
        self.threads = torch.get_num_threads()
        self.parts = min(self.threads, _MAX_PARTS) if backbone.split_batches else 1
        self.pool = None
        if self.parts > 1:
            from concurrent.futures import ThreadPoolExecutor

            each = max(1, self.threads // self.parts)
            self.pool = ThreadPoolExecutor(self.parts, thread_name_prefix="qser-embed",
                                           initializer=torch.set_num_threads, initargs=(each,))

    def __call__(self, waves: np.ndarray) -> np.ndarray:
        if self.pool is None or len(waves) < 2:
            return _embed_batch(self.backbone, waves, self.sr)
        parts = [p for p in np.array_split(waves, min(self.parts, len(waves))) if len(p)]
        return np.concatenate(list(self.pool.map(lambda w: _embed_batch(self.backbone, w, self.sr), parts)))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            torch.set_num_threads(self.threads)  # the default for threads started from now on


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
            out.put((start, np.asarray(waves, dtype=np.float32), [content_hash(p) for p in part], bad))
            if stop.is_set():  # checked before the generator decodes the next batch
                return
        out.put(None)
    except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
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
    paths = table_paths(table)
    total = len(paths)
    idents = identities(paths)
    cache = EmbeddingCache(cache_folder(config, cache_dir=cache_dir))
    found = cache.lookup(idents)

    # Identity misses whose content is cached already (copied or touched files): reuse, don't recompute.
    missing = list(dict.fromkeys(i for i in idents if i not in found))
    first_path = dict(zip(idents, paths))
    content = {i: content_hash(first_path[i]) for i in missing}
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
    """Embed the clips of ``missing`` (decoding overlapped with the CNN) and cache them batch by batch.

    Each batch is written as its own chunk the moment it is embedded (about 1 ms for 32 rows
    against seconds of network time), so a run stopped in any way, SIGKILL and out-of-memory
    kills included, keeps every finished batch; the run's chunks are merged into one at the
    end. Returns the clips that could not be used (identity → reason), remembered in the cache.
    """
    backbone = _backbone(config)
    # ~dim float32 per row, plus the index; checked before any decoding so nothing is computed in vain
    cache.need_bytes = len(missing) * (backbone.dim * 4 + 160) + 2**16
    cache.check_writable(cache.need_bytes)
    miss_paths = [first_path[i] for i in missing]
    batch_size = config.embedding.batch_size
    batches: queue.Queue = queue.Queue(maxsize=2)  # decode at most two batches ahead of the CNN
    stop = threading.Event()
    worker = threading.Thread(target=_decode_batches, args=(miss_paths, config, config.audio.sr, batch_size, batches, stop),
                              name="qser-decode", daemon=True)
    worker.start()
    bad: dict[str, str] = {}
    bad_content: list[str] = []
    chunks: list[str] = []
    counts: dict[str, int] = {}
    for i in idents:
        counts[i] = counts.get(i, 0) + 1
    embed = _SplitEmbedder(backbone, config.audio.sr)
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
                vectors = embed(waves)
                good = [part[k] for k in kept]
                chunks.append(cache.add(good, [hashes[k] for k in kept], vectors, backbone=backbone.name,
                                        compact=False))
                cache.need_bytes = max(0, cache.need_bytes - vectors.nbytes)
                found.update(zip(good, vectors))
            done += sum(counts[i] for i in part)
            if progress is not None:
                progress(done, total, f"embedded {done} of {total} clips ({backbone.name})")
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                batches.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)
        embed.close()
        if bad:
            cache.add_bad(list(bad), bad_content, list(bad.values()))
        cache.merge(chunks)
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
