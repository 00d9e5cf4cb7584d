"""Stage 1a — corpora: which clips exist, their labels and speakers, and how they are split.

Contract: :func:`index_corpus` / :func:`load_corpus` turn a folder or CSV manifest into a
:class:`Corpus` (one table row per usable clip plus an :class:`IndexReport` of what was skipped and
why); :func:`split_by_speaker` and :func:`speaker_folds` never put one speaker in two parts;
:mod:`~qser_core.data.audio` decodes clips to fixed-length mono waveforms. ``demo`` (with ``espeak``)
makes the synthetic demo corpus and ``download`` fetches CREMA-D. Integer labels index :data:`EMOTIONS`.
"""

from qser_core.lazy import lazy_exports

#: Public name → submodule. Imported on first use (PEP 562), so a module that needs only
#: :data:`EMOTIONS` or the audio decoder (a saved model's ``predict``) skips the corpus table's imports.
_EXPORTS = {
    "COLUMNS": "corpus",
    "EMOTIONS": "corpus",
    "Corpus": "corpus",
    "IndexReport": "corpus",
    "counts_by": "corpus",
    "index_corpus": "corpus",
    "label_index": "corpus",
    "load_corpus": "corpus",
    "Split": "splits",
    "speaker_folds": "splits",
    "split_by_speaker": "splits",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


__all__ = [
    "EMOTIONS",
    "COLUMNS",
    "Corpus",
    "IndexReport",
    "Split",
    "counts_by",
    "index_corpus",
    "label_index",
    "load_corpus",
    "speaker_folds",
    "split_by_speaker",
]
