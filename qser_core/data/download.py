"""Resumable, verified, parallel HTTP downloads (CREMA-D from its Git LFS store, backbone weights).

``qser data download crema-d --out DIR`` fetches the 7,442 CREMA-D clips into ``DIR/AudioWAV``.

:func:`download_file` streams into ``DEST.part``, resumes it with an HTTP ``Range`` request, checks
size and checksum, then renames it into place, so ``DEST`` only ever exists complete.
:func:`download_crema_d` lists the official repository's files through the GitHub tree API, reads
each clip's Git LFS pointer (sha256 and size), and downloads the media in parallel; a second run
skips the complete files and resumes the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import requests

from qser_core.errors import BackendError
from qser_core.progress import Progress

__all__ = ["download_file", "download_crema_d", "DownloadReport", "parse_lfs_pointer",
           "CREMA_D_API_URL", "CREMA_D_RAW_URL", "CREMA_D_MEDIA_URL"]

_REPO = "CheyneyComputerScience/CREMA-D"
CREMA_D_API_URL = f"https://api.github.com/repos/{_REPO}/git/trees/master?recursive=1"
CREMA_D_RAW_URL = f"https://raw.githubusercontent.com/{_REPO}/master"
CREMA_D_MEDIA_URL = f"https://media.githubusercontent.com/media/{_REPO}/master"
_CHUNK = 1 << 16
_POINTER_CACHE = ".crema-d-lfs.json"



# ---------------------------------------------------------------------------- one file
def _file_ok(path: Path, size: int | None, sha256: str | None, md5: str | None) -> str | None:
    """Why ``path`` fails verification (None if it passes)."""
    actual = path.stat().st_size
    if size is not None and actual != size:
        return f"size {actual} bytes, expected {size}"
    for name, expected in (("sha256", sha256), ("md5", md5)):
        if expected:
            digest = hashlib.new(name)
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            if digest.hexdigest().lower() != expected.lower():
                return f"{name} {digest.hexdigest()}, expected {expected.lower()}"
    return None


class _Unreachable(BackendError):
    """The network or the host is gone: the remaining files of a batch are not attempted."""


def _network_error(url: str, exc: Exception) -> BackendError:
    host = urlsplit(url).netloc or url
    if isinstance(exc, requests.Timeout):
        return _Unreachable(f"download of {url} timed out ({exc.__class__.__name__}); the server at {host} is "
                            "slow or unreachable; run the command again later (finished files are kept, "
                            "partial ones resume)")
    return _Unreachable(f"cannot reach {host} to download {url}: no network is reachable from this machine "
                        f"or the host is down ({exc.__class__.__name__}); connect to the internet (or set "
                        "HTTPS_PROXY) and run the command again (finished files are kept)")


def _get(session: requests.Session, url: str, *, timeout: float, headers: dict | None = None,
         stream: bool = False) -> requests.Response:
    try:
        response = session.get(url, headers=headers or {}, timeout=timeout, stream=stream)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise _network_error(url, exc) from exc
    if response.status_code >= 400 and response.status_code != 416:
        response.close()
        raise BackendError(f"HTTP {response.status_code} {response.reason} for {url}; check that the address "
                           "is right and reachable, then run the command again")
    return response


def download_file(url: str, dest: str | os.PathLike, *, size: int | None = None, sha256: str | None = None,
                  md5: str | None = None, progress: Progress | None = None,
                  session: requests.Session | None = None, timeout: float = 30) -> Path:
    """Download ``url`` to ``dest``: resumable, verified, renamed into place when complete.

    Parameters
    ----------
    url : str
        HTTP(S) address of the file.
    dest : str or path
        Final path; bytes arrive in ``dest + ".part"`` first.
    size : int, optional
        Expected size in bytes (checked, and used to judge a partial file).
    sha256, md5 : str, optional
        Expected hex digests (checked after the download).
    progress : callable, optional
        ``progress(done_bytes, total_bytes, name)``; ``total_bytes`` is 0 when unknown.
    session : requests.Session, optional
        Reused connection pool (one per thread when called in parallel).
    timeout : float, default=30
        Seconds to wait for the connection and for each read.

    Returns
    -------
    Path
        ``dest``, complete and verified. An already complete, verified ``dest`` is not fetched again
        (with no ``size`` or checksum given, an existing ``dest`` counts as complete).

    Raises
    ------
    BackendError
        Network unreachable (raised at once, no retry), HTTP error, or the data fail verification
        twice (the partial file is removed).
    """
    dest = Path(dest)
    if dest.is_file():
        if _file_ok(dest, size, sha256, md5) is None:
            return dest
        dest.unlink()  # present but wrong (corrupted or an older version): fetch again
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    session = session or requests.Session()
    for attempt in (1, 2):
        resumed = _fetch(url, part, size=size, progress=progress, session=session, timeout=timeout)
        problem = _file_ok(part, size, sha256, md5)
        if problem is None:
            os.replace(part, dest)  # atomic on one file system: dest is never half-written
            return dest
        part.unlink()
        if not resumed:  # a fresh download that fails verification will not get better by retrying
            break
    raise BackendError(f"download of {url} failed verification: {problem}; the partial file was removed; "
                       "run the command again, and if it fails again the server's copy differs from the "
                       "expected checksum")


def _fetch(url: str, part: Path, *, size: int | None, progress: Progress | None, session: requests.Session,
           timeout: float) -> bool:
    """Stream ``url`` into ``part`` (resuming it if present); True if an earlier partial file was resumed."""
    have = part.stat().st_size if part.is_file() else 0
    if size is not None and have > size:
        part.unlink()
        have = 0
    if size is not None and have == size:
        return True  # all bytes already there; verification decides
    headers = {"Range": f"bytes={have}-"} if have else {}
    with _get(session, url, timeout=timeout, headers=headers, stream=True) as response:
        if response.status_code == 416:  # range not satisfiable: the part file is unusable, start over
            part.unlink(missing_ok=True)
            return _fetch(url, part, size=size, progress=progress, session=session, timeout=timeout)
        resuming = have > 0 and response.status_code == 206 and \
            response.headers.get("Content-Range", "").startswith(f"bytes {have}-")
        if not resuming:  # server ignored Range (200): write the whole file afresh
            have = 0
        length = int(response.headers.get("Content-Length") or 0)
        total = size or (have + length if length else 0)
        done = have
        try:
            with open(part, "ab" if resuming else "wb") as fh:
                for chunk in response.iter_content(_CHUNK):
                    fh.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total, part.name.removesuffix(".part"))
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _network_error(url, exc) from exc  # the .part file stays for the next resume
        except requests.exceptions.ChunkedEncodingError:  # connection cut mid-body: resume next time
            pass
        if length and done - have < length:
            raise BackendError(f"download of {url} stopped after {done} of {have + length} bytes; "
                               "run the command again to resume it")
    return resuming


# ---------------------------------------------------------------------------- CREMA-D
@dataclass
class DownloadReport:
    """Outcome of :func:`download_crema_d`.

    Attributes
    ----------
    out : Path
        The output folder (clips in ``out/AudioWAV``, ``out/VideoDemographics.csv``).
    downloaded : int
        Files fetched in this run.
    skipped_complete : int
        Files already complete and verified on disk.
    failed : list of (str, str)
        ``(path in the repository, reason)`` of files that could not be fetched; run again to retry.
    """

    out: Path
    downloaded: int = 0
    skipped_complete: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.downloaded + self.skipped_complete + len(self.failed)

    def summary(self) -> str:
        lines = [f"CREMA-D in {self.out}: {self.downloaded} downloaded, {self.skipped_complete} already complete, "
                 f"{len(self.failed)} failed (of {self.total})"]
        lines += [f"failed {path}: {reason}" for path, reason in self.failed[:10]]
        if len(self.failed) > 10:
            lines.append(f"… and {len(self.failed) - 10} more")
        if self.failed:
            lines.append("run the same command again to retry them; finished files are kept")
        return "\n".join(lines)


def parse_lfs_pointer(text: str) -> dict | None:
    """``{"sha256": ..., "size": ...}`` of a Git LFS pointer file's text (None if it is not one)."""
    if not text.startswith("version https://git-lfs"):
        return None
    fields = dict(line.split(" ", 1) for line in text.strip().splitlines() if " " in line)
    oid = fields.get("oid", "")
    if not oid.startswith("sha256:") or not fields.get("size", "").strip().isdigit():
        return None
    return {"sha256": oid.removeprefix("sha256:").strip(), "size": int(fields["size"])}


