"""Stages 1b–3 — the front end: waveforms → log-mel → frozen backbone embeddings → qubit angles.

Contract: :mod:`~qser_core.features.logmel` computes batched log-mel spectrograms;
:mod:`~qser_core.features.backbones` holds the pre-trained networks (a registry by name);
:mod:`~qser_core.features.embeddings` extracts embeddings for a corpus into
:mod:`~qser_core.features.cache`, a verified disk cache keyed by the config digest and the audio
content; :mod:`~qser_core.features.reduce` holds
:class:`~qser_core.features.reduce.QubitReducer`, fitted on training rows only, which maps
embeddings to one rotation angle per qubit. Nothing here knows about heads or experiments.
"""
