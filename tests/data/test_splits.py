"""Tests of qser_core.data.splits: speaker-disjoint train/validation/test splits and cross-validation folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qser_core.data.corpus import index_corpus
from qser_core.errors import DataError
from qser_core.data.splits import speaker_folds, split_by_speaker

from factories import synthetic_table


def _speakers(table, rows):
    return set(table["speaker"].iloc[rows])


def _check_partition(table, split):
    n = len(table)
    parts = [split.train, split.val, split.test]
    everything = np.concatenate(parts)
    assert len(everything) == n and np.array_equal(np.sort(everything), np.arange(n))  # each row exactly once
    for a in range(3):
        for b in range(a + 1, 3):
            assert not _speakers(table, parts[a]) & _speakers(table, parts[b])  # no speaker in two parts
    assert all(p.dtype == np.int64 for p in parts)


class TestSplitBySpeaker:
    def test_partition_is_speaker_disjoint(self):
        table = synthetic_table()
        for seed in range(5):
            split = split_by_speaker(table, seed=seed)
            _check_partition(table, split)
            assert len(split.val) and len(split.test)
            assert 3 <= len(_speakers(table, split.test)) <= 5  # about 20% of 20 speakers
            assert 2 <= len(_speakers(table, split.val)) <= 5  # about 15%

    def test_deterministic_for_a_seed_and_different_across_seeds(self):
        table = synthetic_table()
        a, b = split_by_speaker(table, seed=3), split_by_speaker(table, seed=3)
        assert all(np.array_equal(x, y) for x, y in zip((a.train, a.val, a.test), (b.train, b.val, b.test)))
        tests = {tuple(sorted(_speakers(table, split_by_speaker(table, seed=s).test))) for s in range(6)}
        assert len(tests) > 1

    def test_emotion_proportions_roughly_preserved(self):
        table = synthetic_table(n_speakers=40, seed=1)
        overall = table["emotion"].value_counts(normalize=True)
        split = split_by_speaker(table, seed=0)
        for part in (split.train, split.test):
            share = table["emotion"].iloc[part].value_counts(normalize=True)
            assert (share.reindex(overall.index, fill_value=0) - overall).abs().max() < 0.06

    @pytest.mark.parametrize("n_speakers, test_fraction, val_fraction, n_test, n_val", [
        (10, 0.4, 0.2, 4, 2),  # 0.4 used to give half the speakers (round(1 / 0.4) = 2 parts)
        (10, 0.25, 0.15, 3, 2),  # 2.5 and 1.5 speakers round half up
        (20, 0.2, 0.15, 4, 3),
        (12, 0.5, 0.1, 6, 1),
        (7, 0.3, 0.0, 2, 0),
    ])
    def test_fractions_are_shares_of_speakers(self, n_speakers, test_fraction, val_fraction, n_test, n_val):
        table = synthetic_table(n_speakers=n_speakers)
        for seed in range(3):
            split = split_by_speaker(table, test_fraction=test_fraction, val_fraction=val_fraction, seed=seed)
            _check_partition(table, split)
            assert len(_speakers(table, split.test)) == n_test
            assert len(_speakers(table, split.val)) == n_val
            assert len(_speakers(table, split.train)) == n_speakers - n_test - n_val

    def test_no_validation_part(self):
        table = synthetic_table(n_speakers=5)
        split = split_by_speaker(table, val_fraction=0.0)
        assert len(split.val) == 0
        _check_partition(table, split)

    def test_three_speakers_get_one_part_each(self):
        table = synthetic_table(n_speakers=3)
        split = split_by_speaker(table, seed=1)
        _check_partition(table, split)
        assert [len(_speakers(table, p)) for p in (split.train, split.val, split.test)] == [1, 1, 1]

    def test_too_few_speakers_names_the_counts(self):
        with pytest.raises(DataError, match=r"train/val/test split needs at least 3 speakers; the corpus has 2"):
            split_by_speaker(synthetic_table(n_speakers=2))
        with pytest.raises(DataError, match=r"train/test split needs at least 2 speakers; the corpus has 1"):
            split_by_speaker(synthetic_table(n_speakers=1), val_fraction=0)

    def test_bad_fractions(self):
        with pytest.raises(DataError, match=r"got test_fraction=0.7, val_fraction=0.4"):
            split_by_speaker(synthetic_table(), test_fraction=0.7, val_fraction=0.4)


class TestSpeakerFolds:
    def test_every_speaker_is_tested_exactly_once(self):
        table = synthetic_table()
        folds = speaker_folds(table, n_folds=5, seed=0)
        assert len(folds) == 5
        for fold in folds:
            _check_partition(table, fold)
            assert len(fold.val)
        tested = np.concatenate([f.test for f in folds])
        assert np.array_equal(np.sort(tested), np.arange(len(table)))
        test_speakers = [_speakers(table, f.test) for f in folds]
        assert sum(len(s) for s in test_speakers) == table["speaker"].nunique()

    def test_deterministic_and_seed_dependent(self):
        table = synthetic_table()
        a, b = speaker_folds(table, seed=7), speaker_folds(table, seed=7)
        assert all(np.array_equal(x.test, y.test) and np.array_equal(x.val, y.val) for x, y in zip(a, b))
        c = speaker_folds(table, seed=8)
        assert any(not np.array_equal(x.test, y.test) for x, y in zip(a, c))

    def test_emotion_proportions_roughly_preserved(self):
        table = synthetic_table(n_speakers=40, seed=2)
        overall = table["emotion"].value_counts(normalize=True)
        for fold in speaker_folds(table, n_folds=4, seed=0):
            share = table["emotion"].iloc[fold.test].value_counts(normalize=True)
            assert (share.reindex(overall.index, fill_value=0) - overall).abs().max() < 0.08

    def test_validation_is_a_share_of_all_speakers(self):
        table = synthetic_table(n_speakers=20)
        for fold in speaker_folds(table, n_folds=5, val_fraction=0.25, seed=0):
            assert len(_speakers(table, fold.val)) == 5  # 0.25 of all 20 speakers, whatever the fold's test size

    def test_without_validation(self):
        table = synthetic_table(n_speakers=4)
        for fold in speaker_folds(table, n_folds=4, val_fraction=0.0):
            assert len(fold.val) == 0
            _check_partition(table, fold)

    def test_too_few_speakers_names_the_counts(self):
        with pytest.raises(DataError, match=r"5 speaker-disjoint folds with a validation part needs at least "
                                             r"6 speakers; the corpus has 4; lower data.n_folds \(at most 3\)"):
            speaker_folds(synthetic_table(n_speakers=4), n_folds=5)
        with pytest.raises(DataError, match=r"n_folds must be at least 2; got 1"):
            speaker_folds(synthetic_table(), n_folds=1)

    def test_missing_columns(self):
        with pytest.raises(DataError, match=r"lacks the column\(s\) speaker"):
            speaker_folds(pd.DataFrame({"emotion": ["ANG"]}))


    def test_real_emodb_folds_change_with_the_seed(self, emodb_audio):
        # sklearn's StratifiedGroupKFold gives EmoDB the same folds for every seed; ours must not.
        table = index_corpus(emodb_audio, dataset="emodb").table
        partitions = set()
        for seed in range(4):
            folds = speaker_folds(table, n_folds=5, seed=seed)
            for fold in folds:
                _check_partition(table, fold)
            partitions.add(frozenset(frozenset(_speakers(table, f.test)) for f in folds))
        assert len(partitions) > 1


class TestTooFewSpeakersMessages:
    def test_one_speaker_says_how_many_are_needed(self):
        table = pd.DataFrame({"speaker": ["a"] * 12, "emotion": ["ANG", "DIS", "FEA", "HAP", "NEU", "SAD"] * 2})
        with pytest.raises(DataError, match=r"the corpus has 1; cross-validation needs at least 3 speakers") as info:
            speaker_folds(table)
        assert "at most 0" not in str(info.value) and "at most 1" not in str(info.value)

    def test_fold_without_enough_speakers_is_named(self):
        emotions = ["ANG", "DIS", "FEA", "HAP", "NEU", "SAD"]
        rows = [("big", e) for e in emotions * 20] + [(s, e) for s in "bcd" for e in emotions]
        table = pd.DataFrame(rows, columns=["speaker", "emotion"])
        with pytest.raises(DataError, match=r"fold 2 of 2 tests 3 of the 4 speakers and leaves 1 \(folds balance "
                                            r"clips, and speaker big alone has 120 of 138 clips\)"):
            speaker_folds(table, n_folds=2)

