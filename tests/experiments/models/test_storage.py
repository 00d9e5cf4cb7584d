"""Tests of qser_core.experiments.models.storage: saved models without pickle, every file checked on load."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from qser_core.config import QserConfig
from qser_core.errors import DataError
from qser_core.experiments.models.trained import TrainedModel
from qser_core.features.reduce import QubitReducer
from qser_core.heads.classical import ClassicalHead
from qser_core.heads.quantum import QuantumHead


def _model(head):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((60, 16)), np.arange(60) % 6
    reducer = QubitReducer(n_components=4).fit(X)
    head.fit(reducer.transform(X), y)
    config = QserConfig().with_overrides(["reduce.n_qubits=4"])
    return TrainedModel(config=config, reducer=reducer, head=head, metrics={"ua": 0.25}), X


@pytest.fixture
def saved(tmp_path):
    model, X = _model(QuantumHead(n_layers=1, ansatz="hea", epochs=2))
    return model.save(tmp_path / "model"), model, X


class TestRoundTrip:
    @pytest.mark.parametrize("head", [QuantumHead(n_layers=1, ansatz="strong", epochs=2),
                                      ClassicalHead("mlp", epochs=2), ClassicalHead("logreg", epochs=2)],
                             ids=["quantum", "mlp", "logreg"])
    def test_same_predictions_after_load(self, tmp_path, head):
        model, X = _model(head)
        loaded = TrainedModel.load(model.save(tmp_path / "m"))
        # the saved reducer is the fitted steps folded into one affine map: the same angles up to rounding
        np.testing.assert_allclose(loaded.reducer.transform(X), model.reducer.transform(X), rtol=0, atol=1e-9)
        A = model.reducer.transform(X)
        np.testing.assert_array_equal(loaded.head.predict_proba(A), model.head.predict_proba(A))
        assert loaded.config == model.config and loaded.metrics == {"ua": 0.25}
        assert loaded.head.n_params_ == model.head.n_params_
        assert loaded.head.history_.best_epoch == model.head.history_.best_epoch

    def test_folder_holds_no_pickle(self, saved):
        folder, _, _ = saved
        assert sorted(p.name for p in folder.iterdir()) == ["config.toml", "head.pt", "manifest.json",
                                                            "metrics.json", "reducer.npz"]
        with np.load(folder / "reducer.npz", allow_pickle=False) as npz:  # plain arrays only
            assert {"W", "b", "explained_variance_ratio_"} <= set(npz.files)
        import torch

        assert set(torch.load(folder / "head.pt", weights_only=True)) >= {"weights", "readout.weight"}


class TestIntegrity:
    @pytest.mark.parametrize("name", ["head.pt", "reducer.npz", "config.toml", "metrics.json"])
    def test_bit_flip_is_refused(self, saved, name):
        folder = saved[0]
        data = bytearray((folder / name).read_bytes())
        data[len(data) // 2] ^= 0x01
        (folder / name).write_bytes(bytes(data))
        with pytest.raises(DataError, match=rf"file {name} of model folder .* was changed or damaged"):
            TrainedModel.load(folder)

    def test_truncated_weights(self, saved):
        folder = saved[0]
        (folder / "head.pt").write_bytes((folder / "head.pt").read_bytes()[:100])
        with pytest.raises(DataError, match="file head.pt of model folder .* was changed or damaged"):
            TrainedModel.load(folder)

    def test_edited_config_changes_nothing_silently(self, saved):
        folder = saved[0]
        text = (folder / "config.toml").read_text().replace("n_layers = 2", "n_layers = 3")
        (folder / "config.toml").write_text(text)
        with pytest.raises(DataError, match="config.toml of model folder"):
            TrainedModel.load(folder)

    def test_missing_file_and_damaged_manifest(self, saved):
        folder = saved[0]
        (folder / "metrics.json").unlink()
        with pytest.raises(DataError, match="file metrics.json of model folder .* is missing"):
            TrainedModel.load(folder)
        (folder / "manifest.json").write_text("{not json")
        with pytest.raises(DataError, match="manifest.json of model folder .* is damaged"):
            TrainedModel.load(folder)

    def test_old_pickle_model_is_not_unpickled(self, tmp_path):
        folder = tmp_path / "old"
        folder.mkdir()
        marker = tmp_path / "pwned"

        class Payload:  # what a hostile model.joblib could hold
            def __reduce__(self):
                return (open, (str(marker), "w"))

        (folder / "model.joblib").write_bytes(pickle.dumps(Payload()))
        (folder / "config.toml").write_text(QserConfig().to_toml())
        with pytest.raises(DataError, match="old pickle format .*not loaded"):
            TrainedModel.load(folder)
        assert not marker.exists()

    def test_not_a_model_folder(self, tmp_path):
        with pytest.raises(DataError, match="holds no saved model"):
            TrainedModel.load(tmp_path)

    def test_resave_replaces_files_and_manifest(self, saved):
        folder, model, _ = saved
        model.metrics = {"ua": 0.5}
        model.save(folder)
        assert TrainedModel.load(folder).metrics == {"ua": 0.5}
        assert json.loads((folder / "manifest.json").read_text())["format"] == "qser-model/3"


class TestManifestProtected:
    """manifest.json holds the head's class and parameters: an edit to it would change predictions silently."""

    @pytest.mark.parametrize(("old", "new"), [
        ('"encoding": "angle-ry"', '"encoding": "angle-rx"'),  # the one-byte edit
        ('"n_layers": 1', '"n_layers": 2'),
        ('"format": "qser-model/3"', '"format": "qser-model/4"'),
    ], ids=["encoding", "layers", "format"])
    def test_any_edit_is_refused_naming_the_manifest(self, saved, old, new):
        folder = saved[0]
        text = (folder / "manifest.json").read_text()
        assert old in text
        (folder / "manifest.json").write_text(text.replace(old, new))
        with pytest.raises(DataError, match=r"manifest\.json of model folder .* was changed or damaged"):
            TrainedModel.load(folder)

    def test_edited_digest_is_refused(self, saved):
        folder = saved[0]
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["digest"] = ("0" if manifest["digest"][0] != "0" else "1") + manifest["digest"][1:]
        (folder / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(DataError, match=r"manifest\.json .* was changed or damaged"):
            TrainedModel.load(folder)

    def test_reformatted_manifest_still_loads(self, saved):
        folder = saved[0]  # spacing and key order carry no meaning: the digest is of canonical JSON
        manifest = json.loads((folder / "manifest.json").read_text())
        (folder / "manifest.json").write_text(json.dumps(dict(reversed(list(manifest.items()))), indent=4))
        assert TrainedModel.load(folder).metrics == {"ua": 0.25}

    def test_older_format_without_digest_is_refused(self, saved):
        folder = saved[0]
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["format"] = "qser-model/2"
        del manifest["digest"]
        (folder / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(DataError, match="older version of the lab .*train it again"):
            TrainedModel.load(folder)


def _tmpfs(path):
    """A 64 KiB tmpfs at ``path`` (a full disk); skipped where mounting is not allowed."""
    import subprocess

    path.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(path)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    return path


class TestFullDisk:
    def test_failed_save_leaves_no_temporary_file(self, saved, tmp_path):
        import errno
        import subprocess

        model = saved[1]
        disk = _tmpfs(tmp_path / "full")
        (disk / "model").mkdir()
        try:
            with pytest.raises(OSError), open(disk / "filler", "wb") as fh:  # fill the disk to the last block
                fh.write(b"\0" * 200_000)
            with pytest.raises(OSError) as info:
                model.save(disk / "model")
            assert info.value.errno == errno.ENOSPC
            assert not [p.name for p in (disk / "model").iterdir() if p.name.endswith(".tmp")]
            assert not (disk / "model" / "manifest.json").exists()  # a cut-off save is not a loadable model
        finally:
            subprocess.run(["umount", str(disk)], check=False)


class TestPredictRefusesNoSound:
    @pytest.mark.parametrize(("y", "message"), [
        (np.full(16000, 0.2, np.float32), "the recording is a constant signal"),
        (0.3 * np.sin(np.arange(16, dtype=np.float32)), r"the recording is 0.001 s long; at least MIN_SECONDS"),
        (np.zeros(16000, np.float32), "the recording is silent"),
    ], ids=["dc", "1ms", "silent"])
    def test_no_confident_prediction_without_sound(self, saved, y, message):
        from qser_core.errors import AudioError

        with pytest.raises(AudioError, match=message):
            saved[1].predict_proba(y)
