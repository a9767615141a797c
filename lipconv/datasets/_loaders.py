r"""Loaders of labelled data sets scaled to [0, 1]^d, for the data Lipschitz constants of [FCAO]
Table 4 / [FOA] Table 2 (:func:`lipconv.extension.dataset_lipschitz_constant`).

Offline: scikit-learn's bundled digits, iris, wine and breast-cancer sets. User files: MNIST-style
IDX files (MNIST, Fashion-MNIST; optionally gzipped) and CIFAR-10/100 python batches. The formats
are small enough that a reader is written here instead of adding a dependency (torchvision, ...).
"""
from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np

from .._validation import check_points, check_real

__all__ = [
    "SKLEARN_DATASETS", "load_sklearn", "load_idx", "load_mnist", "load_cifar_batch", "load_cifar",
    "drop_conflicting_duplicates",
]

SKLEARN_DATASETS = ("digits", "iris", "wine", "breast_cancer")

# IDX type codes (the third byte of the magic number) and their big-endian numpy types.
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def load_sklearn(name: str) -> tuple[np.ndarray, np.ndarray]:
    """One of scikit-learn's bundled data sets as ``(X in [0,1]^(n,d), labels (n,))``.

    digits is divided by 16 (its pixel range, like images divided by 255); the tabular sets are
    min-max scaled per feature, since their raw units differ by orders of magnitude.
    """
    if name not in SKLEARN_DATASETS:
        raise ValueError(f"name must be one of {SKLEARN_DATASETS}, got {name!r}")
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    X = np.asarray(bunch.data, dtype=float)
    if name == "digits":
        X = X / 16.0
    else:
        span = X.max(axis=0) - X.min(axis=0)
        X = (X - X.min(axis=0)) / np.where(span > 0, span, 1.0)
    return X, np.asarray(bunch.target)


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _file(path, name: str, what: str) -> Path:
    """``path`` as a Path to an existing file; a ``ValueError`` naming ``name`` otherwise."""
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"{name} must be a path to {what}, got {type(path).__name__} {path!r:.60}")
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{name} must be an existing {what}, got {str(path)!r}")
    return path


def load_idx(path) -> np.ndarray:
    """Read an IDX file (the MNIST format; ``.gz`` is decompressed) into an array of its shape.

    Header: two zero bytes, a type code, the number of dimensions r, then r big-endian uint32
    sizes; the data follow in C order.
    """
    return _read_idx(path, "path")


def _read_idx(path, name: str) -> np.ndarray:
    path = _file(path, name, "IDX file")
    with _open(path) as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{name} must be an IDX file (magic 0x0000TTRR), got header {raw[:4].hex()!r} in {str(path)!r}")
    ndim = raw[3]
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - offset != expected:
        raise ValueError(f"{name} must hold {expected} data bytes for shape {shape} (IDX file {str(path)!r}), got "
                         f"{len(raw) - offset}")
    return np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape).astype(dtype.newbyteorder("="))


def load_mnist(images, labels) -> tuple[np.ndarray, np.ndarray]:
    """MNIST / Fashion-MNIST from their IDX files: ``(X (n, rows*cols) in [0, 1], labels (n,))``."""
    X = _read_idx(images, "images")
    y = _read_idx(labels, "labels")
    if X.ndim < 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
        raise ValueError(f"images and labels must hold the same number n of items, got shapes {X.shape} and {y.shape}")
    return X.reshape(X.shape[0], -1).astype(float) / 255.0, y.astype(int)


def load_cifar_batch(path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10/100 python batch (``data_batch_1``, ``test_batch``, ``train``, ...):
    ``(X (n, 3072) in [0, 1], labels (n,))``; CIFAR-100 uses its fine labels.

    The batches are pickles: only load files from a source you trust.
    """
    path = _file(path, "path", "CIFAR batch file")
    try:
        with _open(path) as fh:
            batch = pickle.load(fh, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, OSError) as exc:
        raise ValueError(f"path must be a CIFAR python batch (a pickle), got {str(path)!r} ({exc})") from None
    if not isinstance(batch, dict) or b"data" not in batch:
        raise ValueError(f"path must be a CIFAR python batch (a dict with b'data'), got {str(path)!r}")
    key = b"fine_labels" if b"fine_labels" in batch else b"labels"
    if key not in batch:
        raise ValueError(f"CIFAR batch {str(path)!r} must hold b'labels' or b'fine_labels'")
    X = np.asarray(batch[b"data"], dtype=float).reshape(len(batch[key]), -1) / 255.0
    return X, np.asarray(batch[key], dtype=int)


def load_cifar(paths) -> tuple[np.ndarray, np.ndarray]:
    """Several CIFAR batches concatenated (e.g. the five ``data_batch_*`` of CIFAR-10)."""
    if isinstance(paths, (str, os.PathLike)):
        raise ValueError(f"paths must be a sequence of paths, got the single path {paths!r}; use load_cifar_batch")
    parts = []
    for p in paths:
        try:
            parts.append(load_cifar_batch(p))
        except ValueError as exc:
            raise ValueError(f"paths: {exc}") from None
    if not parts:
        raise ValueError("paths must name at least one CIFAR batch, got none")
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def drop_conflicting_duplicates(X, labels) -> tuple[np.ndarray, np.ndarray, int]:
    """Remove every copy of an input that occurs with more than one label.

    Such inputs make the data Lipschitz constant infinite; [FCAO] Table 4 and [FOA] Table 2
    exclude them for CIFAR-100. Returns ``(X, labels, n_removed)``.
    """
    X = check_points(X, "X")
    labels = np.asarray(labels)
    if labels.dtype.kind in "biufc":  # NaN differs from itself: each NaN would be a class of its own
        check_real(labels, "labels")
    if labels.shape != (X.shape[0],):
        raise ValueError(f"labels must have shape ({X.shape[0]},), got {labels.shape}")
    _, inverse = np.unique(X, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    pairs = np.unique(np.stack([inverse, np.unique(labels, return_inverse=True)[1].reshape(-1)], axis=1), axis=0)
    groups, counts = np.unique(pairs[:, 0], return_counts=True)
    bad = np.isin(inverse, groups[counts > 1])
    return X[~bad], labels[~bad], int(bad.sum())
