"""IBM Quantum account and backends, and the offline fake backends that stand in for them.

``qser hardware backends`` lists what :func:`list_backends` returns.

The account is ``QiskitRuntimeService`` with, in this order, a key passed in memory (the
dashboard's password field), ``QISKIT_IBM_TOKEN`` / ``QISKIT_IBM_INSTANCE`` (the instance CRN) from
the environment, or the account saved with ``QiskitRuntimeService.save_account`` (channel
``ibm_quantum_platform`` or ``ibm_cloud``). The key is never printed, logged, cached or put in an
error: every message from the service — at login and after it (:func:`guarded`) — is scrubbed of it
before it is raised, and nothing here keeps it beyond the service object.

IBM's fleet is Heron now; the 127-qubit Eagle devices (brisbane, sherbrooke, kyiv) are retired and
``service.backend()`` no longer finds them. ``backend="auto"`` (the default) is the account's
least-busy operational device with enough qubits, and offline :data:`DEFAULT_FAKE` (ibm_fez).
The fake backends of ``qiskit_ibm_runtime.fake_provider`` are calibration snapshots; the Eagle ones
are kept as *retired devices' noise* and labelled so.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable

from qser_core.errors import BackendError

__all__ = ["FAKE_BACKENDS", "RETIRED", "DEFAULT_FAKE", "AUTO", "CHANNELS", "fake_backend", "fake_label",
           "connect", "account_configured", "list_backends", "get_backend", "redact", "guarded", "budget"]

#: Saved-account channels qiskit-ibm-runtime 0.45 accepts (``ibm_quantum`` is gone).
CHANNELS = ("ibm_quantum_platform", "ibm_cloud")
CHANNEL = CHANNELS[0]
#: IBM device name → offline fake backend class in ``qiskit_ibm_runtime.fake_provider`` (current devices first).
FAKE_BACKENDS: dict[str, str] = {
    "ibm_fez": "FakeFez",
    "ibm_marrakesh": "FakeMarrakesh",
    "ibm_torino": "FakeTorino",
    "ibm_brisbane": "FakeBrisbane",
    "ibm_sherbrooke": "FakeSherbrooke",
    "ibm_kyiv": "FakeKyiv",
}
#: Retired 127-qubit Eagle devices: their fakes remain as noise models, IBM no longer runs them.
RETIRED = frozenset({"ibm_brisbane", "ibm_sherbrooke", "ibm_kyiv"})
#: The device of ``backend="auto"`` offline: a current 156-qubit Heron.
DEFAULT_FAKE = "ibm_fez"
#: Backend names meaning: pick for me (least busy with an account, :data:`DEFAULT_FAKE` offline).
AUTO = ("auto", "least_busy", "least-busy", "")
_log = logging.getLogger(__name__)


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every occurrence of each secret (and of ``QISKIT_IBM_TOKEN``) replaced."""
    text = str(text)
    for secret in (*secrets, os.environ.get("QISKIT_IBM_TOKEN")):
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[key hidden]")
    return text


def _service_key(service) -> str | None:
    """The key a service logged in with (read to scrub it from messages, never stored or shown)."""
    return getattr(getattr(service, "_account", None), "token", None)


def guarded(service, call: Callable[[], Any], what: str) -> Any:
    """``call()``, with any failure raised as :class:`BackendError` whose text never holds the key.

    Parameters
    ----------
    service : QiskitRuntimeService
        The logged-in service (its key is scrubbed from the message).
    call : callable
        The service call.
    what : str
        What was being done, for the message ("list backends", "retrieve job X").
    """
    try:
        return call()
    except BackendError as exc:
        raise BackendError(redact(exc, _service_key(service))) from None
    except Exception as exc:  # noqa: BLE001 - every service failure reaches the user as one message
        raise BackendError(f"IBM Quantum could not {what}: "
                           f"{redact(f'{type(exc).__name__}: {exc}', _service_key(service))}") from None


def fake_label(name: str) -> str:
    """What a fake backend stands for: a current device's snapshot, or a retired device's noise."""
    if name in RETIRED:
        return "retired Eagle device's noise (offline snapshot; IBM no longer runs it)"
    return "offline calibration snapshot"


