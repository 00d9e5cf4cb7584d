"""Tests of qser_core.experiments.models.hybrid_network (the model) and qser_core.experiments.protocols.hybrid (training it against the frozen head)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer, StandardScaler
from torch.nn.utils import parametrize

from qser_core.features.backbones import get_backbone
from qser_core.config import QserConfig
from qser_core.data.corpus import index_corpus, label_index
from qser_core.errors import AudioError, ConfigError, DataError, TrainingCancelled
from qser_core.heads.quantum import QuantumHead
from qser_core.experiments.models.hybrid_network import (
    HYBRID_BACKBONES,
    HybridModel,
    check_hybrid_config,
    front_activations,
    learning_rate_scales,
)
from qser_core.experiments.protocols.hybrid import train_hybrid
from qser_core.experiments.pipeline import FeatureSet, single_split
from qser_core.features.reduce import QubitReducer
from qser_core.progress import CancelToken, RunContext
from factories import UNTRACKED, TRACKED


N_QUBITS = 4
SETTINGS = [f"reduce.n_qubits={N_QUBITS}", "head.n_layers=1", "head.ansatz=strong", "train.epochs=2",
            "train.batch_size=16", "data.test_fraction=0.25", "data.val_fraction=0.25"]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> str:
    """4 synthetic speakers × 2 sentences × 6 emotions = 48 clips, as a manifest CSV."""
    from qser_core.data.demo import generate_demo_corpus

    folder = generate_demo_corpus(tmp_path_factory.mktemp("demo"), n_speakers=4)
    table = index_corpus(folder, dataset="demo").table
    table = table[table["sentence"].isin(["DFA", "IEO"])]
    csv = folder / "subset.csv"
    rows = {"path": table["path"], "label": table["emotion"], "speaker": table["speaker"]}
    pd.DataFrame(rows).to_csv(csv, index=False)
    return str(csv)


@pytest.fixture(scope="module")
def config(manifest) -> QserConfig:
    return QserConfig().with_overrides(["data.dataset=manifest", f"data.data_dir={manifest}", *SETTINGS])


@pytest.fixture(scope="module")
def parts(config):
    """Table, labels, front activations, embeddings (tail of the same activations) and a reducer."""
    table = index_corpus(config.data.data_dir, dataset="manifest").table
    H = front_activations(table, config)
    backbone = get_backbone(config.embedding.backbone, features=config.features)
    with torch.inference_mode():
        E = backbone.trainable_part(torch.from_numpy(H), trainable_blocks=config.train.trainable_blocks).numpy()
    reducer = QubitReducer(n_components=N_QUBITS).fit(E[:32])
    return {"table": table, "labels": label_index(table["emotion"]), "H": H, "E": E, "reducer": reducer,
            "backbone": backbone}


def _unclipped(reducer: QubitReducer, X: np.ndarray) -> np.ndarray:
    scale, projection, standard, angles = (step for _, step in reducer.pipeline_.steps)
    return standard.transform(projection.transform(scale.transform(X))) * angles.scale_ + angles.min_


class TestReducerAffine:
    """QubitReducer.affine: the map the hybrid model's reduction layer starts from."""

    def test_matches_the_pipeline_on_unclipped_range(self):
        rng = np.random.default_rng(0)
        X = rng.gamma(2.0, 1.0, (50, 30))
        reducer = QubitReducer(n_components=5).fit(X[:40])
        W, b = reducer.affine()
        assert W.shape == (5, 30) and b.shape == (5,)
        np.testing.assert_allclose(X @ W.T + b, _unclipped(reducer, X), atol=1e-10)
        angles = reducer.transform(X[:40])  # the ±3σ map clips the rare row beyond 3σ to [0, π]
        np.testing.assert_allclose(np.clip(X[:40] @ W.T + b, 0.0, np.pi), angles, atol=1e-10)

    def test_unfitted_reducer_raises(self):
        with pytest.raises(NotFittedError):
            QubitReducer(n_components=4).affine()

    def test_non_affine_step_raises(self):
        reducer = QubitReducer(n_components=2).fit(np.random.default_rng(0).standard_normal((10, 4)))
        reducer.pipeline_ = Pipeline([("scale", StandardScaler()), ("norm", Normalizer())]).fit(np.ones((3, 4)))
        with pytest.raises(ConfigError, match="got a Normalizer step; use QubitReducer"):
            reducer.affine()


