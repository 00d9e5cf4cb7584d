"""Tests of qser_core.data: file-name parsers, the bad-file report, manifests and speaker-disjoint splits."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from qser_core.config import DataConfig
from qser_core.data import (
    COLUMNS,
    EMOTIONS,
    Corpus,
    counts_by,
    corpus_summary,
    index_corpus,
    label_index,
    load_corpus,
    speaker_folds,
    split_by_speaker,
)
from qser_core.errors import DataError


def _wav(path: Path, *, seconds: float = 0.05, sr: int = 16000, fmt: str | None = None) -> Path:
    """Write a tiny real audio file (noise) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    y = (0.1 * np.random.default_rng(len(path.name)).standard_normal(int(seconds * sr))).astype(np.float32)
    sf.write(path, y, sr, format=fmt)
    return path


def _crema_folder(root: Path, actors=(1001, 1002, 1003), emotions=EMOTIONS) -> Path:
    for actor in actors:
        for i, emotion in enumerate(emotions):
            _wav(root / f"{actor}_{['DFA', 'IEO', 'TIE'][i % 3]}_{emotion}_{['XX', 'HI', 'LO', 'MD'][i % 4]}.wav")
    return root


def _synthetic_table(n_speakers: int = 20, seed: int = 0) -> pd.DataFrame:
    """A corpus table with uneven clips per speaker and per emotion (no files needed for splits)."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_speakers):
        weights = rng.dirichlet(np.ones(6) * 3)
        for e in rng.choice(6, size=int(rng.integers(20, 60)), p=weights):
            rows.append({"path": f"/x/{s}_{len(rows)}.wav", "speaker": f"{1001 + s}", "emotion": EMOTIONS[e]})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- labels
class TestLabels:
    def test_label_index_follows_emotions_order(self):
        assert label_index(list(EMOTIONS)).tolist() == [0, 1, 2, 3, 4, 5]
        assert label_index(pd.Series(["SAD", "ANG"])).dtype == np.int64

    def test_unknown_label_is_named(self):
        with pytest.raises(DataError, match=r"must be one of ANG, DIS, FEA, HAP, NEU, SAD; got SUR"):
            label_index(["ANG", "SUR"])


# ---------------------------------------------------------------------------- parsers
class TestCremaD:
    def test_parses_names_sorted_with_all_columns(self, tmp_path):
        corpus = index_corpus(_crema_folder(tmp_path / "AudioWAV"), dataset="crema-d")
        table = corpus.table
        assert isinstance(corpus, Corpus) and corpus.dataset == "crema-d"
        assert tuple(table.columns) == COLUMNS
        assert len(table) == 18 and isinstance(table.index, pd.RangeIndex)
        assert table["path"].tolist() == sorted(table["path"])
        assert all(os.path.isabs(p) for p in table["path"])
        row = table[table["path"].str.endswith("1002_IEO_DIS_HI.wav")].iloc[0]
        assert (row.speaker, row.emotion, row.sentence, row.intensity) == ("1002", "DIS", "IEO", "HI")
        assert row.sex == "" and np.isnan(row.age)  # no demographics file
        assert corpus.report.n_files == 18 and corpus.report.n_clips == 18 and not corpus.report.skipped

    def test_demographics_joined_from_parent_folder(self, tmp_path):
        _crema_folder(tmp_path / "AudioWAV")
        (tmp_path / "VideoDemographics.csv").write_text(
            "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n"
            "1002,21,Female,Caucasian,Not Hispanic\n")
        for root in (tmp_path, tmp_path / "AudioWAV"):  # the csv sits in the folder, or in its parent
            table = index_corpus(root, dataset="crema-d").table
            by_speaker = table.groupby("speaker").first()
            assert by_speaker.loc["1001", "sex"] == "Male" and by_speaker.loc["1001", "age"] == 51
            assert by_speaker.loc["1002", "sex"] == "Female" and by_speaker.loc["1002", "age"] == 21
            assert by_speaker.loc["1003", "sex"] == "" and np.isnan(by_speaker.loc["1003", "age"])

    def test_recursive_and_ignores_non_audio_and_hidden_folders(self, tmp_path):
        _crema_folder(tmp_path / "a" / "b", actors=(1001,))
        _wav(tmp_path / ".git" / "lfs" / "1002_DFA_ANG_XX.wav")
        (tmp_path / "notes.txt").write_text("hello")
        corpus = index_corpus(tmp_path, dataset="crema-d")
        assert len(corpus.table) == 6 and corpus.report.n_files == 6

    def test_demo_uses_the_crema_parser(self, tmp_path):
        corpus = index_corpus(_crema_folder(tmp_path, actors=(1001,)), dataset="demo")
        assert corpus.dataset == "demo" and set(corpus.table["emotion"]) == set(EMOTIONS)


class TestBadFiles:
    def test_bad_files_are_reported_with_reasons_and_never_crash(self, tmp_path):
        _crema_folder(tmp_path, actors=(1001,))
        (tmp_path / "1002_DFA_ANG_XX.wav").write_bytes(b"")
        good = _wav(tmp_path / "full.wav", seconds=0.5).read_bytes()
        (tmp_path / "1002_DFA_DIS_XX.wav").write_bytes(good[: len(good) // 2])
        (tmp_path / "1002_DFA_FEA_XX.wav").write_text(
            "version https://git-lfs.github.com/spec/v1\noid sha256:" + "a" * 64 + "\nsize 71234\n")
        (tmp_path / "1002_DFA_HAP_XX.wav").write_bytes(np.random.default_rng(0).bytes(5000))
        (tmp_path / "full.wav").unlink()
        _wav(tmp_path / "recording_7.wav")
        report = index_corpus(tmp_path, dataset="crema-d").report
        reasons = {Path(p).name: r for p, r in report.skipped}
        assert report.n_clips == 6 and report.n_files == 11
        assert reasons["1002_DFA_ANG_XX.wav"].startswith("empty file")
        assert reasons["1002_DFA_DIS_XX.wav"].startswith("truncated: the header declares")
        assert reasons["1002_DFA_FEA_XX.wav"].startswith("Git LFS pointer stub")
        assert reasons["1002_DFA_HAP_XX.wav"].startswith("not a readable audio file")
        assert "does not follow CREMA-D" in reasons["recording_7.wav"]
        text = report.summary()
        assert "6 usable clips of 11 audio files; 5 skipped, 0 dropped" in text and "LFS" in text

    def test_only_bad_files_is_a_clear_error(self, tmp_path):
        (tmp_path / "1001_DFA_ANG_XX.wav").write_text("version https://git-lfs.github.com/spec/v1\n")
        with pytest.raises(DataError, match=r"(?s)no usable clip in .*Git LFS pointer stub"):
            index_corpus(tmp_path, dataset="crema-d")

    def test_missing_empty_and_file_root(self, tmp_path):
        with pytest.raises(DataError, match=r"does not exist; run `qser data download crema-d"):
            index_corpus(tmp_path / "nope", dataset="crema-d")
        with pytest.raises(DataError, match=r"no \.wav files under .*searched recursively"):
            index_corpus(tmp_path, dataset="crema-d")
        with pytest.raises(DataError, match=r"is not a folder"):
            index_corpus(_wav(tmp_path / "1001_DFA_ANG_XX.wav"), dataset="crema-d")

    def test_unknown_dataset(self, tmp_path):
        with pytest.raises(DataError, match=r"dataset must be one of demo, crema-d.*got 'iemocap'"):
            index_corpus(tmp_path, dataset="iemocap")


class TestOtherCorpora:
    def test_ravdess_drops_calm_surprised_and_song(self, tmp_path):
        # modality-channel-emotion-intensity-statement-repetition-actor
        for name in ("03-01-01-01-01-01-01.wav", "03-01-05-02-02-01-02.wav", "03-01-02-01-01-01-03.wav",
                     "03-01-08-02-01-02-03.wav", "03-02-03-01-01-01-04.wav", "03-01-07-01-01-01-04.wav",
                     "01-01-03-01-01-01-05.wav"):
            _wav(tmp_path / "Actor_x" / name)
        corpus = index_corpus(tmp_path, dataset="ravdess")
        table = corpus.table
        assert table[["speaker", "emotion", "intensity", "sex"]].values.tolist() == [
            ["01", "NEU", "normal", "Male"], ["02", "ANG", "strong", "Female"], ["04", "DIS", "normal", "Female"]]
        assert corpus.report.dropped == {"calm": 1, "surprised": 1, "song": 1}
        assert [r for _, r in corpus.report.skipped] == ["RAVDESS modality 01 is not audio-only (03)"]

    def test_emodb_wav_and_flac(self, tmp_path):
        for name in ("03a01Wa.wav", "08a02Eb.wav", "09b03Ad.wav", "10a01Fa.wav", "11a01Na.wav", "12a01Tc.wav",
                     "13a01La.wav"):
            _wav(tmp_path / name)
        _wav(tmp_path / "14a05Wa.flac", fmt="FLAC")
        corpus = index_corpus(tmp_path, dataset="emodb")
        assert corpus.table["emotion"].tolist() == ["ANG", "DIS", "FEA", "HAP", "NEU", "SAD", "ANG"]
        assert corpus.table["speaker"].tolist() == ["03", "08", "09", "10", "11", "12", "14"]
        assert corpus.table["sentence"].iloc[2] == "b03" and corpus.table["sex"].iloc[0] == "Male"
        assert corpus.report.dropped == {"boredom": 1}

    def test_tess(self, tmp_path):
        for name in ("OAF_back_angry.wav", "YAF_chair_disgust.wav", "OAF_dog_fear.wav", "YAF_youth_happy.wav",
                     "OAF_bean_neutral.wav", "YAF_thumb_sad.wav", "OAF_base_ps.wav",
                     "YAF_germ_pleasant_surprise.wav"):
            _wav(tmp_path / name.split("_")[0] / name)
        corpus = index_corpus(tmp_path, dataset="tess")
        assert sorted(corpus.table["emotion"]) == sorted(EMOTIONS)
        assert set(corpus.table["speaker"]) == {"OAF", "YAF"}
        assert corpus.report.dropped == {"ps": 1, "pleasant_surprise": 1}
        assert corpus.table.set_index("speaker")["sex"].unique().tolist() == ["Female"]

    def test_real_emodb(self, emodb_audio):
        corpus = index_corpus(emodb_audio, dataset="emodb")
        assert corpus.report.n_files == 535
        assert len(corpus.table) == 454
        assert corpus.report.dropped == {"boredom": 81}
        assert corpus.report.skipped == []
        assert corpus.table["speaker"].nunique() == 10
        assert counts_by(corpus.table, "emotion")["clips"].to_dict() == {
            "ANG": 127, "DIS": 46, "FEA": 69, "HAP": 71, "NEU": 79, "SAD": 62}
        assert corpus_summary(corpus.table)["sex"] == {"Female": 256, "Male": 198}

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


class TestManifest:
    def _clips(self, tmp_path):
        for name in ("a.wav", "b.wav", "c.wav", "d.wav"):
            _wav(tmp_path / "clips" / name)

    def test_codes_words_and_unknown_labels(self, tmp_path):
        self._clips(tmp_path)
        (tmp_path / "m.csv").write_text("path,label,speaker,age\nclips/a.wav,angry,s1,30\nclips/b.wav,HAP,s1,30\n"
                                        "clips/c.wav,Sadness,s2,\nclips/d.wav,bored,s2,\n")
        corpus = index_corpus(tmp_path / "m.csv", dataset="manifest")
        assert corpus.table["emotion"].tolist() == ["ANG", "HAP", "SAD"]
        assert corpus.table["path"].iloc[0] == str((tmp_path / "clips" / "a.wav").resolve())
        assert corpus.table["age"].iloc[0] == 30 and np.isnan(corpus.table["age"].iloc[2])
        assert corpus.report.dropped == {"bored": 1} and corpus.report.n_files == 4

    def test_missing_columns_are_named(self, tmp_path):
        (tmp_path / "m.csv").write_text("file,label\nclips/a.wav,angry\n")
        with pytest.raises(DataError, match=r"lacks the column\(s\) path, speaker; it has file, label"):
            index_corpus(tmp_path / "m.csv", dataset="manifest")

    def test_missing_files_are_named(self, tmp_path):
        self._clips(tmp_path)
        (tmp_path / "m.csv").write_text("path,label,speaker\nclips/a.wav,angry,s1\nclips/zz.wav,sad,s1\n")
        with pytest.raises(DataError, match=r"lists 1 file\(s\) that do not exist: .*zz\.wav; paths are relative"):
            index_corpus(tmp_path / "m.csv", dataset="manifest")

    def test_missing_manifest(self, tmp_path):
        with pytest.raises(DataError, match=r"manifest .*nope\.csv does not exist"):
            index_corpus(tmp_path / "nope.csv", dataset="manifest")


class TestLoadCorpus:
    def test_config_names_the_folder(self, tmp_path):
        _crema_folder(tmp_path)
        corpus = load_corpus(DataConfig(dataset="crema-d", data_dir=str(tmp_path)))
        assert len(corpus.table) == 18 and corpus.root == tmp_path.resolve()

    def test_demo_generates_through_demo_module(self, tmp_path, monkeypatch):
        demo = pytest.importorskip("qser_core.demo")
        _crema_folder(tmp_path, actors=(1001, 1002))
        monkeypatch.setattr(demo, "demo_corpus_dir", lambda **kwargs: tmp_path)  # generation is demo.py's test
        corpus = load_corpus(DataConfig())
        assert corpus.dataset == "demo" and len(corpus.table) == 12


# ---------------------------------------------------------------------------- splits
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
        table = _synthetic_table()
        for seed in range(5):
            split = split_by_speaker(table, seed=seed)
            _check_partition(table, split)
            assert len(split.val) and len(split.test)
            assert 3 <= len(_speakers(table, split.test)) <= 5  # about 20% of 20 speakers
            assert 2 <= len(_speakers(table, split.val)) <= 5  # about 15%

    def test_deterministic_for_a_seed_and_different_across_seeds(self):
        table = _synthetic_table()
        a, b = split_by_speaker(table, seed=3), split_by_speaker(table, seed=3)
        assert all(np.array_equal(x, y) for x, y in zip((a.train, a.val, a.test), (b.train, b.val, b.test)))
        tests = {tuple(sorted(_speakers(table, split_by_speaker(table, seed=s).test))) for s in range(6)}
        assert len(tests) > 1

    def test_emotion_proportions_roughly_preserved(self):
        table = _synthetic_table(n_speakers=40, seed=1)
        overall = table["emotion"].value_counts(normalize=True)
        split = split_by_speaker(table, seed=0)
        for part in (split.train, split.test):
            share = table["emotion"].iloc[part].value_counts(normalize=True)
            assert (share.reindex(overall.index, fill_value=0) - overall).abs().max() < 0.06

    def test_no_validation_part(self):
        table = _synthetic_table(n_speakers=5)
        split = split_by_speaker(table, val_fraction=0.0)
        assert len(split.val) == 0
        _check_partition(table, split)

    def test_three_speakers_get_one_part_each(self):
        table = _synthetic_table(n_speakers=3)
        split = split_by_speaker(table, seed=1)
        _check_partition(table, split)
        assert [len(_speakers(table, p)) for p in (split.train, split.val, split.test)] == [1, 1, 1]

    def test_too_few_speakers_names_the_counts(self):
        with pytest.raises(DataError, match=r"train/val/test split needs at least 3 speakers; the table has 2"):
            split_by_speaker(_synthetic_table(n_speakers=2))
        with pytest.raises(DataError, match=r"train/test split needs at least 2 speakers; the table has 1"):
            split_by_speaker(_synthetic_table(n_speakers=1), val_fraction=0)

    def test_bad_fractions(self):
        with pytest.raises(DataError, match=r"got test_fraction=0.7, val_fraction=0.4"):
            split_by_speaker(_synthetic_table(), test_fraction=0.7, val_fraction=0.4)


class TestSpeakerFolds:
    def test_every_speaker_is_tested_exactly_once(self):
        table = _synthetic_table()
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
        table = _synthetic_table()
        a, b = speaker_folds(table, seed=7), speaker_folds(table, seed=7)
        assert all(np.array_equal(x.test, y.test) and np.array_equal(x.val, y.val) for x, y in zip(a, b))
        c = speaker_folds(table, seed=8)
        assert any(not np.array_equal(x.test, y.test) for x, y in zip(a, c))

    def test_emotion_proportions_roughly_preserved(self):
        table = _synthetic_table(n_speakers=40, seed=2)
        overall = table["emotion"].value_counts(normalize=True)
        for fold in speaker_folds(table, n_folds=4, seed=0):
            share = table["emotion"].iloc[fold.test].value_counts(normalize=True)
            assert (share.reindex(overall.index, fill_value=0) - overall).abs().max() < 0.08

    def test_without_validation(self):
        table = _synthetic_table(n_speakers=4)
        for fold in speaker_folds(table, n_folds=4, val_fraction=0.0):
            assert len(fold.val) == 0
            _check_partition(table, fold)

    def test_too_few_speakers_names_the_counts(self):
        with pytest.raises(DataError, match=r"5 speaker-disjoint folds with a validation part needs at least "
                                             r"6 speakers; the table has 4; lower data.n_folds \(at most 3\)"):
            speaker_folds(_synthetic_table(n_speakers=4), n_folds=5)
        with pytest.raises(DataError, match=r"n_folds must be at least 2; got 1"):
            speaker_folds(_synthetic_table(), n_folds=1)

    def test_missing_columns(self):
        with pytest.raises(DataError, match=r"lacks the column\(s\) speaker"):
            speaker_folds(pd.DataFrame({"emotion": ["ANG"]}))


class TestCounts:
    def test_counts_by_speaker_and_emotion(self, tmp_path):
        table = index_corpus(_crema_folder(tmp_path, emotions=("ANG", "ANG", "SAD")), dataset="crema-d").table
        by_speaker = counts_by(table, "speaker")
        assert list(by_speaker.columns) == ["clips", *EMOTIONS]
        assert by_speaker.loc["1001"].tolist() == [3, 2, 0, 0, 0, 0, 1]
        by_emotion = counts_by(table, "emotion")
        assert by_emotion.index.tolist() == list(EMOTIONS)
        assert by_emotion.loc["ANG"].tolist() == [6, 3] and by_emotion.loc["FEA"].tolist() == [0, 0]
        summary = corpus_summary(table)
        assert summary["n_clips"] == 9 and summary["n_speakers"] == 3
        assert summary["clips_per_speaker"] == {"min": 3, "max": 3}

    def test_unknown_column(self):
        with pytest.raises(DataError, match=r"column 'actor' is not in the table"):
            counts_by(_synthetic_table(), "actor")