def download_crema_d(out: str | os.PathLike, *, workers: int = 8, progress: Progress | None = None,
                     api_url: str = CREMA_D_API_URL, raw_url: str = CREMA_D_RAW_URL,
                     media_url: str = CREMA_D_MEDIA_URL, limit: int | None = None,
                     timeout: float = 30) -> DownloadReport:
    """Download CREMA-D's ``AudioWAV/*.wav`` and ``VideoDemographics.csv`` into ``out``.

    Parameters
    ----------
    out : str or path
        Output folder; index it afterwards with ``index_corpus(out, dataset="crema-d")``.
    workers : int, default=8
        Parallel downloads.
    progress : callable, optional
        ``progress(done_files, total_files, name)``.
    api_url, raw_url, media_url : str
        GitHub tree API listing, raw (LFS pointer) and LFS media base addresses.
    limit : int, optional
        Fetch only the first ``limit`` clips (sorted by name), e.g. for a quick trial.
    timeout : float, default=30
        Seconds per connection and read.

    Returns
    -------
    DownloadReport
        Counts and the failed files; completed files are never lost, so a rerun resumes.

    Raises
    ------
    BackendError
        No network (raised at once, before any file), or the file listing cannot be fetched.
    """
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    if workers < 1:
        raise BackendError(f"workers must be at least 1; got {workers}")
    cache_path = out / _POINTER_CACHE
    cache = _read_cache(cache_path)
    local = threading.local()

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return local.session

    files: dict[str, dict] = cache.get("files") or {}
    if not files:  # the listing request itself fails at once when offline
        files = _list_tree(session(), api_url, timeout)
    clips = sorted(p for p in files if p.startswith("AudioWAV/"))[:limit]
    wanted = clips + [p for p in files if not p.startswith("AudioWAV/")]
    pointers: dict[str, dict] = cache.get("pointers") or {}
    report = DownloadReport(out=out)

    todo = [p for p in wanted if p not in pointers]
    if todo:
        _check_online(session(), raw_url, timeout)

        def fetch_pointer(path: str) -> dict:
            if not files[path].get("lfs", True):
                return {"size": files[path].get("size")}
            content = _get(session(), f"{raw_url}/{path}", timeout=timeout).content
            pointer = parse_lfs_pointer(content[:1024].decode("utf-8", errors="replace"))
            if pointer is None:  # stored without LFS after all: the raw file is the content
                return {"size": len(content), "raw": True}
            return pointer

        failed_pointers = _run_parallel(todo, fetch_pointer, workers, pointers, report, progress, "pointers")
        _write_cache(cache_path, {"files": files, "pointers": pointers})
        wanted = [p for p in wanted if p not in failed_pointers]

    def fetch(path: str) -> bool:
        pointer = pointers[path]
        dest = out / path
        if dest.is_file() and _file_ok(dest, pointer.get("size"), pointer.get("sha256"), None) is None:
            return False
        base = raw_url if pointer.get("raw") or "sha256" not in pointer else media_url
        download_file(f"{base}/{path}", dest, size=pointer.get("size"), sha256=pointer.get("sha256"),
                      session=session(), timeout=timeout)
        return True

    if any(not (out / p).is_file() for p in wanted):
        _check_online(session(), media_url, timeout)
    results: dict[str, bool] = {}
    _run_parallel(wanted, fetch, workers, results, report, progress, "clips")
    report.downloaded = sum(results.values())
    report.skipped_complete = len(results) - report.downloaded
    return report