def fake_backend(name: str = DEFAULT_FAKE):
    """The offline fake backend (real calibration snapshot) of an IBM device.

    Parameters
    ----------
    name : str, default=DEFAULT_FAKE
        A key of :data:`FAKE_BACKENDS` (``fake_`` prefix accepted), or ``"auto"`` for :data:`DEFAULT_FAKE`.

    Raises
    ------
    BackendError
        For a device without a fake backend here.

    Examples
    --------
    >>> fake_backend("ibm_torino").num_qubits
    133
    """
    name = DEFAULT_FAKE if name in AUTO else name
    name = name if name.startswith("ibm_") else f"ibm_{name.removeprefix('fake_')}"
    if name not in FAKE_BACKENDS:
        raise BackendError(f"no offline fake backend for IBM device {name!r}; choose one of "
                           f"{', '.join(FAKE_BACKENDS)} (retired Eagle devices: {', '.join(sorted(RETIRED))})")
    from qiskit_ibm_runtime import fake_provider

    return getattr(fake_provider, FAKE_BACKENDS[name])()


def _saved_accounts() -> dict:
    from qiskit_ibm_runtime.accounts import AccountManager

    return {name: acc for name, acc in AccountManager.list().items() if acc.channel in CHANNELS}


def account_configured(token: str | None = None) -> bool:
    """Whether a key is at hand: passed, in ``QISKIT_IBM_TOKEN``, or saved (either channel)."""
    if token or os.environ.get("QISKIT_IBM_TOKEN"):
        return True
    try:
        return bool(_saved_accounts())
    except Exception:  # noqa: BLE001 - an unreadable account file means: no usable account
        return False


def check_instance(instance: str | None) -> str | None:
    """The instance CRN, or None; the retired hub/group/project form is refused."""
    if not instance:
        return None
    if not instance.startswith("crn:"):
        raise BackendError(f"IBM Quantum instance must be a CRN (crn:v1:bluemix:…, from the Instances page of "
                           f"quantum.cloud.ibm.com); got {instance!r}. The hub/group/project form is retired")
    return instance


def connect(*, token: str | None = None, instance: str | None = None):
    """Log in to IBM Quantum.

    Parameters
    ----------
    token : str, optional
        An API key held in memory; else ``QISKIT_IBM_TOKEN``, else the saved account (channel
        ``ibm_quantum_platform`` or ``ibm_cloud``, as saved).
    instance : str, optional
        Instance CRN; else ``QISKIT_IBM_INSTANCE``, else the account's default.

    Returns
    -------
    qiskit_ibm_runtime.QiskitRuntimeService

    Raises
    ------
    BackendError
        No account configured, an instance that is not a CRN, or the login failed (the message never
        contains the key).
    """
    token = token or os.environ.get("QISKIT_IBM_TOKEN") or None
    instance = check_instance(instance or os.environ.get("QISKIT_IBM_INSTANCE") or None)
    if not account_configured(token):
        raise BackendError("no IBM Quantum account is configured: set QISKIT_IBM_TOKEN (and QISKIT_IBM_INSTANCE "
                           "for the instance CRN), save one with QiskitRuntimeService.save_account, or type a key "
                           "on the Hardware page; or use --fake for the offline fake backends")
    from qiskit_ibm_runtime import QiskitRuntimeService

    kwargs: dict[str, Any] = {}
    if token:  # a bare key is an IBM Quantum Platform key; a saved account keeps its own channel
        kwargs.update(channel=CHANNEL, token=token)
    if instance:
        kwargs["instance"] = instance
    guard = _RedactKey(token)
    # handler filters see the records of child loggers too (logger filters would not)
    handlers = logging.getLogger("qiskit_ibm_runtime").handlers + logging.getLogger().handlers
    for handler in handlers:
        handler.addFilter(guard)
    try:
        return QiskitRuntimeService(**kwargs)
    except Exception as exc:  # noqa: BLE001 - network, credentials, instance: all reach the user as one message
        reason = redact(f"{type(exc).__name__}: {exc}", token)
        raise BackendError(f"could not log in to IBM Quantum ({reason}); check the key and instance, and that "
                           "https://quantum.cloud.ibm.com is reachable, or use --fake") from None
    finally:
        for handler in handlers:
            handler.removeFilter(guard)


class _RedactKey(logging.Filter):
    """Drops the key from qiskit-ibm-runtime's own log records while logging in."""

    def __init__(self, secret: str | None) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secret:
            record.msg = redact(record.getMessage(), self.secret)
            record.args = ()
        return True


def _fake_row(name: str) -> dict[str, Any]:
    device = fake_backend(name)
    return {"name": name, "n_qubits": int(device.num_qubits), "pending_jobs": None, "operational": name not in RETIRED,
            "status": fake_label(name), "fake": True, "retired": name in RETIRED}


