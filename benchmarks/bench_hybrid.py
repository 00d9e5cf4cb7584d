"""Hybrid model training speed: ``python -m benchmarks --only hybrid``.

For ``train.trainable_blocks`` = 1 (and 4 in the full run): milliseconds per clip of one training
step of the trainable part (backbone tail + reduction + PQC, forward + backward + Adam, minibatch
64) on precomputed front activations, against the same step through the whole network from the
waveform (what precomputing the frozen front once per clip saves), plus the one-off front cost and
the bytes kept per clip. No target: the row documents a design choice.
"""

from __future__ import annotations

from benchmarks.common import clips, log, median, row, timings

BATCH = 64


def run(quick: bool) -> list[dict]:
    """One row per ``trainable_blocks`` value; ``quick``: 32 clips, one block, once."""
    import torch

    from qser_core.data.audio import load_batch
    from qser_core.experiments.models.hybrid_network import HybridModel
    from qser_core.features.backbones import get_backbone
    from qser_core.features.reduce import QubitReducer

    n_clips, blocks, repeat = (32, (1,), 1) if quick else (128, (1, 4), 3)
    waves = torch.from_numpy(load_batch(clips(n_clips), sr=16000))
    backbone = get_backbone("efficientnet-lite0")
    reducer = QubitReducer(n_components=8).fit(backbone.embed(waves).numpy())
    y = torch.arange(len(waves)) % 6
    rows = []
    for k in blocks:
        model = HybridModel(backbone, reducer, trainable_blocks=k, n_layers=2).train()
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)

        def epoch(inputs, forward):
            for i in range(0, len(inputs), BATCH):
                opt.zero_grad()
                torch.nn.functional.cross_entropy(forward(inputs[i:i + BATCH]), y[i:i + BATCH]).backward()
                opt.step()

        front = median(timings(lambda: model.front(waves), repeat=repeat))
        H = model.front(waves).contiguous()
        step = median(timings(lambda: epoch(H, model), repeat=repeat, warmup=1))
        full = median(timings(lambda: epoch(waves, model.forward_waveforms), repeat=1))
        n = len(waves)
        log(f"hybrid, {k} trainable block(s): {1e3 * step / n:.1f} ms/clip per step, "
            f"whole network {1e3 * full / n:.1f}")
        rows.append(row(
            f"hybrid training step, {k} trainable block(s), per clip", value=1e3 * step / n, unit="ms",
            reference="the same step through the whole network from the waveform", reference_value=1e3 * full / n,
            ratio=full / step, front_ms_per_clip=round(1e3 * front / n, 3), kept_bytes_per_clip=H[0].numel() * 4,
            clips=n, repeats=repeat,
        ))
    return rows
