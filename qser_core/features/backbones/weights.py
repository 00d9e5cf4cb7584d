"""Pre-trained weight files of the downloadable backbones (the PANNs checkpoints).

``qser extract --set embedding.backbone=panns-cnn6`` downloads ``Cnn6_mAP=0.343.pth``
into ``$QSER_HOME/weights/`` on first use.

The checkpoints are those published with Kong et al. (2020), "PANNs: Large-Scale
Pretrained Audio Neural Networks for Audio Pattern Recognition", on Zenodo record
3987831 (CC BY 4.0). Each file is downloaded once (resumable, through
:func:`qser_core.data.download.download_file`), checked against the MD5 that Zenodo
publishes (and the byte size where it is known), and reused afterwards. Offline,
:func:`ensure_weights` fails at once with a :class:`~qser_core.errors.BackendError`
that names the file to copy by hand.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import quote, urlsplit

from qser_core.config import qser_home
from qser_core.errors import BackendError, ConfigError

__all__ = [
    "WeightsFile",
    "WEIGHTS",
    "ZENODO_BASE_URL",
    "weights_path",
    "weights_url",
    "ensure_weights",
    "check_weights_file",
]

#: Where the PANNs checkpoints live (Zenodo record 3987831). ``$QSER_WEIGHTS_URL``
#: overrides it with a mirror folder that holds the same file names.
ZENODO_BASE_URL = "https://zenodo.org/record/3987831/files"


@dataclass(frozen=True)
class WeightsFile:
    """One published checkpoint: its file name and how to verify it.

    Parameters
    ----------
    filename : str
        Name on Zenodo and under ``$QSER_HOME/weights/``.
    md5 : str
        MD5 hex digest as Zenodo publishes it.
    size : int or None
        Size in bytes where known (checked before hashing, so a truncated copy
        fails fast).
    """

    filename: str
    md5: str
    size: int | None = None


#: Backbone name → its checkpoint. MD5s are the ones Zenodo lists for record 3987831;
#: only Cnn14's byte size (327,428,481) is recorded here, the others are verified by MD5.
WEIGHTS: dict[str, WeightsFile] = {
    "panns-cnn14": WeightsFile("Cnn14_mAP=0.431.pth", "541141fa2ee191a88f24a3219fff024e", 327_428_481),
    "panns-cnn10": WeightsFile("Cnn10_mAP=0.380.pth", "bfb1f1f9968938fa8ef4012b8471f5f6"),
    "panns-cnn6": WeightsFile("Cnn6_mAP=0.343.pth", "e25e26b84585b14c7754c91e48efc9be"),
    "panns-mobilenetv1": WeightsFile("MobileNetV1_mAP=0.389.pth", "a419303e1c88aa1b9d2ac3811563d371"),
}

# Files already verified in this process: (path, size, mtime_ns, expected md5, expected size). Hashing Cnn14
# takes about a second, so it is done once per process, not per backbone build.
_VERIFIED: set[tuple] = set()
_LOCK = threading.Lock()


def _spec(name: str) -> WeightsFile:
    if name not in WEIGHTS:
        raise ConfigError(
            f"backbone {name!r} has no downloadable weights; names with weights are {', '.join(WEIGHTS)}"
        )
    return WEIGHTS[name]


def weights_path(name: str) -> Path:
    """Where the checkpoint of backbone ``name`` is kept: ``qser_home()/weights/<file name>``.

    Parameters
    ----------
    name : str
        A backbone with weights, e.g. ``"panns-cnn14"`` (see :data:`WEIGHTS`).

    Returns
    -------
    Path
        The file's path (it may not exist yet).

    Raises
    ------
    ConfigError
        ``name`` has no downloadable weights.

    Examples
    --------
    >>> weights_path("panns-cnn6").name
    'Cnn6_mAP=0.343.pth'
    """
    return qser_home() / "weights" / _spec(name).filename


def weights_url(name: str, *, base_url: str | None = None) -> str:
    """Download address of the checkpoint of backbone ``name``.

    Parameters
    ----------
    name : str
        A backbone with weights (see :data:`WEIGHTS`).
    base_url : str or None, default=None
        Folder URL holding the file; ``None`` means ``$QSER_WEIGHTS_URL`` if set,
        else Zenodo (:data:`ZENODO_BASE_URL`).

    Returns
    -------
    str
        The URL, with the file name percent-encoded (``=`` becomes ``%3D``).

    Examples
    --------
    >>> weights_url("panns-cnn14", base_url=ZENODO_BASE_URL)
    'https://zenodo.org/record/3987831/files/Cnn14_mAP%3D0.431.pth?download=1'
    """
    spec = _spec(name)
    base = base_url or os.environ.get("QSER_WEIGHTS_URL") or ZENODO_BASE_URL
    url = f"{base.rstrip('/')}/{quote(spec.filename, safe='')}"
    # Zenodo serves the raw file (not its landing page) only with ?download=1.
    return url + "?download=1" if urlsplit(base).netloc.endswith("zenodo.org") else url


def check_weights_file(path: str | os.PathLike, *, md5: str, size: int | None = None) -> None:
    """Check that ``path`` is the expected file (size first, then MD5).

    Parameters
    ----------
    path : str or PathLike
        File to check.
    md5 : str
        Expected MD5 hex digest.
    size : int or None, default=None
        Expected size in bytes, if known.

    Raises
    ------
    BackendError
        The file is missing, has another size or another MD5; the message says to
        delete it so that it is downloaded again.
    """
    path = Path(path)
    if not path.is_file():
        raise BackendError(f"weights file {path} does not exist; run again online to download it")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, md5.lower(), size)
    with _LOCK:
        if key in _VERIFIED:
            return
    if size is not None and stat.st_size != size:
        raise BackendError(
            f"weights file {path} has {stat.st_size} bytes, expected {size}; it is truncated or another file: "
            "delete it to download it again"
        )
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != md5.lower():
        raise BackendError(
            f"weights file {path} has md5 {digest.hexdigest()}, expected {md5}; it is corrupt or another "
            "checkpoint: delete it to download it again"
        )
    with _LOCK:
        _VERIFIED.add(key)


def ensure_weights(
    name: str,
    *,
    progress: Callable[[int, int, str], None] | None = None,
    base_url: str | None = None,
    timeout: float = 30,
) -> Path:
    """The verified local checkpoint of backbone ``name``, downloaded on first use.

    Parameters
    ----------
    name : str
        A backbone with weights (see :data:`WEIGHTS`).
    progress : callable or None, default=None
        ``progress(done_bytes, total_bytes, message)`` during the download.
    base_url : str or None, default=None
        Folder URL to download from (see :func:`weights_url`).
    timeout : float, default=30
        Seconds to wait for the server to connect or answer.

    Returns
    -------
    Path
        ``weights_path(name)``, checked against the published MD5 (and size).

    Raises
    ------
    ConfigError
        ``name`` has no downloadable weights.
    BackendError
        The download failed (offline, server error, checksum mismatch) or the file
        already there is not the published one. The message says where to copy the
        file by hand and which backbone works without a download.
    """
    spec = _spec(name)
    path = weights_path(name)
    if path.exists():
        check_weights_file(path, md5=spec.md5, size=spec.size)
        return path
    url = weights_url(name, base_url=base_url)
    path.parent.mkdir(parents=True, exist_ok=True)
    from qser_core.data.download import download_file  # imported here: only downloads need it

    try:
        download_file(url, path, size=spec.size, md5=spec.md5, progress=progress, timeout=timeout)
    except BackendError as exc:
        raise BackendError(
            f"could not download the {name} weights: {exc}. Otherwise copy {spec.filename} "
            f"(md5 {spec.md5}) to {path}, or choose embedding.backbone=efficientnet-lite0, which needs no download"
        ) from exc
    check_weights_file(path, md5=spec.md5, size=spec.size)
    return path