def _account_rows(service) -> list[dict[str, Any]]:
    rows = []
    for backend in guarded(service, lambda: service.backends(simulator=False), "list its backends"):
        status = guarded(service, backend.status, f"read the status of {backend.name}")
        rows.append({"name": backend.name, "n_qubits": int(backend.num_qubits),
                     "pending_jobs": int(status.pending_jobs), "operational": bool(status.operational),
                     "status": status.status_msg, "fake": False, "retired": False})
    return sorted(rows, key=lambda r: (not r["operational"], r["pending_jobs"]))


def list_backends(service=None, *, min_qubits: int = 1) -> dict[str, Any]:
    """Backends the account can use (or the fake ones), with qubits, queue and status.

    Parameters
    ----------
    service : QiskitRuntimeService, optional
        A logged-in service; without one the fake backends are listed (``pending_jobs`` None: a
        snapshot has no queue).
    min_qubits : int, default=1
        ``least_busy`` must have at least this many qubits.

    Returns
    -------
    dict
        ``account`` (``configured``, ``connected``, ``message``), ``backends`` (list of ``name``,
        ``n_qubits``, ``pending_jobs``, ``operational``, ``status``, ``fake``, ``retired``) and
        ``least_busy`` (the operational device with the shortest queue and enough qubits; the
        default fake offline).
    """
    if service is None:
        configured = account_configured()
        message = ("not connected to IBM Quantum; listing offline fake backends" if configured
                   else "no IBM Quantum account is configured; listing offline fake backends")
        return {"account": {"configured": configured, "connected": False, "message": message},
                "backends": [_fake_row(name) for name in FAKE_BACKENDS], "least_busy": DEFAULT_FAKE}
    rows = _account_rows(service)
    usable = [r for r in rows if r["operational"] and r["n_qubits"] >= min_qubits]
    return {"account": {"configured": True, "connected": True, "message": "connected to IBM Quantum"},
            "backends": rows, "least_busy": usable[0]["name"] if usable else None}


def get_backend(name: str, *, fake: bool, service=None, min_qubits: int = 1):
    """The named device: its fake backend (offline) or the IBM backend through ``service``.

    ``name="auto"`` (or ``least_busy``) picks the account's operational device with the shortest queue
    and at least ``min_qubits`` qubits; offline, :data:`DEFAULT_FAKE`.

    Raises
    ------
    BackendError
        No fake for the name; no account; or a retired or unknown device, with the devices the account has.
    """
    if fake:
        return fake_backend(name)
    if service is None:
        raise BackendError("a hardware run needs an IBM Quantum account; connect first or use --fake")
    if name in AUTO:
        listing = list_backends(service, min_qubits=min_qubits)
        if listing["least_busy"] is None:
            raise BackendError(f"no operational IBM Quantum device of this account has {min_qubits} qubits; "
                               f"it has: {_names(listing['backends'])}")
        name = listing["least_busy"]
    try:
        return service.backend(name)
    except Exception as exc:  # noqa: BLE001 - retired, misspelt or not in this instance: say what there is
        reason = redact(f"{type(exc).__name__}: {exc}", _service_key(service))
    available = _names(_account_rows(service))
    retired = " (a retired Eagle device)" if name in RETIRED else ""
    raise BackendError(f"IBM Quantum device {name!r}{retired} is not available to this account ({reason}); "
                       f"the account has: {available}. Pick one of those, or --backend auto for the least busy")


def _names(rows: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['name']} ({r['n_qubits']} qubits)" for r in rows) or "no devices"


def budget(service=None) -> dict[str, Any]:
    """QPU seconds left in the account's window (``service.usage()``), or the Open Plan's 600 s offline.

    Returns
    -------
    dict
        ``known`` (read from the account), ``limit_s``, ``used_s``, ``remaining_s`` and ``source``.
    """
    from qser_core.hardware.estimate import OPEN_PLAN_SECONDS

    if service is None:
        return {"known": False, "limit_s": OPEN_PLAN_SECONDS, "used_s": None, "remaining_s": OPEN_PLAN_SECONDS,
                "source": "not connected: the Open Plan's 600 s per 28 days assumed"}
    usage = guarded(service, service.usage, "read the instance's usage") or {}
    limit = usage.get("usage_limit_seconds") or usage.get("usage_allocation_seconds")
    used = float(usage.get("usage_consumed_seconds") or 0.0)
    remaining = usage.get("usage_remaining_seconds")
    if remaining is None and limit is not None:
        remaining = max(float(limit) - used, 0.0)
    return {"known": remaining is not None, "limit_s": None if limit is None else float(limit), "used_s": used,
            "remaining_s": None if remaining is None else float(remaining),
            "source": "the account's usage (service.usage())" if remaining is not None
            else "the account reports no usage limit"}
