"""Trained models: the saved artefact (:mod:`.trained`), its files (:mod:`.storage`, no pickle) and the hybrid's network."""
