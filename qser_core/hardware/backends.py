"""IBM Quantum account and backends, and the offline fake backends that stand in for them.

``qser hardware backends`` lists what :func:`list_backends` returns.

The account is ``QiskitRuntimeService(channel="ibm_quantum_platform")`` with, in this order, a key
passed in memory (the dashboard's password field), ``QISKIT_IBM_TOKEN`` / ``QISKIT_IBM_INSTANCE``
(the instance CRN) from the environment, or the account saved with
``QiskitRuntimeService.save_account``. The key is never printed, logged, cached or put in an error:
messages from a failed login are scrubbed of it before they are raised, and nothing here keeps it
beyond the service object.

Offline, the fake backends of ``qiskit_ibm_runtime.fake_provider`` (calibration snapshots of real
devices) answer the same questions, and every listing says plainly whether an account was used.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from qser_core.errors import BackendError
from qser_core.heads.export import FAKE_BACKENDS
from qser_core.heads.export import fake_backend as _export_fake_backend

__all__ = ["FAKE_BACKENDS", "CHANNEL", "fake_backend", "connect", "account_configured", "list_backends",
           "get_backend", "redact"]

CHANNEL = "ibm_quantum_platform"
_log = logging.getLogger(__name__)


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` replaced (keys must never reach a message)."""
    text = str(text)
    if secret and len(secret) >= 4:
        text = text.replace(secret, "[key hidden]")
    return text


def fake_backend(name: str = "ibm_brisbane"):
    """The offline fake backend (real calibration snapshot) of an IBM device.

    Raises
    ------
    BackendError
        For a device without a fake backend here.

    Examples
    --------
    >>> fake_backend("ibm_torino").num_qubits
    133
    """
    name = name if name.startswith("ibm_") else f"ibm_{name.removeprefix('fake_')}"
    return _export_fake_backend(name)


def account_configured(token: str | None = None) -> bool:
    """Whether a key is at hand: passed, in ``QISKIT_IBM_TOKEN``, or saved with ``save_account``."""
    if token or os.environ.get("QISKIT_IBM_TOKEN"):
        return True
    try:
        from qiskit_ibm_runtime.accounts import AccountManager

        return bool(AccountManager.list(channel=CHANNEL))
    except Exception:  # noqa: BLE001 - an unreadable account file means: no usable account
        return False


def connect(*, token: str | None = None, instance: str | None = None):
    """Log in to IBM Quantum (``ibm_quantum_platform`` channel).

    Parameters
    ----------
    token : str, optional
        An API key held in memory; else ``QISKIT_IBM_TOKEN``, else the saved account.
    instance : str, optional
        Instance CRN; else ``QISKIT_IBM_INSTANCE``, else the account's default.

    Returns
    -------
    qiskit_ibm_runtime.QiskitRuntimeService

    Raises
    ------
    BackendError
        No account configured, or the login failed (the message never contains the key).
    """
    token = token or os.environ.get("QISKIT_IBM_TOKEN") or None
    instance = instance or os.environ.get("QISKIT_IBM_INSTANCE") or None
    if not account_configured(token):
        raise BackendError("no IBM Quantum account is configured: set QISKIT_IBM_TOKEN (and QISKIT_IBM_INSTANCE "
                           "for the instance CRN), save one with QiskitRuntimeService.save_account, or type a key "
                           "on the Hardware page; or use --fake for the offline fake backends")
    from qiskit_ibm_runtime import QiskitRuntimeService

    kwargs: dict[str, Any] = {"channel": CHANNEL}
    if token:
        kwargs["token"] = token
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
    return {"name": name, "n_qubits": int(device.num_qubits), "pending_jobs": 0, "operational": True,
            "status": "offline calibration snapshot", "fake": True}


def list_backends(service=None) -> dict[str, Any]:
    """Backends the account can use (or the fake ones), with qubits, queue and status.

    Parameters
    ----------
    service : QiskitRuntimeService, optional
        A logged-in service; without one the fake backends are listed.

    Returns
    -------
    dict
        ``account`` (``configured``, ``connected``, ``message``), ``backends`` (list of ``name``,
        ``n_qubits``, ``pending_jobs``, ``operational``, ``status``, ``fake``) and ``least_busy``.
    """
    if service is None:
        rows = [_fake_row(name) for name in FAKE_BACKENDS]
        message = ("no IBM Quantum account is configured; listing offline fake backends" if not account_configured()
                   else "not connected to IBM Quantum; listing offline fake backends")
        return {"account": {"configured": account_configured(), "connected": False, "message": message},
                "backends": rows, "least_busy": None}
    rows = []
    try:
        for backend in service.backends(simulator=False):
            status = backend.status()
            rows.append({"name": backend.name, "n_qubits": int(backend.num_qubits),
                         "pending_jobs": int(status.pending_jobs), "operational": bool(status.operational),
                         "status": status.status_msg, "fake": False})
        least = service.least_busy(simulator=False, operational=True).name if rows else None
    except Exception as exc:  # noqa: BLE001
        raise BackendError(f"could not list IBM Quantum backends: {type(exc).__name__}: {exc}") from None
    return {"account": {"configured": True, "connected": True, "message": "connected to IBM Quantum"},
            "backends": sorted(rows, key=lambda r: r["pending_jobs"]), "least_busy": least}


def get_backend(name: str, *, fake: bool, service=None):
    """The named device: its fake backend (offline) or the IBM backend through ``service``.

    ``name="least_busy"`` picks the operational device with the shortest queue.
    """
    if fake:
        return fake_backend(name)
    if service is None:
        raise BackendError("a hardware run needs an IBM Quantum account; connect first or use --fake")
    try:
        if name in ("least_busy", "least-busy"):
            return service.least_busy(simulator=False, operational=True)
        return service.backend(name)
    except Exception as exc:  # noqa: BLE001
        raise BackendError(f"IBM Quantum backend {name!r} is not available to this account: {exc}") from None