class TestInputs:
    def test_backbone_without_blocks_raises(self, config):
        bad = config.replace("embedding", backbone="egemaps")
        for call in (lambda: check_hybrid_config(bad), lambda: train_hybrid(bad, context=UNTRACKED)):
            with pytest.raises(ConfigError, match=r"backbone='egemaps'.*one of efficientnet-lite0, random-cnn"):
                call()
        assert HYBRID_BACKBONES == ("efficientnet-lite0", "random-cnn")

    def test_trainable_blocks_out_of_range(self, parts):
        with pytest.raises(ConfigError, match="trainable_blocks must be between 0 and 16 for efficientnet-lite0; got"):
            HybridModel(parts["backbone"], parts["reducer"], trainable_blocks=17)

    def test_reducer_of_another_backbone(self, parts):
        reducer = QubitReducer(n_components=3).fit(np.random.default_rng(0).standard_normal((20, 512)))
        with pytest.raises(DataError, match="fitted on 512-dim embeddings but backbone 'efficientnet-lite0' gives"):
            HybridModel(parts["backbone"], reducer)

    def test_head_of_another_circuit(self, parts):
        rng = np.random.default_rng(0)
        head = QuantumHead(n_layers=2, ansatz="strong", epochs=1).fit(rng.uniform(0, np.pi, (12, N_QUBITS)),
                                                                      np.arange(12) % 6)
        with pytest.raises(ConfigError, match="does not match the hybrid circuit .*n_layers=1"):
            HybridModel(parts["backbone"], parts["reducer"], n_layers=1, head=head)


class TestInitialisation:
    def test_angles_equal_the_reducer(self, parts):
        model = HybridModel(parts["backbone"], parts["reducer"], trainable_blocks=1, n_layers=1)
        with torch.no_grad():
            angles = model.angles(torch.from_numpy(parts["H"])).numpy()
        np.testing.assert_allclose(angles, _unclipped(parts["reducer"], parts["E"]), atol=2e-5)
        inside = (angles > 1e-3) & (angles < np.pi - 1e-3)  # clipping is dropped: compare where it does nothing
        assert inside.mean() > 0.5
        np.testing.assert_allclose(angles[inside], parts["reducer"].transform(parts["E"])[inside], atol=2e-5)

    def test_embedding_is_the_frozen_backbone_embedding(self, parts):
        model = HybridModel(parts["backbone"], parts["reducer"], trainable_blocks=1, n_layers=1)
        from qser_core.data.audio import load_batch

        waves = torch.from_numpy(load_batch(parts["table"]["path"][:3], sr=16000))
        with torch.no_grad():
            np.testing.assert_allclose(model.embed(model.front(waves)).numpy(), parts["backbone"].embed(waves).numpy(),
                                       atol=1e-4)

    def test_warm_start_reproduces_the_trained_head(self, parts):
        angles = parts["reducer"].transform(parts["E"])
        head = QuantumHead(n_layers=1, ansatz="strong", epochs=1).fit(angles, parts["labels"])
        model = HybridModel(parts["backbone"], parts["reducer"], n_layers=1, head=head)
        inside = ((angles > 1e-3) & (angles < np.pi - 1e-3)).all(axis=1)
        with torch.no_grad():
            proba = torch.softmax(model(torch.from_numpy(parts["H"][inside])), 1).numpy()
        np.testing.assert_allclose(proba, head.predict_proba(angles[inside]), atol=1e-4)


