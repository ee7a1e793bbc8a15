"""The VAC CSLR training step in PyTorch: the reference ``train_step`` times against.

TemporalConv K5-P2-K5-P2 (Conv1d + BatchNorm + ReLU + MaxPool, valid padding)
-> 2-layer bidirectional ``torch.nn.LSTM`` -> linear classifier -> CTC, Adam:
the stack of VAC (Min et al. 2021) and CorrNet's ``TemporalConv`` + ``BiLSTMLayer``,
written here from their descriptions. It imports only torch and numpy, so it
runs in its own virtual environment (README "Benchmarks and scaling")::

    python3 -m venv .venv-torch
    .venv-torch/bin/pip install numpy "torch==2.13.*" --index-url https://download.pytorch.org/whl/cpu
    .venv-torch/bin/python signx_jax/benchmarks/vac_torch.py --steps 10

and prints one JSON line: the wall and CPU seconds of every timed step.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch
from torch import nn


class VAC(nn.Module):
    def __init__(self, dim: int, hidden: int, classes: int):
        super().__init__()
        layers = []
        for _ in range(2):
            layers += [
                nn.Conv1d(dim, dim, 5, bias=False),
                nn.BatchNorm1d(dim),
                nn.ReLU(inplace=True),
                nn.MaxPool1d(2),
            ]
        self.conv = nn.Sequential(*layers)
        self.lstm = nn.LSTM(dim, hidden, num_layers=2, bidirectional=True)
        self.classifier = nn.Linear(2 * hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, T, C] -> log-probabilities [T', B, classes]."""
        h = self.conv(x.transpose(1, 2)).permute(2, 0, 1)  # [T', B, C]
        h, _ = self.lstm(h)
        return self.classifier(h).log_softmax(-1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--frames", type=int, default=256)
    p.add_argument("--dim", type=int, default=1024)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--classes", type=int, default=1296)
    p.add_argument("--labels", type=int, default=8)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    a = p.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(a.batch, a.frames, a.dim)).astype(np.float32))
    labels = torch.from_numpy(rng.integers(1, a.classes, (a.batch, a.labels)))
    model = VAC(a.dim, a.hidden, a.classes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        log_probs = model(x)
        out_len = torch.full((a.batch,), log_probs.shape[0], dtype=torch.long)
        lab_len = torch.full((a.batch,), a.labels, dtype=torch.long)
        ctc(log_probs, labels, out_len, lab_len).backward()
        opt.step()

    for _ in range(2):  # warm-up
        step()
    walls, cpus = [], []
    for _ in range(a.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    print(json.dumps({"torch": torch.__version__, "wall_s": walls, "cpu_s": cpus}))


if __name__ == "__main__":
    main()
