"""Tests of qser_core.data.corpus: emotion labels, manifests, load_corpus and the count summaries.

File-name parsers and the bad-file report: tests/test_corpora.py; splits: tests/test_splits.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qser_core.config import DataConfig
from qser_core.data.corpus import EMOTIONS, counts_by, corpus_summary, index_corpus, label_index, load_corpus
from qser_core.errors import DataError

from factories import crema_folder, synthetic_table, write_wav


# ---------------------------------------------------------------------------- labels
class TestLabels:
    def test_label_index_follows_emotions_order(self):
        assert label_index(list(EMOTIONS)).tolist() == [0, 1, 2, 3, 4, 5]
        assert label_index(pd.Series(["SAD", "ANG"])).dtype == np.int64

    def test_unknown_label_is_named(self):
        with pytest.raises(DataError, match=r"must be one of ANG, DIS, FEA, HAP, NEU, SAD; got SUR"):
            label_index(["ANG", "SUR"])



class TestManifest:
    def _clips(self, tmp_path):
        for name in ("a.wav", "b.wav", "c.wav", "d.wav"):
            write_wav(tmp_path / "clips" / name)

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
        crema_folder(tmp_path)
        corpus = load_corpus(DataConfig(dataset="crema-d", data_dir=str(tmp_path)))
        assert len(corpus.table) == 18 and corpus.root == tmp_path.resolve()

    def test_demo_generates_through_demo_module(self, tmp_path, monkeypatch):
        demo = pytest.importorskip("qser_core.data.demo")
        crema_folder(tmp_path, actors=(1001, 1002))
        monkeypatch.setattr(demo, "demo_corpus_dir", lambda **kwargs: tmp_path)  # generation is demo.py's test
        corpus = load_corpus(DataConfig())
        assert corpus.dataset == "demo" and len(corpus.table) == 12



class TestCounts:
    def test_counts_by_speaker_and_emotion(self, tmp_path):
        table = index_corpus(crema_folder(tmp_path, emotions=("ANG", "ANG", "SAD")), dataset="crema-d").table
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
            counts_by(synthetic_table(), "actor")
