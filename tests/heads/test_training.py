"""Tests of qser_core.heads.training: the shared loop, early stopping, seeding, cancellation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from qser_core.errors import ConfigError, DataError, TrainingCancelled
from qser_core.progress import CancelToken, RunContext
from qser_core.heads.training import EpochLog, fit_module, predict_logits, seed_everything


def _blobs(n=240, d=4, seed=0):
    """Six well-separated Gaussian blobs (a learnable problem)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 6
    centres = rng.normal(0, 3, (6, d))
    return (centres[y] + rng.normal(0, 0.5, (n, d))).astype(np.float32), y


def _model(d=4, seed=0):
    seed_everything(seed)
    return nn.Sequential(nn.Linear(d, 16), nn.ReLU(), nn.Linear(16, 6))


class TestFit:
    def test_learns_and_logs_every_epoch(self):
        X, y = _blobs()
        logs = []
        hist = fit_module(_model(), X, y, X_val=X[:60], y_val=y[:60], epochs=15, lr=0.05, batch_size=32,
                          patience=20, seed=0, context=RunContext(on_event=lambda e: logs.append(e.payload)))
        assert [e.epoch for e in logs] == list(range(1, 16))
        assert all(isinstance(e, EpochLog) for e in logs)
        assert hist.epochs == logs
        assert logs[-1].train_loss < logs[0].train_loss
        assert max(e.val_ua for e in logs) > 0.9
        assert hist.best_score == max(e.val_ua for e in logs)

    def test_restores_best_checkpoint(self):
        X, y = _blobs()
        Xv, yv = X[:60], y[:60]
        model = _model()
        hist = fit_module(model, X, y, X_val=Xv, y_val=yv, epochs=12, lr=0.5, batch_size=16, patience=50, seed=0)
        pred = predict_logits(model, Xv).argmax(1).numpy()
        recall = [np.mean(pred[yv == c] == c) for c in range(6)]
        assert np.mean(recall) == pytest.approx(hist.best_score)
        assert hist.best_epoch == 1 + int(np.argmax([e.val_ua for e in hist.epochs]))

    def test_early_stopping(self):
        X, y = _blobs()
        # random labels: validation UA stops improving quickly
        y_rand = np.random.default_rng(1).integers(0, 6, len(y))
        hist = fit_module(_model(), X, y_rand, X_val=X[:60], y_val=y_rand[:60], epochs=200, lr=0.01, patience=2, seed=0)
        assert hist.stopped_early and len(hist.epochs) < 200
        assert len(hist.epochs) - hist.best_epoch == 2

    def test_without_validation_watches_training_loss(self):
        X, y = _blobs()
        hist = fit_module(_model(), X, y, epochs=5, lr=0.05, patience=5, seed=0)
        assert np.isnan(hist.epochs[0].val_ua)
        assert hist.best_score == pytest.approx(-min(e.train_loss for e in hist.epochs))


class TestSeeding:
    def test_same_seed_same_result(self):
        X, y = _blobs()
        runs = []
        for _ in range(2):
            model = _model(seed=3)
            h = fit_module(model, X, y, X_val=X[:60], y_val=y[:60], epochs=4, seed=3)
            runs.append(([e.train_loss for e in h.epochs], predict_logits(model, X)))
        assert runs[0][0] == runs[1][0]
        assert torch.equal(runs[0][1], runs[1][1])

    def test_other_seed_other_order(self):
        X, y = _blobs()
        a = fit_module(_model(seed=0), X, y, epochs=2, seed=0)
        b = fit_module(_model(seed=0), X, y, epochs=2, seed=1)
        assert [e.train_loss for e in a.epochs] != [e.train_loss for e in b.epochs]


class TestCancel:
    def test_token(self):
        token = CancelToken()
        assert not token.cancelled
        token.cancel()
        assert token.cancelled

    def test_cancel_after_an_epoch_keeps_best(self):
        X, y = _blobs()
        token = CancelToken()

        def stop_at_epoch_2(event):
            if event.kind == "epoch" and event.payload.epoch == 2:
                token.cancel()

        model = _model()
        context = RunContext(cancel=token, on_event=stop_at_epoch_2)
        hist = fit_module(model, X, y, X_val=X[:60], y_val=y[:60], epochs=50, seed=0, context=context)
        assert hist.cancelled and len(hist.epochs) == 2
        scores = [e.val_ua for e in hist.epochs]
        assert hist.best_epoch == 1 + int(np.argmax(scores)) and hist.best_score == max(scores)
        # the kept weights are the best epoch's: they score its validation UA again
        pred = predict_logits(model, X[:60]).argmax(1).numpy()
        recalls = [np.mean(pred[y[:60] == c] == c) for c in np.unique(y[:60])]
        assert np.mean(recalls) == pytest.approx(hist.best_score)

    def test_cancel_before_first_epoch_raises(self):
        X, y = _blobs()
        token = CancelToken()
        token.cancel()
        with pytest.raises(TrainingCancelled, match="before the first epoch finished"):
            fit_module(_model(), X, y, epochs=3, context=RunContext(cancel=token))


class TestInputs:
    def test_mismatched_lengths(self):
        X, y = _blobs()
        with pytest.raises(DataError, match=r"one label per row; got X shape \(240, 4\) and 10 labels"):
            fit_module(_model(), X, y[:10])

    def test_bad_validation_width(self):
        X, y = _blobs()
        with pytest.raises(DataError, match="X_val must be 2-D with 4 columns"):
            fit_module(_model(), X, y, X_val=X[:, :2], y_val=y)

    def test_bad_epochs(self):
        X, y = _blobs()
        with pytest.raises(ConfigError, match="train.epochs must be at least 1; got 0"):
            fit_module(_model(), X, y, epochs=0)
