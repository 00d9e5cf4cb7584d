"""Tests of qser_core.hardware.readout: mthree (M3) readout mitigation of the Sampler path on a fake backend."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from qser_core.errors import BackendError, ConfigError
from qser_core.hardware.backends import fake_backend
from qser_core.hardware.circuit import export_circuit, transpile_for
from qser_core.hardware.execute import Mitigation, expectations, local_target, submit, wait
from qser_core.hardware.readout import (CALIBRATION_SHOTS, assignment_matrices, calibration_circuits,
                                        calibration_plan, calibration_pubs, mitigated_expectations)
from qser_core.heads.circuits import CircuitSpec
from qser_core.heads.simulator import TorchStatevector

N_QUBITS, SHOTS, NOISE = 3, 4096, 2.0  # λ = 2: readout errors of 1-3 % on these qubits, well above shot noise


@pytest.fixture(scope="module")
def setup():
    spec = CircuitSpec(N_QUBITS, 1, encoding="angle-ry", ansatz="strong")
    weights = np.random.default_rng(0).uniform(0, 2 * np.pi, spec.weight_shape)
    device = fake_backend("ibm_brisbane")
    isa = transpile_for(export_circuit(weights, spec=spec), device)
    angles = np.random.default_rng(1).uniform(0, np.pi, (12, N_QUBITS))
    exact = TorchStatevector(spec, dtype=torch.complex128)(torch.tensor(angles), torch.tensor(weights)).numpy()
    return isa, device, angles, exact


def _run(setup, readout: str, seed: int = 5):
    isa, device, angles, _ = setup
    target = local_target(isa, device, noise_scale=NOISE, seed=seed)
    execution = submit(isa, angles, target=target, shots=SHOTS, primitive="sampler", seed=seed,
                       mitigation=Mitigation(readout=readout))
    return execution, wait(execution)


class TestCalibration:
    def test_balanced_plan_prepares_every_qubit_in_both_states(self):
        plan = calibration_plan(N_QUBITS, shots=1024)
        strings = np.asarray(plan["strings"])
        assert plan["method"] == "balanced" and strings.shape[1] == N_QUBITS
        assert np.all(strings.mean(axis=0) == 0.5)  # each qubit: 0 in half the circuits, 1 in the other half
        # the job's one shot count: strings repeated until M3's calibration shots are reached
        assert plan["shots"] == 1024 and calibration_circuits(plan) * 1024 >= CALIBRATION_SHOTS

    def test_one_stochastic_matrix_per_logical_qubit(self, setup):
        from qiskit_ibm_runtime import SamplerV2

        isa, device, _, _ = setup
        target = local_target(isa, device, noise_scale=NOISE, seed=1)
        plan = calibration_plan(N_QUBITS, shots=4000)
        pubs = calibration_pubs(target.circuit.num_qubits, target.layout, plan)
        assert set(pubs[0][0].count_ops()) <= {"x", "measure"}  # ISA as it is: nothing to transpile
        result = SamplerV2(mode=target.mode, options={"simulator": {"seed_simulator": 1}}).run(pubs).result()
        prepared = [string for string in plan["strings"] for _ in range(plan["repeats"])]
        matrices = np.asarray(assignment_matrices([pub.data.c for pub in result], prepared))
        assert matrices.shape == (N_QUBITS, 2, 2)
        assert np.allclose(matrices.sum(axis=1), 1.0, atol=1e-6)  # columns: prepared state
        assert np.all(np.diagonal(matrices, axis1=1, axis2=2) > 0.9)
        assert np.any(np.diagonal(matrices, axis1=1, axis2=2) < 1.0)  # the device's readout errors are seen

    def test_result_without_the_calibration_circuits(self):
        with pytest.raises(BackendError, match="returned 0 readout calibration results for 4 calibration circuits"):
            assignment_matrices([], calibration_plan(N_QUBITS, shots=64)["strings"])


class TestMitigation:
    @pytest.mark.parametrize("seed", [5, 6])
    def test_moves_noisy_expectations_toward_ideal(self, setup, seed):
        exact = setup[3]
        raw, raw_result = _run(setup, "none", seed)
        mitigated, result = _run(setup, "mthree", seed)
        z_raw = expectations(raw_result, primitive="sampler", layout=raw.layout, mitigation=raw.mitigation)
        z_m3 = expectations(result, primitive="sampler", layout=mitigated.layout, mitigation=mitigated.mitigation)
        assert np.abs(z_m3 - exact).mean() < np.abs(z_raw - exact).mean()
        assert np.abs(z_m3).mean() > np.abs(z_raw).mean()  # readout errors shrink ⟨Z⟩; M3 restores part of it

    def test_calibration_rides_in_the_same_job(self, setup):
        execution, result = _run(setup, "mthree")
        plan = execution.mitigation["readout_calibration"]
        assert len(result) == 1 + calibration_circuits(plan)
        assert "matrices" not in plan  # measured by the job itself: nothing was waited for before it was sent
        expectations(result, primitive="sampler", layout=execution.layout, mitigation=execution.mitigation)
        assert np.asarray(plan["matrices"]).shape == (N_QUBITS, 2, 2)  # kept with the result

    def test_every_pub_of_the_job_has_the_same_shots(self, setup):
        # qiskit-ibm-runtime >= 0.50's client-side primitives refuse mixed shot counts in one job
        execution, result = _run(setup, "mthree")
        shots = {result[0].data.meas.num_shots} | {pub.data.c.num_shots for pub in list(result)[1:]}
        assert shots == {SHOTS} and result[0].data.meas.num_bits == N_QUBITS

    def test_recorded_calibration_corrects_the_result_again(self, setup):
        execution, result = _run(setup, "mthree")
        record = json.loads(json.dumps(execution.mitigation))  # what a job record stores and fetch reads back
        assert record["readout"] == "mthree" and record["readout_applied"] is True
        again = expectations(result, primitive="sampler", layout=execution.layout, mitigation=record)
        first = expectations(result, primitive="sampler", layout=execution.layout, mitigation=execution.mitigation)
        assert np.array_equal(again, first)


class TestInputs:
    def test_estimator_path_is_refused(self, setup):
        isa, device, angles, _ = setup
        with pytest.raises(ConfigError, match="corrects the Sampler's bit strings; use the sampler primitive"):
            submit(isa, angles, target=local_target(isa, device), shots=16, mitigation=Mitigation(readout="mthree"))

    def test_unknown_method(self):
        with pytest.raises(ConfigError, match="readout mitigation must be one of none, mthree; got 'trex'"):
            Mitigation(readout="trex")

    def test_calibration_of_the_wrong_size(self, setup):
        execution, result = _run(setup, "none")
        bad = {"matrices": [[[1.0, 0.0], [0.0, 1.0]]]}
        with pytest.raises(BackendError, match=r"one 2×2 matrix per circuit qubit \(3\); got 1"):
            mitigated_expectations(result[0].data.meas, execution.layout, bad)
