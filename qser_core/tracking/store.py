"""The run store: where runs are recorded, opening it safely, and turning store faults into clear errors.

Where runs go
    :func:`tracking_uri`: ``$MLFLOW_TRACKING_URI`` if set, else a local SQLite store
    ``sqlite:///<qser_home()>/mlflow.db`` with artefacts in ``<qser_home()>/mlartifacts``
    (for any SQLite store, artefacts go to ``mlartifacts/`` beside the database file).
    No server and no UI are started; ``mlflow ui --backend-store-uri <uri>`` shows the same runs.
Which experiment
    One experiment, ``"qser"`` (``$MLFLOW_EXPERIMENT_NAME`` overrides it), for every dataset and head.
Opening a store (:func:`client`, once per process and store)
    A SQLite store is created (MLflow's schema migrations) under a file lock ``<db>.lock``, so
    several commands started at once on a fresh ``QSER_HOME`` wait for each other instead of
    racing in alembic. Before MLflow touches it, the file is checked: not an SQLite file, failing
    ``PRAGMA quick_check``, or locked by another process for more than a few seconds each give a
    :class:`~qser_core.errors.BackendError` naming the file and what to do. A server or database
    URI with a host is probed with a short TCP connect, and a server with one ``GET /health`` that must be
    answered, each within :data:`CONNECT_TIMEOUT_S`, so an unreachable ``MLFLOW_TRACKING_URI`` (refused,
    or accepting connections and never answering) fails in seconds, not after MLflow's minutes of retries.
Artefacts after moving ``QSER_HOME``
    MLflow stores absolute artefact URIs. :func:`artifact_repo` maps a run's artefact folder
    under the old home to ``mlartifacts/`` beside the database when the old path is gone.

MLflow stays quiet: its log level is WARNING unless ``$MLFLOW_LOGGING_LEVEL`` says otherwise (its
database-error tracebacks are silenced: :func:`store_errors` reports them in one line), telemetry
and artefact progress bars are off unless set in the environment.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import socket
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote, urlparse

from qser_core.config import nearest_existing, qser_home
from qser_core.errors import BackendError, DataError, StorageError

_log = logging.getLogger(__name__)

__all__ = [
    "EXPERIMENT",
    "CONNECT_TIMEOUT_S",
    "tracking_uri",
    "experiment_name",
    "sqlite_path",
    "unsaved_dir",
    "client",
    "experiment_id",
    "store_errors",
    "artifact_repo",
]

EXPERIMENT = "qser"
#: Seconds to wait for a tracking server or database host before giving up.
CONNECT_TIMEOUT_S = 3.0
#: Seconds to wait for another process's lock on a SQLite store (MLflow itself waits 20 s per query).
LOCK_WAIT_S = 5.0
#: Seconds to wait for another process creating the same store (migrations take 1-2 s; on a loaded
#: 2-core machine four processes at once took over a minute each).
CREATE_WAIT_S = 600.0
_SQLITE_MAGIC = b"SQLite format 3\x00"
# MLflow errors that mean "your request", not "the store is broken"; they pass through unchanged.
_REQUEST_ERRORS = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "RESOURCE_ALREADY_EXISTS"}


# ---------------------------------------------------------------- where
def tracking_uri() -> str:
    """Where runs are recorded: ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<qser_home()>/mlflow.db``."""
    env = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if env:
        return env
    return f"sqlite:///{(qser_home() / 'mlflow.db').resolve().as_posix()}"


def experiment_name() -> str:
    """The experiment runs go to: ``$MLFLOW_EXPERIMENT_NAME``, else ``"qser"`` (all datasets)."""
    return os.environ.get("MLFLOW_EXPERIMENT_NAME", "").strip() or EXPERIMENT


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (``None`` for any other store)."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(unquote(uri.removeprefix("sqlite:///").split("?")[0])).expanduser().resolve()


def artifact_root(uri: str) -> str | None:
    """``mlartifacts/`` beside a SQLite database (else the store's own default)."""
    db = sqlite_path(uri)
    if db is None:
        return None
    db.parent.mkdir(parents=True, exist_ok=True)  # SQLite creates the file, not its folder
    return (db.parent / "mlartifacts").as_uri()


def unsaved_dir(uri: str) -> Path:
    """Where results go when the store refuses them: ``unsaved-runs/`` beside a SQLite store, else in QSER_HOME."""
    db = sqlite_path(uri)
    return (db.parent if db is not None else qser_home()) / "unsaved-runs"


# ---------------------------------------------------------------- open
def import_mlflow():
    """Import MLflow quietly (deferred: the import alone takes about a second)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # offline machines; no phoning home
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # A server that answers slowly: a few short tries, not MLflow's default minutes of back-off.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    import warnings

    # SQLAlchemy warns about MLflow's own mappers on every store start; not actionable for us.
    warnings.filterwarnings("ignore", message=r"The ``noload`` loader strategy is deprecated")
    import mlflow

    if "MLFLOW_LOGGING_LEVEL" not in os.environ:
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        # It logs a full traceback for every database error; store_errors reports it in one line.
        logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
        logging.getLogger("mlflow.store.tracking.sqlalchemy_store").setLevel(logging.CRITICAL)
    return mlflow


def _what_to_do(uri: str) -> str:
    db = sqlite_path(uri)
    if db is None:
        return ("Start the tracking server or fix MLFLOW_TRACKING_URI, or unset it to use the local store "
                f"{qser_home() / 'mlflow.db'} (or run evaluate, train or hybrid with --no-track)")
    return (f"Move the file aside (mv {db} {db}.broken) so a fresh store is made on the next run; the runs in it "
            "are lost unless restored from a backup. Or point MLFLOW_TRACKING_URI at another sqlite:/// file")


def _check_sqlite(db: Path, uri: str) -> None:
    """Refuse a file that is not SQLite, fails ``quick_check``, or stays locked; no-op for a new store."""
    if not db.exists() or db.stat().st_size == 0:
        return
    with db.open("rb") as fh:
        head = fh.read(len(_SQLITE_MAGIC))
    if head != _SQLITE_MAGIC:
        raise BackendError(f"the run store {db} is not an SQLite database (corrupt or overwritten: it starts with "
                           f"{head[:8]!r}). {_what_to_do(uri)}")
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=LOCK_WAIT_S)
        try:
            rows = con.execute("PRAGMA quick_check").fetchall()
        finally:
            con.close()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc):
            raise BackendError(f"the run store {db} is locked by another process (waited {LOCK_WAIT_S:.0f} s). Wait "
                               "for the other qser command or dashboard job to finish, or stop it, then run again") from exc
        raise BackendError(f"cannot read the run store {db}: {exc} (corrupt or truncated). {_what_to_do(uri)}") from exc
    except sqlite3.DatabaseError as exc:
        raise BackendError(f"the run store {db} is damaged: {exc}. {_what_to_do(uri)}") from exc
    problems = [r[0] for r in rows if r and r[0] != "ok"]
    if problems:
        raise BackendError(f"the run store {db} is damaged ({len(problems)} problems, first: {problems[0]}). "
                           f"{_what_to_do(uri)}")


def _probe_host(uri: str) -> None:
    """Fail in seconds when the server or database host named in ``uri`` cannot serve (nothing for local stores).

    A short TCP connect, then for ``http(s)://`` one ``GET <path>/health`` that must get some answer
    (any status) within :data:`CONNECT_TIMEOUT_S`. Without it a server that accepts connections but
    never answers (hung, overloaded, a firewall that accepts everything) costs MLflow's read timeout
    for every try of the first request. Measured on the loaded 2-core dev machine (wall time of the
    whole command; CPU time 3-8 s, mostly importing MLflow and torch):

    ==========================================  ================  ================
    case                                         ``qser runs``     ``qser evaluate``
    ==========================================  ================  ================
    port refused, before (TCP connect only)      9.1 s             30.8 s (after extraction)
    port refused, now                            7.0 s             9.3 s
    accepts, never answers, before               79.3 s            80.5 s
    accepts, never answers, now                  11.8 s            15.4 s
    ==========================================  ================  ================

    The probe itself takes 0.001 s (refused) and 3.0 s (silent); one MLflow request to the silent
    server takes 65.6 s with the settings of :func:`import_mlflow` (MLFLOW_HTTP_REQUEST_TIMEOUT=20,
    MLFLOW_HTTP_REQUEST_MAX_RETRIES=2; MLflow's defaults, 120 s and 7 retries, would be over 15 minutes).
    ``evaluate`` now checks the store before extracting (:func:`~qser_core.tracking.recorder.check_store`).
    When a proxy from the environment applies, MLflow's requests go through it, so only its
    timeouts apply and nothing is probed.
    """
    parsed = urlparse(uri)
    if not parsed.hostname or parsed.scheme in ("file", "sqlite"):
        return
    scheme = parsed.scheme.split("+")[0]
    if scheme in ("http", "https") and _proxied(uri):
        return
    default = {"http": 80, "https": 443, "postgresql": 5432, "mysql": 3306, "mssql": 1433}.get(scheme, 80)
    try:
        port = parsed.port or default
    except ValueError as exc:
        raise BackendError(f"the MLflow tracking URI {uri!r} has a bad port ({exc}). {_what_to_do(uri)}") from None
    where = f"{parsed.hostname}:{port}"
    try:
        sock = socket.create_connection((parsed.hostname, port), timeout=CONNECT_TIMEOUT_S)
    except ConnectionRefusedError:
        raise BackendError(f"cannot reach the MLflow tracking store {uri}: nothing accepts connections at {where} "
                           f"(connection refused). {_what_to_do(uri)}") from None
    except TimeoutError:
        raise BackendError(f"cannot reach the MLflow tracking store {uri}: no answer from {where} within "
                           f"{CONNECT_TIMEOUT_S:.0f} s. {_what_to_do(uri)}") from None
    except OSError as exc:  # unknown host, no route, network down
        raise BackendError(f"cannot reach the MLflow tracking store {uri} ({where}: {exc}). "
                           f"{_what_to_do(uri)}") from None
    with sock:
        if scheme in ("http", "https") and (problem := _http_silence(sock, parsed, scheme)):
            raise BackendError(f"cannot use the MLflow tracking store {uri}: {where} accepts connections but "
                               f"{problem} (a hung or overloaded server, or not an MLflow server). {_what_to_do(uri)}")


def _proxied(uri: str) -> bool:
    import requests.utils

    return bool(requests.utils.get_environ_proxies(uri))


def _http_silence(sock: socket.socket, parsed, scheme: str) -> str | None:
    """Why an HTTP(S) server on ``sock`` gives no answer to ``GET /health`` in time (``None`` if it answers)."""
    import ssl

    try:
        if scheme == "https":
            try:
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parsed.hostname)
            except ssl.SSLError:
                return None  # it speaks TLS: an answer; MLflow reports certificate problems itself
        path = parsed.path.rstrip("/") + "/health"
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {parsed.netloc}\r\nConnection: close\r\n\r\n".encode())
        if not sock.recv(1):
            return "closed the connection without an HTTP answer"
    except TimeoutError:
        return f"sent no HTTP answer within {CONNECT_TIMEOUT_S:.0f} s"
    except OSError as exc:
        return f"dropped the connection ({exc})"
    return None


@contextlib.contextmanager
def _creation_lock(db: Path | None) -> Iterator[None]:
    """Hold ``<db>.lock`` while MLflow creates or migrates a SQLite store (no-op for other stores)."""
    if db is None:
        yield
        return
    from filelock import FileLock, Timeout

    db.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(f"{db}.lock")
    try:
        lock.acquire(timeout=CREATE_WAIT_S)
    except Timeout as exc:
        raise BackendError(f"another process has been creating the run store {db} for {CREATE_WAIT_S:.0f} s "
                           f"(lock file {db}.lock). Stop it or delete the lock file if no qser command runs") from exc
    try:
        yield
    finally:
        lock.release()


@functools.lru_cache(maxsize=8)
def _open(uri: str) -> "GuardedClient":
    import_mlflow()
    from mlflow.tracking import MlflowClient

    from mlflow.exceptions import MlflowException

    db = sqlite_path(uri)
    _probe_host(uri)
    if db is not None:
        check_home_folder(db.parent, what="the run store's folder")

    def make() -> GuardedClient:
        try:
            with store_errors(uri, "open the store"):
                return GuardedClient(MlflowClient(tracking_uri=uri), uri)
        except MlflowException as exc:  # a request error here still means: this URI cannot be used
            raise BackendError(f"cannot open the MLflow tracking store {uri!r}: {_describe(exc)}. "
                               f"{_what_to_do(uri)}") from exc

    if db is not None and _initialised(db):  # a complete store opens without the lock: a pure read writes nothing
        _check_sqlite(db, uri)
        return make()
    if db is not None:
        _check_writable(db)
    artifact_root(uri)  # make the database's folder before SQLAlchemy opens it
    with _creation_lock(db):  # only creation is serialised; opening a complete store is not
        if db is not None:
            _check_sqlite(db, uri)
            if not _initialised(db):
                _set_aside_unfinished(db)
                return make()
    return make()


def check_home_folder(folder: Path, *, what: str = "QSER_HOME") -> None:
    """Refuse a ``folder`` that is a file or lies below one (``QSER_HOME=/etc/passwd``), naming it."""
    parent = nearest_existing(folder)
    if not parent.is_dir():
        where = "is" if parent == folder else f"lies below {parent}, which is"
        raise StorageError(f"{what} {folder} {where} a file, not a folder; set QSER_HOME to a folder "
                           "(it is created if missing)")


def writable(folder: Path) -> bool:
    """True when a file can be created in ``folder`` (or, if it does not exist yet, in its nearest existing parent).

    A real create and delete, not ``os.access``: a read-only mount, a full quota or missing permissions all count.
    """
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        return False
    try:
        fd, name = tempfile.mkstemp(dir=existing, prefix=".qser-write-check-")
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    return True


def _check_writable(db: Path) -> None:
    """Refuse to create a store where it cannot be written, before MLflow fails in its migrations."""
    if db.exists() and os.access(db, os.W_OK) and writable(db.parent):
        return
    if not db.exists() and writable(db.parent):
        return
    raise StorageError(f"the run store {db} cannot be created or written: {db.parent} is read-only: use --no-track "
                       "or another QSER_HOME (export QSER_HOME=DIR), or point MLFLOW_TRACKING_URI at a writable "
                       "sqlite:/// file")


def _set_aside_unfinished(db: Path) -> None:
    """Move a half-created store that holds no runs (a kill during the very first command) aside, so it is made again.

    Called under the creation lock, so no other qser process is creating it. A store with runs is left alone
    (MLflow's migration then reports what is wrong with it).
    """
    if not db.exists() or db.stat().st_size == 0:
        return
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=LOCK_WAIT_S)
        try:
            tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            n_runs = con.execute("SELECT count(*) FROM runs").fetchone()[0] if "runs" in tables else 0
        finally:
            con.close()
    except sqlite3.Error:
        return  # not readable as SQLite: _check_sqlite has said so already
    if n_runs:
        return
    aside = db.with_name(f"{db.name}.unfinished-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(db, aside)
    for suffix in ("-journal", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    _log.warning("qser: the run store %s was left half-created (a command was stopped while making it) and held no "
                 "runs; it is made again (the unfinished file is kept as %s)", db, aside)


def _initialised(db: Path) -> bool:
    """True when MLflow finished creating the SQLite store ``db`` (tables there, no migration half done)."""
    if not db.exists() or db.stat().st_size == 0:
        return False
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=LOCK_WAIT_S)
    try:
        names = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"alembic_version", "experiments", "runs"} <= names or any(n.startswith("_alembic_tmp") for n in names):
            return False
        return con.execute("SELECT count(*) FROM alembic_version").fetchone()[0] > 0
    except sqlite3.Error:
        return False
    finally:
        con.close()


def client(uri: str | None = None) -> "GuardedClient":
    """The MLflow client of a store (default :func:`tracking_uri`), opened and checked once per process.

    Raises
    ------
    BackendError
        The store is unreachable, not a database, damaged, or locked; the message names it and says what to do.
    """
    return _open(uri or tracking_uri())


def reset_clients() -> None:
    """Forget opened stores (a test that damages a store on purpose, or a long-lived process after a fault)."""
    _open.cache_clear()


# SQLAlchemy's advice to its own programmers, appended to database errors: not for a qser user.
_SQLALCHEMY_NOISE = re.compile(r"\s*\((?:raised as a result of Query-invoked autoflush|Background on this error at)[^)]*\)")


def _describe(exc: BaseException) -> str:
    text = _SQLALCHEMY_NOISE.sub("", str(getattr(exc, "message", exc))).strip().splitlines()
    text = text[0] if text else type(exc).__name__
    return text[:800]


@contextlib.contextmanager
def store_errors(uri: str, what: str) -> Iterator[None]:
    """Turn a store fault while doing ``what`` into one :class:`BackendError` that names the store.

    MLflow errors about the request itself (an unknown run id, a bad filter) pass through unchanged.
    """
    from mlflow.exceptions import MlflowException

    try:
        yield
    except BackendError:
        raise
    except MlflowException as exc:
        if exc.error_code in _REQUEST_ERRORS:
            raise
        raise _store_error(uri, what, exc) from exc
    except (sqlite3.Error, OSError, ConnectionError) as exc:
        raise _store_error(uri, what, exc) from exc
    except Exception as exc:  # SQLAlchemy and requests errors reach us unwrapped from some MLflow paths
        module = type(exc).__module__.split(".")[0]
        if module in ("sqlalchemy", "requests", "urllib3", "alembic"):
            raise _store_error(uri, what, exc) from exc
        raise


def _network_fault(text: str) -> str | None:
    """A short reason for an HTTP failure that urllib3 describes in a paragraph (``None`` for anything else)."""
    if "Read timed out" in text or "ReadTimeoutError" in text:
        timeout = os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT", "?")
        tries = int(os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0") or 0) + 1
        return f"the server stopped answering (no answer within {timeout} s, {tries} {'try' if tries == 1 else 'tries'})"
    if "Connection refused" in text or "NewConnectionError" in text:
        return "the server refused the connection (it is not running any more)"
    return None


def _store_error(uri: str, what: str, exc: BaseException) -> BackendError:
    text = _describe(exc)
    text = _network_fault(text) or text
    if "locked" in text:
        hint = ("another process holds a lock on it; wait for the other qser command or dashboard job to finish, "
                "then run again")
    elif "disk" in text.lower() and ("full" in text.lower() or "space" in text.lower()):
        hint = "the disk is full; free some space"
    else:
        hint = _what_to_do(uri)
    return BackendError(f"could not {what} in the run store {uri}: {text}. {hint}")


class GuardedClient:
    """An ``MlflowClient`` whose every call reports store faults through :func:`store_errors`.

    Attributes
    ----------
    uri : str
        The store's tracking URI.
    """

    def __init__(self, mlflow_client, uri: str) -> None:
        self._client = mlflow_client
        self.uri = uri

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def call(*args, **kwargs):
            with store_errors(self.uri, name.replace("_", " ")):
                return attr(*args, **kwargs)

        return call


def experiment_id(store: GuardedClient, name: str, *, create: bool = True) -> str | None:
    """Id of the experiment ``name`` (created, or restored if deleted in the MLflow UI, when ``create``)."""
    from mlflow.exceptions import MlflowException

    experiment = store.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.lifecycle_stage == "deleted" and create:  # new runs bring it back
            store.restore_experiment(experiment.experiment_id)
        return experiment.experiment_id
    if not create:
        return None
    with _creation_lock(sqlite_path(store.uri)):
        try:
            return store.create_experiment(name, artifact_location=artifact_root(store.uri))
        except MlflowException as exc:  # another process created it between our look and our write
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return store.get_experiment_by_name(name).experiment_id


# ------------------------------------------------------------ artefacts
def local_artifact_uri(uri: str, artifact_uri: str, run_id: str) -> str:
    """A run's artefact URI, moved beside the SQLite store when the recorded folder is gone (moved QSER_HOME)."""
    db = sqlite_path(uri)
    if db is None or not artifact_uri.startswith("file:"):
        return artifact_uri
    recorded = Path(unquote(urlparse(artifact_uri).path))
    parts = recorded.parts
    if "mlartifacts" not in parts:  # not the layout this module makes: leave it to MLflow
        return artifact_uri
    cut = len(parts) - parts[::-1].index("mlartifacts")
    beside = db.parent.joinpath("mlartifacts", *parts[cut:])
    if beside.exists() or not (recorded.exists() or Path(*parts[:cut]).exists()):
        return beside.as_uri()  # the store moved with its artefacts (or the old home is gone)
    return artifact_uri


def artifact_repo(store: GuardedClient, run):
    """The artefact repository of ``run`` (an MLflow ``Run``), following a moved ``QSER_HOME``."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    return get_artifact_repository(local_artifact_uri(store.uri, run.info.artifact_uri, run.info.run_id))


def artifact_name(name: str, *, suffix: str = ".json") -> str:
    """A safe relative artefact name (``suffix`` added when missing)."""
    name = str(name).strip().lstrip("/")
    if not name or ".." in Path(name).parts:
        raise DataError(f"artifact name must be a relative file name such as 'folds.json'; got {name!r}")
    return name if not suffix or name.endswith(suffix) else f"{name}{suffix}"


def process_start(pid: int) -> str:
    """Start time of process ``pid`` in clock ticks since boot ("" where /proc is absent): guards pid reuse."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]


def now_ms() -> int:
    return int(time.time() * 1000)