class TestGradients:
    def test_gradients_reach_tail_reduction_and_pqc_only(self, parts):
        shared = parts["backbone"]
        before = {k: v.clone() for k, v in shared.state_dict().items()}
        model = HybridModel(shared, parts["reducer"], trainable_blocks=1, n_layers=1)
        model.train()
        from qser_core.data.audio import load_batch

        waves = torch.from_numpy(load_batch(parts["table"]["path"][:6], sr=16000))
        loss = torch.nn.functional.cross_entropy(model.forward_waveforms(waves), torch.arange(6))
        loss.backward()
        tail, front = model.backbone.blocks[-1], model.backbone.blocks[-2]
        for name, p in [("tail block", tail._project_conv.weight), ("tail bn", tail._bn2.weight),
                        ("head conv", model.backbone.net._conv_head.weight), ("reduction", model.reduction.weight),
                        ("pqc", model.quantum.weights), ("readout", model.quantum.readout.weight)]:
            assert p.requires_grad and p.grad is not None and p.grad.abs().sum() > 0, name
        for p in [*front.parameters(), *model.backbone.blocks[0].parameters(), model.backbone.net._conv_stem.weight]:
            assert not p.requires_grad and p.grad is None
        assert all(p.grad is None for p in shared.parameters())  # the shared backbone is untouched
        torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1).step()
        assert all(torch.equal(before[k], v) for k, v in shared.state_dict().items())

    def test_parameter_count(self, parts):
        model = HybridModel(parts["backbone"], parts["reducer"], trainable_blocks=2, n_layers=1)
        tail = sum(p.numel() for m in model.tail_modules() for p in m.parameters())
        expected = tail + 2560 * N_QUBITS + N_QUBITS + sum(p.numel() for p in model.quantum.parameters())
        assert model.n_trainable() == expected
        assert len(model.tail_modules()) == 4  # two blocks, head conv, head batch norm

    def test_backbone_stays_in_eval_mode(self, parts):
        model = HybridModel(parts["backbone"], parts["reducer"], n_layers=1).train()
        assert model.training and model.quantum.training
        assert not any(m.training for m in model.backbone.modules())

    def test_learning_rate_scales_are_removed_after_training(self, parts):
        model = HybridModel(parts["backbone"], parts["reducer"], n_layers=1)
        weight = model.reduction.weight.detach().clone()
        with learning_rate_scales([([model.reduction], 0.01)]):
            assert parametrize.is_parametrized(model.reduction, "weight")
            torch.testing.assert_close(model.reduction.weight, weight)
            original = model.reduction.parametrizations.weight.original
            torch.testing.assert_close(original, weight / 0.01)
        assert not parametrize.is_parametrized(model.reduction)
        torch.testing.assert_close(model.reduction.weight, weight)


@pytest.mark.slow
class TestTrainHybrid:
    def test_two_epochs_give_finite_metrics(self, config, parts):
        stages = []
        events = RunContext(track=False, on_event=lambda e: stages.append((e.kind, e.stage)))
        result = train_hybrid(config, context=events)
        for metrics in (result.metrics, result.baseline_metrics):
            assert all(np.isfinite(metrics[k]) and 0 <= metrics[k] <= 1 for k in ("ua", "wa", "macro_f1"))
            assert metrics["n_test"] == 12
        assert len(result.history) == 2 and len(result.baseline_history) == 2
        assert [s for s in stages if s[0] != "trial"] == [("stage", "frozen"), ("epoch", "frozen"), ("epoch", "frozen"),
                                                          ("stage", "hybrid"), ("epoch", "hybrid"), ("epoch", "hybrid")]
        trials = {s for s in stages if s[0] == "trial"}
        assert trials == {("trial", "frozen")}  # the tuning search (train.tune) of the frozen head, in its stage
        assert result.n_params == result.model.n_trainable() > 1_000_000 > result.baseline_params
        split = result.split_speakers
        assert not set(split["train"]) & set(split["test"]) and not set(split["val"]) & set(split["test"])
        assert result.gain["ua"] == pytest.approx(result.metrics["ua"] - result.baseline_metrics["ua"])
        assert not result.cancelled and result.summary()["hybrid"]["params"] == result.n_params

    def test_deeper_search_warm_starts_from_the_chosen_circuit(self, config, parts):
        # head.n_layers=2 lets the search pick 1 or 2 layers; the hybrid must take the chosen circuit
        result = train_hybrid(config.replace("head", n_layers=2), context=UNTRACKED)
        chosen = {"head.n_layers": 2, "train.lr": config.train.lr}  # what the config says where the search is silent
        chosen.update(result.tuning.chosen)
        assert result.model.quantum.spec.n_layers == result.summary()["n_layers"] == chosen["head.n_layers"]

    def test_same_seed_same_result(self, config, parts):
        a, b = (train_hybrid(config, context=UNTRACKED) for _ in range(2))
        assert a.metrics == b.metrics
        assert [e.train_loss for e in a.history] == [e.train_loss for e in b.history]
        for (k, v), w in zip(a.model.state_dict().items(), b.model.state_dict().values()):
            assert torch.equal(v, w), k

    def test_cancel_keeps_the_best_epoch(self, config, parts):
        token = CancelToken()

        def stop(event):
            if event.kind == "epoch" and event.stage == "hybrid":
                token.cancel()

        result = train_hybrid(config.replace("train", epochs=5),
                              context=RunContext(cancel=token, on_event=stop, track=False))
        assert result.cancelled and len(result.history) == 1
        assert np.isfinite(result.metrics["ua"])

    def test_cancel_before_any_epoch_raises(self, config, parts):
        token = CancelToken()
        token.cancel()
        with pytest.raises(TrainingCancelled, match="cancelled"):
            train_hybrid(config, context=RunContext(cancel=token, track=False))

    def test_run_is_recorded(self, config, parts):
        from qser_core.tracking.reader import load_run

        result = train_hybrid(config.replace("head", kind="logreg"), context=TRACKED)
        assert result.config.head.kind == "quantum"
        run = load_run(result.run_id)
        assert run["tags"]["qser.run_type"] == "hybrid"
        assert run["metrics"]["ua"] == pytest.approx(result.metrics["ua"])
        assert run["metrics"]["frozen.ua"] == pytest.approx(result.baseline_metrics["ua"])
        assert set(run["history"]["prefix"]) == {"", "frozen/"}
        hybrid_epochs = run["history"][run["history"]["prefix"] == ""]["epoch"].tolist()
        assert hybrid_epochs == [e.epoch for e in result.history]  # no stray epoch 0 from the run's final metrics
        assert run["metrics"]["run_seconds"] == pytest.approx(result.seconds)