def _run_parallel(items: list[str], job: Callable[[str], object], workers: int, results: dict,
                  report: DownloadReport, progress: Progress | None, what: str) -> set[str]:
    """Run ``job`` over ``items`` in threads; results into ``results``, failures into ``report.failed``."""
    failed: set[str] = set()
    lost = threading.Event()  # set once the network is gone: the other files are not attempted

    def guarded(item: str) -> object:
        if lost.is_set():
            raise _Unreachable("not attempted: the network was lost during the run; run the command again")
        try:
            return job(item)
        except _Unreachable:
            lost.set()
            raise

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(guarded, item): item for item in items}
        for done, future in enumerate(as_completed(futures), start=1):
            item = futures[future]
            try:
                results[item] = future.result()
            except (BackendError, OSError) as exc:
                failed.add(item)
                report.failed.append((item, f"{what}: {exc}"))
            if progress is not None:
                progress(done, len(items), f"{what}: {item}")
    report.failed.sort()
    return failed


def _check_online(session: requests.Session, url: str, timeout: float) -> None:
    """Fail at once with a clear message when the host of ``url`` cannot be reached at all."""
    try:
        session.head(url, timeout=min(timeout, 10), allow_redirects=False).close()
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise _network_error(url, exc) from exc


def _list_tree(session: requests.Session, api_url: str, timeout: float) -> dict[str, dict]:
    """Repository paths to fetch (``AudioWAV/*.wav`` as LFS, ``VideoDemographics.csv`` as a plain file)."""
    response = _get(session, api_url, timeout=timeout)
    try:
        listing = response.json()
        entries = listing["tree"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BackendError(f"the file listing at {api_url} is not a GitHub tree (JSON with a 'tree' list); "
                           "GitHub may be rate-limiting (60 API requests an hour without a token); "
                           "wait and run again") from exc
    if listing.get("truncated"):
        warnings.warn(f"GitHub truncated the file listing at {api_url}; some clips may be missing", stacklevel=3)
    files = {}
    for entry in entries:
        path = entry.get("path", "")
        if entry.get("type") != "blob":
            continue
        if path.startswith("AudioWAV/") and path.lower().endswith(".wav"):
            files[path] = {"lfs": True}
        elif path == "VideoDemographics.csv":
            files[path] = {"lfs": False, "size": entry.get("size")}
    if not any(p.startswith("AudioWAV/") for p in files):
        raise BackendError(f"the listing at {api_url} holds no AudioWAV/*.wav file; check the address")
    return files


def _read_cache(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write_cache(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=0, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
