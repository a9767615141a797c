"""Small seeded torch models and data shared by the lipconv.nn tests (float64, inputs in [0.25, 0.75])."""
from __future__ import annotations

import torch
import torch.nn as nn


def mlp(d=6, k=3, h=8, act=nn.Tanh, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, h), act(), nn.Linear(h, h), act(), nn.Linear(h, k)).double()


def cnn(seed=0, bn=True):
    torch.manual_seed(seed)
    layers = [nn.Conv2d(1, 3, 3, padding=1)]
    if bn:
        layers.append(nn.BatchNorm2d(3))
    layers += [nn.Tanh(), nn.Flatten(), nn.Linear(3 * 5 * 5, 4)]
    return nn.Sequential(*layers).double()


def data(n=6, d=6, k=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = 0.25 + 0.5 * torch.rand((n, d), generator=g, dtype=torch.float64)
    y = torch.randint(0, k, (n,), generator=g)
    return x, y
