"""Tests of qser_core.hardware.execute: one primitive job per evaluation set, through the real primitives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qser_core.errors import BackendError, ConfigError
from qser_core.hardware.backends import fake_backend
from qser_core.hardware.circuit import export_circuit, transpile_for
from qser_core.hardware.execute import Mitigation, expectations, local_target, submit, wait
from qser_core.heads.circuits import CircuitSpec
from qser_core.heads.simulator import TorchStatevector

N_QUBITS, N_LAYERS, SHOTS = 3, 1, 2048


@pytest.fixture(scope="module")
def setup():
    spec = CircuitSpec(N_QUBITS, N_LAYERS, encoding="angle-ry", ansatz="strong")
    weights = np.random.default_rng(0).uniform(0, 2 * np.pi, spec.weight_shape)
    hc = export_circuit(weights, spec=spec)
    device = fake_backend("ibm_brisbane")
    angles = np.random.default_rng(1).uniform(0, np.pi, (6, N_QUBITS))
    exact = TorchStatevector(spec, dtype=torch.complex128)(torch.tensor(angles), torch.tensor(weights)).numpy()
    return transpile_for(hc, device), device, angles, exact


def _count_runs(monkeypatch, cls):
    """Count calls of the real ``cls.run`` (spying only: the real method still runs)."""
    calls = []
    real = cls.run

    def counting(self, *args, **kwargs):
        calls.append(len(args[0]) if args else len(kwargs.get("pubs", [])))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(cls, "run", counting)
    return calls


class TestOneJob:
    @pytest.mark.parametrize("primitive", ["estimator", "sampler"])
    def test_whole_set_is_one_job_of_one_pub(self, setup, monkeypatch, primitive):
        from qiskit_ibm_runtime import EstimatorV2, SamplerV2

        isa, device, angles, _ = setup
        calls = _count_runs(monkeypatch, EstimatorV2 if primitive == "estimator" else SamplerV2)
        target = local_target(isa, device, noise_scale=1.0, seed=3)
        execution = submit(isa, angles, target=target, shots=64, primitive=primitive, seed=3)
        values = expectations(wait(execution), primitive=primitive, layout=execution.layout)
        assert calls == [1]  # one run call carrying one PUB
        assert values.shape == (len(angles), N_QUBITS) and np.all(np.abs(values) <= 1)


class TestNoiseless:
    @pytest.mark.parametrize("primitive", ["estimator", "sampler"])
    def test_agrees_with_torch_simulator_within_shot_noise(self, setup, primitive):
        isa, device, angles, exact = setup
        target = local_target(isa, device, noise_scale=0.0, seed=5)
        execution = submit(isa, angles, target=target, shots=SHOTS, primitive=primitive, seed=5)
        values = expectations(wait(execution), primitive=primitive, layout=execution.layout)
        sigma = np.sqrt((1 - exact ** 2) / SHOTS)  # binomial standard error of each ⟨Z⟩
        assert np.all(np.abs(values - exact) <= 5 * sigma + 1e-9)

    def test_device_noise_shrinks_expectations(self, setup):
        isa, device, angles, exact = setup
        target = local_target(isa, device, noise_scale=2.0, seed=5)
        execution = submit(isa, angles, target=target, shots=SHOTS, seed=5)
        values = expectations(wait(execution), primitive="estimator", layout=execution.layout)
        assert np.abs(values).mean() < np.abs(exact).mean()


class TestInputs:
    def test_wrong_angle_shape(self, setup):
        isa, device, _, _ = setup
        with pytest.raises(BackendError, match=r"angles must have shape \(n_clips, 3\)"):
            submit(isa, np.zeros((4, 2)), target=local_target(isa, device), shots=16)

    def test_bad_shots(self, setup):
        isa, device, angles, _ = setup
        with pytest.raises(ConfigError, match="shots must be an integer between 1 and 100000; got 0"):
            submit(isa, angles, target=local_target(isa, device), shots=0)

    def test_bad_resilience_level(self):
        with pytest.raises(ConfigError, match="resilience level must be 0, 1 or 2; got 3"):
            Mitigation(resilience_level=3)

    def test_mitigation_recorded_not_applied_offline(self, setup):
        isa, device, angles, _ = setup
        execution = submit(isa, angles[:2], target=local_target(isa, device), shots=16,
                           mitigation=Mitigation(resilience_level=2, dynamical_decoupling=True))
        assert execution.mitigation["resilience_level"] == 2 and execution.mitigation["applied"] is False


def _measured_qubits(circuit) -> list[int]:
    return [circuit.find_bit(inst.qubits[0]).index for inst in circuit.data if inst.operation.name == "measure"]


def _properties_with_faulty(device, qubit: int):
    """The device's real calibration with one qubit reported not operational (as IBM reports a faulty qubit)."""
    from qiskit_ibm_runtime.models import BackendProperties

    data = device.properties().to_dict()
    data["qubits"][qubit].append({"date": data["last_update_date"], "name": "operational", "unit": "", "value": 0})
    return BackendProperties.from_dict(data)


