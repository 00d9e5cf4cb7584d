"""Tests of qser_core.hardware.noise: device slices with noise scaled by λ."""

from __future__ import annotations

import pytest

from qser_core.errors import ConfigError
from qser_core.hardware.backends import fake_backend
from qser_core.hardware.noise import device_slice, noisy_simulator, parallel_options


@pytest.fixture(scope="module")
def device():
    return fake_backend("ibm_brisbane")


class TestSlice:
    def test_keeps_the_qubits_calibration(self, device):
        sliced = device_slice(device, [5, 6])
        assert sliced.num_qubits == 2
        assert sliced.target["measure"][(0,)].error == device.target["measure"][(5,)].error
        assert sliced.target.qubit_properties[1].t1 == device.target.qubit_properties[6].t1
        edges = set(sliced.target["ecr"])
        assert edges and edges <= {(0, 1), (1, 0)}

    def test_scaling_multiplies_errors_and_relaxation_rates(self, device):
        base, double = device_slice(device, [5, 6]), device_slice(device, [5, 6], noise_scale=2.0)
        assert double.target["sx"][(0,)].error == pytest.approx(2 * base.target["sx"][(0,)].error)
        assert double.target.qubit_properties[0].t1 == pytest.approx(base.target.qubit_properties[0].t1 / 2)

    def test_zero_scale_is_noiseless(self, device):
        assert noisy_simulator(device, [5, 6], noise_scale=0.0).options.noise_model is None
        assert not noisy_simulator(device, [5, 6], noise_scale=1.0).options.noise_model.is_ideal()

    @pytest.mark.parametrize("bad", [-0.5, float("nan"), "1"])
    def test_bad_scale(self, device, bad):
        with pytest.raises(ConfigError, match="noise scale λ must be a finite number ≥ 0"):
            device_slice(device, [5], noise_scale=bad)


class TestThreads:
    @pytest.mark.parametrize("n_circuits", [1, 2, 1000])
    def test_one_thread_per_circuit_never_more_threads_than_circuits(self, n_circuits):
        options = parallel_options(n_circuits)
        assert options["max_parallel_threads"] == options["max_parallel_experiments"] <= n_circuits
        assert options["max_parallel_shots"] == 1
        assert parallel_options(1)["max_parallel_threads"] == 1  # no OpenMP inside a lone circuit

    def test_circuits_side_by_side_give_the_same_counts(self, device, monkeypatch):
        import numpy as np

        from qser_core.hardware import noise
        from qser_core.hardware.circuit import export_circuit, transpile_for
        from qser_core.hardware.execute import expectations, local_target, submit, wait
        from qser_core.heads.circuits import CircuitSpec

        spec = CircuitSpec(3, 1, encoding="angle-ry", ansatz="strong")
        isa = transpile_for(export_circuit(np.ones(spec.weight_shape), spec=spec), device)
        angles = np.random.default_rng(2).uniform(0, np.pi, (8, 3))

        def run():
            execution = submit(isa, angles, target=local_target(isa, device, seed=4), shots=256, seed=4)
            return expectations(wait(execution), primitive="estimator", layout=execution.layout)

        side_by_side = run()
        monkeypatch.setattr(noise, "parallel_options", lambda n: {"max_parallel_threads": 1,
                                                                  "max_parallel_experiments": 1,
                                                                  "max_parallel_shots": 1})
        assert np.array_equal(side_by_side, run())  # seeds are per circuit: threads change nothing