@pytest.mark.slow
class TestTrainingRowsOnly:
    def test_reducer_sees_neither_validation_nor_test_rows(self, config, parts, perturb, same_reducer):
        corpus = index_corpus(config.data.data_dir, dataset="manifest")
        features = FeatureSet(corpus=corpus, embeddings=parts["E"], labels=parts["labels"])
        config = config.replace("train", epochs=1)
        split = single_split(config, features)
        clean = train_hybrid(config, features=features, context=UNTRACKED)
        held_out = perturb(features, np.concatenate([split.val, split.test]))
        assert same_reducer(train_hybrid(config, features=held_out, context=UNTRACKED).reducer, clean.reducer)
        # the control: the same noise on a few training rows does move the scaler and PCA
        moved = train_hybrid(config, features=perturb(features, split.train[:4]), context=UNTRACKED)
        assert not same_reducer(moved.reducer, clean.reducer)


class TestFrontActivations:
    def test_shape_and_reuse(self, config, parts):
        H = front_activations(parts["table"], config)
        assert H is parts["H"]  # computed once per process and corpus
        assert H.shape == (48, 192, 4, 10) and H.dtype == np.float32  # 128 mel bands → 4 rows after the stem

    def test_memory_guard(self, config, parts, monkeypatch):
        import qser_core.experiments.models.hybrid_network as hybrid

        monkeypatch.setattr(hybrid, "MAX_FRONT_BYTES", 1000)
        with pytest.raises(ConfigError, match=r"train.trainable_blocks=2 needs .* lower train.trainable_blocks"):
            front_activations(parts["table"], config.replace("train", trainable_blocks=2))

    def test_cancel_while_computing(self, config, parts):
        token = CancelToken()
        token.cancel()
        with pytest.raises(TrainingCancelled, match="while computing the frozen backbone activations"):
            front_activations(parts["table"], config.replace("train", trainable_blocks=3),
                              context=RunContext(cancel=token))


# ------------------------------------------------------------------------- clips that cannot be used
BAD_CLIPS = {  # file → the words of the reason each one is skipped for
    "corrupt.wav": "not a readable audio file",  # found by indexing (header)
    "empty.wav": "empty file (0 bytes)",  # indexing
    "long.wav": "at most max_seconds=10 s",  # indexing, with audio.max_seconds from the config
    "silent.wav": "is silent",  # found by decoding in the frozen front
    "nan.wav": "NaN or infinite samples",  # decoding
}


@pytest.fixture(scope="module")
def bad_manifest(manifest, tmp_path_factory) -> str:
    """The 48 demo clips of ``manifest`` and five unusable files (each of a demo speaker)."""
    import soundfile as sf

    folder = tmp_path_factory.mktemp("bad")
    rng = np.random.default_rng(0)
    (folder / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + rng.bytes(400))
    (folder / "empty.wav").write_bytes(b"")
    sf.write(folder / "long.wav", 0.1 * rng.standard_normal(12 * 8000), 8000)
    sf.write(folder / "silent.wav", np.zeros(16000), 16000)
    noisy = 0.1 * rng.standard_normal(16000)
    noisy[5000:5100] = np.nan
    sf.write(folder / "nan.wav", noisy, 16000, subtype="FLOAT")
    table = pd.read_csv(manifest)
    extra = pd.DataFrame({"path": [str(folder / name) for name in BAD_CLIPS], "label": "ANG",
                          "speaker": table["speaker"].iloc[0]})
    csv = folder / "with-bad.csv"
    pd.concat([table, extra]).to_csv(csv, index=False)
    return str(csv)


def _bad_config(config: QserConfig, bad_manifest: str) -> QserConfig:
    return config.with_overrides([f"data.data_dir={bad_manifest}", "audio.max_seconds=10"])


