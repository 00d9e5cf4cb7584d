"""Tests of qser_core.hardware.backends: fakes offline, the account's devices, retired names, budget, redaction."""

from __future__ import annotations

import pytest

from qser_core.config import QserConfig
from qser_core.errors import BackendError, ConfigError
from qser_core.hardware import backends
from tests.hardware.standins import SECRET, StandInService


class TestOffline:
    def test_default_is_a_heron_fake(self):
        assert backends.fake_backend("auto").name == "fake_fez"
        assert QserConfig().hardware.backend == "auto"

    def test_listing_has_no_queue_and_labels_retired_devices(self, monkeypatch):
        monkeypatch.delenv("QISKIT_IBM_TOKEN", raising=False)
        listing = backends.list_backends(None)
        rows = {r["name"]: r for r in listing["backends"]}
        assert list(rows)[:3] == ["ibm_fez", "ibm_marrakesh", "ibm_torino"] and listing["least_busy"] == "ibm_fez"
        assert all(r["pending_jobs"] is None for r in rows.values())  # a snapshot has no queue
        assert rows["ibm_brisbane"]["retired"] and "retired" in rows["ibm_brisbane"]["status"]
        assert not rows["ibm_fez"]["retired"] and "retired" not in rows["ibm_fez"]["status"]

    def test_unknown_fake(self):
        with pytest.raises(BackendError, match="no offline fake backend for IBM device 'ibm_nowhere'; choose one of"):
            backends.fake_backend("ibm_nowhere")


class TestAccount:
    def test_devices_are_read_from_the_account(self):
        listing = backends.list_backends(StandInService(), min_qubits=8)
        names = [r["name"] for r in listing["backends"]]
        assert set(names) == {"ibm_fez", "ibm_marrakesh", "ibm_torino", "ibm_small"}
        # operational, enough qubits, shortest queue: not torino (maintenance), not the 5-qubit one
        assert listing["least_busy"] == "ibm_marrakesh"

    def test_auto_picks_the_least_busy_device_with_enough_qubits(self):
        assert backends.get_backend("auto", fake=False, service=StandInService(), min_qubits=8).name == "ibm_marrakesh"
        assert backends.get_backend("auto", fake=False, service=StandInService(), min_qubits=2).name == "ibm_small"

    @pytest.mark.parametrize("name, retired", [("ibm_brisbane", True), ("ibm_nowhere", False)])
    def test_retired_or_unknown_name_lists_what_the_account_has(self, name, retired):
        with pytest.raises(BackendError, match=f"device '{name}'" + (r" \(a retired Eagle device\)" if retired else "")
                           + r" is not available .* the account has: .*ibm_marrakesh \(156 qubits\)"):
            backends.get_backend(name, fake=False, service=StandInService())

    def test_budget_is_what_is_left(self):
        budget = backends.budget(StandInService(remaining=123.0))
        assert budget["known"] and budget["remaining_s"] == 123.0 and budget["limit_s"] == 600.0
        assert backends.budget(None)["remaining_s"] == 600.0 and not backends.budget(None)["known"]

    def test_saved_ibm_cloud_account_counts_as_configured(self, monkeypatch, tmp_path):
        from qiskit_ibm_runtime import QiskitRuntimeService
        from qiskit_ibm_runtime.accounts import management

        monkeypatch.delenv("QISKIT_IBM_TOKEN", raising=False)
        monkeypatch.setattr(management, "_DEFAULT_ACCOUNT_CONFIG_JSON_FILE", str(tmp_path / "qiskit-ibm.json"))
        assert not backends.account_configured()
        QiskitRuntimeService.save_account(channel="ibm_cloud", token="x" * 44, instance="crn:v1:bluemix:public:x",
                                          filename=str(tmp_path / "qiskit-ibm.json"))
        assert backends.account_configured()


class TestInstance:
    def test_hub_group_project_is_refused(self):
        with pytest.raises(BackendError, match="instance must be a CRN .*hub/group/project form is retired"):
            backends.check_instance("ibm-q/open/main")
        with pytest.raises(ConfigError, match="hardware.instance must be an IBM Cloud instance CRN"):
            QserConfig().with_overrides(["hardware.instance=ibm-q/open/main"])
        assert QserConfig().with_overrides(["hardware.instance=crn:v1:x"]).hardware.instance == "crn:v1:x"


class TestRedaction:
    def test_service_errors_never_carry_the_key(self, caplog):
        service = StandInService(fail=True)
        for call in (lambda: backends.list_backends(service), lambda: backends.budget(service),
                     lambda: backends.get_backend("ibm_fez", fake=False, service=service)):
            with pytest.raises(BackendError) as info:
                call()
            assert SECRET not in str(info.value) and "[key hidden]" in str(info.value)
        assert SECRET not in caplog.text
