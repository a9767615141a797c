"""Resumable tidy CSV logs of the probe studies (tightness, sharpness): one row per finished run,
appended as it finishes, read back without the record an interruption cut short, and refused when
it holds rows computed with other settings."""
from __future__ import annotations

import csv
import os
from contextlib import contextmanager

from .._validation import check_input_file

__all__ = ["check_settings", "read_complete_rows", "read_frame", "row_appender", "write_report"]


def read_complete_rows(path, columns: tuple, what: str) -> list[dict]:
    """The complete rows (strings) of the CSV at ``path`` with header ``columns``; [] if it does not
    exist. A record cut short by an interruption (no line end, or missing fields) is dropped and the
    file rewritten without it, so that its run is redone; a header cut short restarts the file.

    Raises ``ValueError`` when the header differs (a CSV of another study or version): ``what``
    names the expected kind in the message."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as fh:
        text = fh.read()
    if "\n" not in text:
        with open(path, "w", newline="") as fh:
            fh.write(",".join(columns) + "\n")
        return []
    records = list(csv.reader(text.splitlines(keepends=True)))
    if tuple(records[0]) != tuple(columns):
        raise ValueError(f"output {path!r} is not a {what} CSV of this version (its columns differ); "
                         "choose another output")
    complete = text.endswith("\n")
    body = records[1:]
    rows = [dict(zip(columns, r)) for i, r in enumerate(body)
            if len(r) == len(columns) and (complete or i < len(body) - 1)]
    if len(rows) != len(body) or not complete:
        tmp = path + ".tmp"
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)
    return rows


def check_settings(rows: list[dict], settings: dict, path) -> None:
    """Raise ``ValueError`` naming the setting when ``rows`` (strings, as read) hold another value of
    one of ``settings`` (name -> value, compared as ``str(value)``) than this run asks for."""
    for name, value in settings.items():
        stored = sorted({r[name] for r in rows})
        if stored and stored != [str(value)]:
            raise ValueError(f"{name}: the CSV at {path} was computed with {name} = {', '.join(stored)}, this run "
                             f"asks for {value}; use another output (--out) or the same settings")


@contextmanager
def row_appender(path, columns: tuple):
    """A function ``write(row)`` that appends one row to the CSV at ``path`` and flushes it at once
    (the header first when the file is new), so that an interruption loses at most that row."""
    new_file = not os.path.exists(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        if new_file:
            writer.writeheader()
            fh.flush()

        def write(row: dict) -> None:
            writer.writerow(row)
            fh.flush()

        yield write


def read_frame(path, columns: tuple, what: str):
    """The CSV at ``path`` as a pandas.DataFrame, after checking that it exists and that its header is
    ``columns``: a ``ValueError`` naming ``path`` otherwise (``what`` names the expected kind), rather
    than a table of garbage or pandas' own words. NaN is read from "nan", "NaN" and empty fields only."""
    import pandas as pd

    path = check_input_file(path, "path")
    with open(path, newline="", errors="replace") as fh:
        try:
            header = next(csv.reader(fh), [])
        except csv.Error:  # not a CSV at all
            header = []
    if tuple(header) != tuple(columns):
        raise ValueError(f"path {path!r} is not a {what} CSV of this version (its header is not the {what} "
                         f"columns {columns[:3]}...)")
    return pd.read_csv(path, keep_default_na=False, na_values=["nan", "NaN", ""])


def write_report(out, table, markdown: str, lines: list, *, plot=None, figure: str = "", footer: str = "") -> str:
    """Write a probe study's report into the directory ``out``: ``table.csv`` and ``table.md`` (the
    table and its markdown), the figure ``figure`` drawn by ``plot(table, path)`` when ``plot`` is given,
    and ``summary.md``: ``lines`` and then ``footer`` (when not empty). Returns the summary's text."""
    table.to_csv(os.path.join(out, "table.csv"), index=False)
    with open(os.path.join(out, "table.md"), "w") as fh:
        fh.write(markdown + "\n")
    if plot is not None:
        plot(table, os.path.join(out, figure))
    if footer:
        lines = [*lines, "", footer]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "summary.md"), "w") as fh:
        fh.write(text)
    return text
