"""Lists that the docs' text takes from the code at build time, so that they cannot drift from it.

``docs/conf.py`` puts :func:`rst_prolog` at the top of every page: ``|SETTING_COLUMNS|`` then reads
as the recorded settings of a rate sweep exactly as :data:`lipconv.rates.SETTING_COLUMNS` holds
them, ``|KEY_COLUMNS|`` as the columns that identify a run (``tests/test_docs_columns.py`` checks
the guides against the code).
"""
from __future__ import annotations

from lipconv.rates import SETTING_COLUMNS
from lipconv.rates._sweep import KEY_COLUMNS

SUBSTITUTIONS = {"KEY_COLUMNS": KEY_COLUMNS, "SETTING_COLUMNS": SETTING_COLUMNS}


def rst_prolog() -> str:
    """One ``replace`` substitution per list: its names as inline literals, comma-separated."""
    return "".join(
        f".. |{name}| replace:: {', '.join(f'``{v}``' for v in values)}\n" for name, values in SUBSTITUTIONS.items()
    )
