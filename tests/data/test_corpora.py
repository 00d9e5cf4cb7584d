"""Tests of qser_core.data.corpora (through index_corpus): each corpus's file names and the bad-file report."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qser_core.data.corpus import COLUMNS, EMOTIONS, Corpus, corpus_summary, counts_by, index_corpus
from qser_core.errors import DataError

from factories import crema_folder, write_wav


# ---------------------------------------------------------------------------- parsers
class TestCremaD:
    def test_parses_names_sorted_with_all_columns(self, tmp_path):
        corpus = index_corpus(crema_folder(tmp_path / "AudioWAV"), dataset="crema-d")
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
        crema_folder(tmp_path / "AudioWAV")
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
        crema_folder(tmp_path / "a" / "b", actors=(1001,))
        write_wav(tmp_path / ".git" / "lfs" / "1002_DFA_ANG_XX.wav")
        (tmp_path / "notes.txt").write_text("hello")
        corpus = index_corpus(tmp_path, dataset="crema-d")
        assert len(corpus.table) == 6 and corpus.report.n_files == 6

    def test_demo_uses_the_crema_parser(self, tmp_path):
        corpus = index_corpus(crema_folder(tmp_path, actors=(1001,)), dataset="demo")
        assert corpus.dataset == "demo" and set(corpus.table["emotion"]) == set(EMOTIONS)


class TestBadFiles:
    def test_bad_files_are_reported_with_reasons_and_never_crash(self, tmp_path):
        crema_folder(tmp_path, actors=(1001,))
        (tmp_path / "1002_DFA_ANG_XX.wav").write_bytes(b"")
        good = write_wav(tmp_path / "full.wav", seconds=0.5).read_bytes()
        (tmp_path / "1002_DFA_DIS_XX.wav").write_bytes(good[: len(good) // 2])
        (tmp_path / "1002_DFA_FEA_XX.wav").write_text(
            "version https://git-lfs.github.com/spec/v1\noid sha256:" + "a" * 64 + "\nsize 71234\n")
        (tmp_path / "1002_DFA_HAP_XX.wav").write_bytes(np.random.default_rng(0).bytes(5000))
        (tmp_path / "full.wav").unlink()
        write_wav(tmp_path / "recording_7.wav")
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
            index_corpus(write_wav(tmp_path / "1001_DFA_ANG_XX.wav"), dataset="crema-d")

    def test_unknown_dataset(self, tmp_path):
        with pytest.raises(DataError, match=r"dataset must be one of demo, crema-d.*got 'iemocap'"):
            index_corpus(tmp_path, dataset="iemocap")


class TestOtherCorpora:
    def test_ravdess_drops_calm_surprised_and_song(self, tmp_path):
        # modality-channel-emotion-intensity-statement-repetition-actor
        for name in ("03-01-01-01-01-01-01.wav", "03-01-05-02-02-01-02.wav", "03-01-02-01-01-01-03.wav",
                     "03-01-08-02-01-02-03.wav", "03-02-03-01-01-01-04.wav", "03-01-07-01-01-01-04.wav",
                     "01-01-03-01-01-01-05.wav"):
            write_wav(tmp_path / "Actor_x" / name)
        corpus = index_corpus(tmp_path, dataset="ravdess")
        table = corpus.table
        assert table[["speaker", "emotion", "intensity", "sex"]].values.tolist() == [
            ["01", "NEU", "normal", "Male"], ["02", "ANG", "strong", "Female"], ["04", "DIS", "normal", "Female"]]
        assert corpus.report.dropped == {"calm": 1, "surprised": 1, "song": 1}
        assert [r for _, r in corpus.report.skipped] == ["RAVDESS modality 01 is not audio-only (03)"]

    def test_emodb_wav_and_flac(self, tmp_path):
        for name in ("03a01Wa.wav", "08a02Eb.wav", "09b03Ad.wav", "10a01Fa.wav", "11a01Na.wav", "12a01Tc.wav",
                     "13a01La.wav"):
            write_wav(tmp_path / name)
        write_wav(tmp_path / "14a05Wa.flac", fmt="FLAC")
        corpus = index_corpus(tmp_path, dataset="emodb")
        assert corpus.table["emotion"].tolist() == ["ANG", "DIS", "FEA", "HAP", "NEU", "SAD", "ANG"]
        assert corpus.table["speaker"].tolist() == ["03", "08", "09", "10", "11", "12", "14"]
        assert corpus.table["sentence"].iloc[2] == "b03" and corpus.table["sex"].iloc[0] == "Male"
        assert corpus.report.dropped == {"boredom": 1}

    def test_tess(self, tmp_path):
        for name in ("OAF_back_angry.wav", "YAF_chair_disgust.wav", "OAF_dog_fear.wav", "YAF_youth_happy.wav",
                     "OAF_bean_neutral.wav", "YAF_thumb_sad.wav", "OAF_base_ps.wav",
                     "YAF_germ_pleasant_surprise.wav"):
            write_wav(tmp_path / name.split("_")[0] / name)
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
