"""Hybrid model speed: ``python benchmarks/bench_hybrid.py [--clips 128] [--blocks 1 4]``.

For each ``train.trainable_blocks`` value, prints ms per clip of: the frozen front
(log-mel → stem → frozen blocks, once per clip, what ``front_activations`` does), one
training step of the trainable part (tail + reduction + PQC, forward + backward +
Adam, batch 64), the tail forward alone (evaluation), and the same training step if
the whole network ran per epoch (what precomputing the front saves), plus the
bytes per clip kept in memory.

Clips: EmoDB (``../shared/data/emodb/audio``) where present, else the synthetic demo
corpus. Timings on a shared 2-core machine are noisy: each row is the best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse

from common import best, clips  # also puts the project root on sys.path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=128)
    parser.add_argument("--blocks", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    import torch

    from qser_core.data.audio import load_batch
    from qser_core.features.backbones import get_backbone
    from qser_core.experiments.hybrid_model import HybridModel
    from qser_core.features.reduce import QubitReducer

    waves = torch.from_numpy(load_batch(clips(args.clips), sr=16000))
    n = len(waves)
    backbone = get_backbone("efficientnet-lite0")
    reducer = QubitReducer(n_components=8).fit(backbone.embed(waves).numpy())
    y = torch.arange(n) % 6
    print(f"{'blocks':>6} {'front ms/clip':>14} {'step ms/clip':>13} {'tail fwd ms/clip':>17} "
          f"{'full-net step ms/clip':>22} {'kept bytes/clip':>16}")
    for k in args.blocks:
        model = HybridModel(backbone, reducer, trainable_blocks=k, n_layers=2).train()
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        front = best(lambda: model.front(waves), args.repeat)
        H = model.front(waves).contiguous()
        batch = 64

        def step(inputs, fn):
            for i in range(0, n, batch):
                opt.zero_grad()
                torch.nn.functional.cross_entropy(fn(inputs[i:i + batch]), y[i:i + batch]).backward()
                opt.step()

        train = best(lambda: step(H, model), args.repeat)
        full = best(lambda: step(waves, model.forward_waveforms), 1)
        with torch.inference_mode():
            tail = best(lambda: model(H), args.repeat)
        print(f"{k:>6} {1e3 * front / n:>14.1f} {1e3 * train / n:>13.1f} {1e3 * tail / n:>17.1f} "
              f"{1e3 * full / n:>22.1f} {H[0].numel() * 4:>16}", flush=True)


if __name__ == "__main__":
    main()
