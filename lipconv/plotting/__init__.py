"""Figures (matplotlib, Agg backend, imported on use): log-log convergence-rate plots."""
from ._rates import plot_rate, plot_rates

__all__ = ["plot_rate", "plot_rates"]
