"""Shared plumbing of the paper_figures scripts: command line, output folder, markdown tables.

Every script is runnable on its own (``python paper_figures/<script>.py [--tiny] [--out DIR]``)
and exposes ``main(argv) -> dict`` so that the smoke tests can call it with ``--tiny``.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "output"


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    p.add_argument("--tiny", action="store_true", help="smoke-test setting: seconds, not meaningful numbers")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    return p


def prepare(args) -> Path:
    """Create the output folder and select the non-interactive matplotlib backend."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    args.out.mkdir(parents=True, exist_ok=True)
    return args.out


def markdown_table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_text(path: Path, text: str) -> Path:
    path.write_text(text)
    print(f"wrote {path}")
    return path


def write_json(path: Path, obj) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=float) + "\n")


def save_figure(fig, path: Path) -> Path:
    # A fixed dpi and no timestamp metadata keep regenerated PNGs byte-stable across runs.
    fig.savefig(path, dpi=120, bbox_inches="tight", metadata={"Software": None})
    print(f"wrote {path}")
    return path


def fmt(x, digits: int = 3) -> str:
    return f"{x:.{digits}g}" if isinstance(x, float) else str(x)


def torch_single_thread() -> None:
    """One intra-op thread: these networks are tiny, and on a shared 2-core machine torch's
    thread pool makes them 5-20x slower (measured), not faster."""
    import torch

    torch.set_num_threads(1)
