"""Losses with convex expressions, numpy and torch values, and the constants the theory uses."""
from ._losses import LOSSES, Loss, absolute, cross_entropy, get_loss, huber, squared

__all__ = ["Loss", "LOSSES", "get_loss", "squared", "absolute", "huber", "cross_entropy"]
