"""The Hardware page's panel logic (app_support/hardware_panels.py): partners of a head, the offline noise that
stands in for a device, the comparison table and figures."""

from __future__ import annotations

import pytest

from app_support import hardware_panels as hp
from app_support import plots
from qser_core.config import QserConfig
from qser_core.errors import DataError

BASE = QserConfig().with_overrides(["reduce.n_qubits=3", "head.n_layers=1"])
AWARE = BASE.replace("head", noise_aware=True, noise_backend="ibm_torino")


class TestPartners:
    def test_the_partner_is_trained_the_other_way_on_the_same_split(self):
        assert hp.role(BASE) == ("ideal", "noise_aware") and hp.role(AWARE) == ("noise_aware", "ideal")
        hp.check_partner(BASE, AWARE)
        hp.check_partner(AWARE, BASE)
        assert hp.same_head(BASE, AWARE)  # the noise fields are how it was trained, not which head
        assert not hp.same_head(BASE, AWARE.replace("head", n_layers=2))
        with pytest.raises(DataError, match="trained the same way"):
            hp.check_partner(BASE, BASE.replace("head", n_layers=2))
        with pytest.raises(DataError, match="data.split_seed: 0 vs 1"):
            hp.check_partner(BASE, AWARE.replace("data", split_seed=1))
        with pytest.raises(DataError, match="logreg head"):
            hp.check_partner(BASE, BASE.replace("head", kind="logreg"))
        hp.check_partner(BASE, AWARE.replace("data", n_folds=3))  # folds do not change the single split's test clips

    def test_train_command_repeats_the_head_and_flips_the_training(self):
        line = hp.train_command(AWARE.replace("data", split_seed=4), "ideal")
        assert line == ("qser train --set data.split_seed=4 --set reduce.n_qubits=3 --set head.n_layers=1 "
                        "--set head.noise_aware=false")


class TestOfflineNoise:
    def test_a_device_without_a_fake_borrows_the_closest_current_one(self):
        assert hp.offline_noise("ibm_torino")[0] == "ibm_torino"
        name, note = hp.offline_noise("ibm_kingston", 156)
        assert name in ("ibm_fez", "ibm_marrakesh") and "ibm_kingston has no fake backend" in note
        assert hp.offline_noise("ibm_newdevice", 127)[0] not in ("ibm_brisbane", "ibm_sherbrooke", "ibm_kyiv")
        assert hp.offline_noise("ibm_newdevice")[0] == "ibm_fez"


POINT = {"ua": 0.4, "ua_ci95": [0.3, 0.5], "agreement": 0.75}
RESULT = {"backend": "ibm_fez", "jobs": 2, "n_test": 6, "shots": 64, "recalibrate": 4,
          "ideal": {"ideal": {"ua": 0.45}, "noise_aware": {"ua": 0.42}},
          "points": [{"noise_scale": 1.0, "ideal": {**POINT, "recalibrated": {"ua": 0.41, "ua_ci95": [0.2, 0.6]}},
                      "noise_aware": {**POINT, "ua": 0.35},
                      "paired": {"ua_diff": -0.05, "ua_diff_ci95": [-0.2, 0.1], "p_value": 0.61234,
                                 "mcnemar": {"p_value": 1.0}}}]}


class TestComparisonDisplay:
    def test_one_row_per_lambda_with_the_paired_difference(self):
        row = hp.comparison_frame(RESULT).iloc[0]
        assert row["noise-aware − ideal [95%]"] == "-0.050 [-0.200, +0.100]" and row["p (paired bootstrap)"] == 0.6123
        assert row["ideal-trained recalibrated UA [95%]"] == "0.410 [0.200, 0.600]"
        assert row["noise-aware recalibrated UA [95%]"] == "—"  # not in the result: shown as missing

    def test_two_curves_with_intervals_and_each_heads_exact_ua(self):
        fig = plots.noise_aware_curves(RESULT)
        assert [t.name for t in fig.data] == ["ideal-trained", "noise-aware"]
        assert list(fig.data[1].error_y.arrayminus) == pytest.approx([0.05])  # 0.35 - 0.3
        assert [line.y0 for line in fig.layout.shapes] == [0.45, 0.42]

    def test_shots_figure_marks_target_band_and_recommendation(self):
        advice = {"backend": "ibm_fez", "noise_scale": 1.0, "jobs": 2, "target": 0.95,
                  "ideal": {"ua": 0.4, "ua_ci95": [0.3, 0.5]}, "recommendation": {"shots": 256},
                  "points": [{"shots": 64, "ua": 0.2, "ua_ci95": [0.1, 0.3], "agreement": 0.8},
                             {"shots": 256, "ua": 0.4, "ua_ci95": [0.3, 0.5], "agreement": 0.97}]}
        fig = plots.shots_advice(advice)
        assert [t.name for t in fig.data] == ["agreement with ideal", "UA", "recommended: 256"]
        assert fig.data[2].y == (0.97,) and fig.layout.xaxis.type == "log"
        band, target = fig.layout.shapes
        assert (band.y0, band.y1) == (0.3, 0.5) and target.y0 == 0.95