class TestSamplerMeasurement:
    def test_only_the_layout_is_measured_into_n_bits(self, setup):
        from qser_core.hardware.execute import measured_circuit

        isa = setup[0]
        measured = measured_circuit(isa.circuit, isa.layout)
        assert _measured_qubits(measured) == isa.layout  # bit j <- logical qubit j
        assert [reg.name for reg in measured.cregs] == ["meas"] and measured.num_clbits == N_QUBITS

    def test_runtime_faulty_qubit_check_passes_outside_the_layout(self, setup):
        from qiskit_ibm_runtime import IBMBackend

        from qser_core.hardware.execute import measured_circuit

        isa, device = setup[0], setup[1]
        faulty = next(q for q in range(device.num_qubits) if q not in isa.layout)
        standin = type("StandInBackend", (), {"properties": lambda self: _properties_with_faulty(device, faulty)})()
        IBMBackend.check_faulty(standin, measured_circuit(isa.circuit, isa.layout))  # what the runtime calls
        everything = isa.circuit.copy()
        everything.measure_all()  # the old path: every device qubit measured
        with pytest.raises(ValueError, match=f"faulty qubit {faulty}"):
            IBMBackend.check_faulty(standin, everything)

    def test_offline_job_runs_the_hardware_circuit_renumbered(self, setup):
        from qser_core.hardware import noise
        from qser_core.hardware.execute import measured_circuit

        isa, device = setup[0], setup[1]
        target = local_target(isa, device)
        qubits = noise.active_qubits(isa.circuit)
        assert target.measured == noise.compact_circuit(measured_circuit(isa.circuit, isa.layout), qubits)
        assert _measured_qubits(target.measured) == target.layout

    @pytest.mark.slow
    def test_hardware_path_submits_the_layout_only_circuit(self, setup, monkeypatch):
        # the device itself as the mode (local testing mode of the runtime): the code path of a real job
        from qiskit_ibm_runtime import SamplerV2

        isa, device, angles, exact = setup
        sent = []
        real = SamplerV2.run

        def spy(self, pubs, *args, **kwargs):
            sent.extend(pubs)
            return real(self, pubs, *args, **kwargs)

        monkeypatch.setattr(SamplerV2, "run", spy)
        # the hardware path sets dynamical decoupling for the real device; local testing mode says it ignores it
        with pytest.warns(UserWarning, match="have no effect in local testing mode"):
            execution = submit(isa, angles[:2], target=device, shots=256, primitive="sampler", max_execution_time=10)
        assert execution.max_execution_time == 10 and execution.measured_qubits == isa.layout
        assert _measured_qubits(sent[0][0]) == isa.layout
        values = expectations(wait(execution), primitive="sampler", layout=execution.layout)
        assert values.shape == (2, N_QUBITS) and np.all(np.abs(values) <= 1)

    def test_a_hardware_job_needs_a_time_limit(self, setup):
        isa, device, angles, _ = setup
        with pytest.raises(ConfigError, match="needs max_execution_time"):
            submit(isa, angles, target=device, shots=16)
