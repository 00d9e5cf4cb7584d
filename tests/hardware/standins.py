"""Stand-in IBM Quantum service objects: the real ``QiskitRuntimeService`` needs the network, these do not.

They copy only what qser calls (``backends``, ``backend``, ``usage``, ``job``) and keep the key where the
real service keeps it (``service._account.token``), so the key redaction is tested as it runs.
"""

from __future__ import annotations

from types import SimpleNamespace

SECRET = "qser-test-key-7f3a9c1e5b"


class StandInBackend:
    def __init__(self, name: str, n_qubits: int, pending: int, operational: bool = True) -> None:
        self.name, self.num_qubits = name, n_qubits
        self._status = SimpleNamespace(pending_jobs=pending, operational=operational,
                                       status_msg="active" if operational else "maintenance")

    def status(self):
        return self._status

    def __getattr__(self, name):  # target, properties, ...: the device's calibration snapshot, where one exists
        if name.startswith("_"):
            raise AttributeError(name)
        from qser_core.hardware.backends import FAKE_BACKENDS, fake_backend

        if self.name not in FAKE_BACKENDS:
            raise AttributeError(name)
        return getattr(fake_backend(self.name), name)


class StandInService:
    """An account with a few Heron devices; ``fail=True`` makes every call raise with the key in its text."""

    def __init__(self, *, fail: bool = False, remaining: float = 420.0) -> None:
        self._account = SimpleNamespace(token=SECRET)
        self.fail, self.remaining = fail, remaining
        self.devices = [StandInBackend("ibm_fez", 156, 40), StandInBackend("ibm_marrakesh", 156, 3),
                        StandInBackend("ibm_torino", 133, 1, operational=False),
                        StandInBackend("ibm_small", 2, 0)]

    def _raise(self):
        raise RuntimeError(f"401 Unauthorized: token {SECRET} is not valid")

    def backends(self, simulator=False):
        if self.fail:
            self._raise()
        return list(self.devices)

    def backend(self, name):
        if self.fail:
            self._raise()
        for device in self.devices:
            if device.name == name:
                return device
        raise KeyError(f"QiskitBackendNotFoundError: No backend matches the criteria ({name})")

    def usage(self):
        if self.fail:
            self._raise()
        return {"usage_limit_seconds": 600, "usage_consumed_seconds": 600 - self.remaining,
                "usage_remaining_seconds": self.remaining}

    def job(self, job_id):
        self._raise()


def record_hardware_job(job_id: str, instance: str | None = "crn:v1:bluemix:public:quantum-computing:us-east:a/1:2::"):
    """A recorded, unfinished hardware job (as dispatch writes it at submit), without a device."""
    from qser_core.config import QserConfig
    from qser_core.hardware import records
    from qser_core.tracking.recorder import track_run

    record = {"job_id": job_id, "backend": "ibm_fez", "local": False, "target": "hardware", "primitive": "sampler",
              "submitted": "2026-12-06T01:00:00Z", "shots": 128, "noise_scale": None, "instance": instance,
              "model": {"n_qubits": 3, "n_layers": 1, "ansatz": "strong", "run_id": "r" * 32}}
    tags = {"qser.backend": "ibm_fez", "qser.target": "hardware", "qser.hardware_kind": "run"}
    with track_run(QserConfig(), run_type="hardware", tags=tags) as recorder:
        records.add_job(recorder, record, [])
    return record
