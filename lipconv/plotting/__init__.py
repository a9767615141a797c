"""Figures drawn from sweep tables (matplotlib, Agg backend)."""
from ._rates import plot_panel, plot_rate, plot_rates, plot_study, plot_theorem

__all__ = ["plot_rate", "plot_rates", "plot_theorem", "plot_panel", "plot_study"]