def _assert_all_named(skipped, where: str = "") -> None:
    reasons = {str(path).rsplit("/", 1)[-1]: reason for path, reason in skipped}
    assert set(reasons) == set(BAD_CLIPS), where
    for name, words in BAD_CLIPS.items():
        assert words in reasons[name], (name, reasons[name])


class TestUnusableClips:
    """One bad clip never stops the hybrid run: each is skipped, all are reported and recorded."""

    def test_front_skips_each_bad_clip(self, config, bad_manifest):
        bad_config = _bad_config(config, bad_manifest)
        table = index_corpus(bad_manifest, dataset="manifest", max_seconds=10).table  # silent and NaN pass indexing
        assert len(table) == 50
        H, bad = front_activations(table, bad_config, errors="skip")
        assert H.shape[0] == 48 and np.isfinite(H).all()
        assert sorted(p.rsplit("/", 1)[-1] for p, _ in bad) == ["nan.wav", "silent.wav"]
        with pytest.raises(AudioError, match=r"(?s)2 of 50 clips cannot be used.*silent\.wav.*is silent"):
            front_activations(table, bad_config)
        with pytest.raises(ConfigError, match="errors must be 'raise' or 'skip'; got 'ignore'"):
            front_activations(table, bad_config, errors="ignore")

    @pytest.mark.slow
    def test_run_finishes_names_and_records_them(self, config, bad_manifest, store, caplog):
        from qser_core.tracking.reader import load_json, load_run

        result = train_hybrid(_bad_config(config, bad_manifest), context=TRACKED)
        summary = result.summary()
        assert summary["n_clips"] == 48 and np.isfinite(summary["hybrid"]["ua"])
        _assert_all_named(summary["skipped"])
        assert "48 usable clips of 53 audio files; 5 skipped" in caplog.text  # indexing's 3, then decoding's 2
        run = load_run(result.run_id)
        assert run["tags"]["qser.n_skipped"] == "5" and run["tags"]["qser.n_clips"] == "48"
        _assert_all_named(load_json(result.run_id, "corpus.json")["skipped"], "corpus.json")

    @pytest.mark.slow
    def test_prepared_features_are_subset_too(self, config, bad_manifest):
        """A FeatureSet holding clips the front refuses: its embeddings and labels lose the same rows."""
        from qser_core.experiments.pipeline import FeatureSet

        bad_config = _bad_config(config, bad_manifest)
        corpus = index_corpus(bad_manifest, dataset="manifest", max_seconds=10)
        H, _ = front_activations(corpus.table, bad_config, errors="skip")
        rows = np.zeros((len(corpus.table), get_backbone("efficientnet-lite0").dim), np.float32)
        usable = ~corpus.table["path"].str.endswith(("silent.wav", "nan.wav")).to_numpy()
        rows[usable] = get_backbone("efficientnet-lite0").trainable_part(torch.from_numpy(H), trainable_blocks=1) \
            .detach().numpy()
        features = FeatureSet(corpus=corpus, embeddings=rows, labels=label_index(corpus.table["emotion"]))
        result = train_hybrid(bad_config, features=features, context=UNTRACKED)
        assert result.corpus_report.n_clips == 48 and np.isfinite(result.metrics["ua"])
        _assert_all_named(result.corpus_report.skipped)  # indexing's 3 and the front's 2

    @pytest.mark.slow
    def test_cli_exits_0_and_prints_the_summary(self, bad_manifest, tmp_path):
        import json
        import os
        import subprocess
        import sys
        from pathlib import Path

        repo = Path(__file__).resolve().parents[2]
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")},
               "QSER_HOME": str(tmp_path / "home"), "PYTHONPATH": str(repo)}
        args = ["hybrid", "--dataset", "manifest", "--data-dir", bad_manifest, "--backbone", "random-cnn",
                "--qubits", "2", "--layers", "1", "--epochs", "1", "--json",
                *(f"--set={s}" for s in ("audio.max_seconds=10", "data.test_fraction=0.25", "data.val_fraction=0.25"))]
        done = subprocess.run([sys.executable, "-m", "qser_core.cli", *args], env=env, cwd=repo,
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr
        assert "50 usable clips of 53 audio files; 3 skipped" in done.stderr  # indexing
        assert "48 usable clips of 53 audio files; 5 skipped" in done.stderr  # + the front's decoding
        assert "Traceback" not in done.stderr
        summary = json.loads(done.stdout)
        _assert_all_named(summary["skipped"])
        assert summary["run_id"] and summary["n_clips"] == 48
