"""Input checks shared by every public function.

Each check raises ``ValueError`` naming the parameter, what is allowed and what
was received (STYLE.md, habit 4). Nothing here asserts.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "check_real",
    "check_points",
    "check_values",
    "check_simplex_labels",
    "check_positive",
    "check_norm",
    "check_rng",
    "check_int",
    "check_indices",
    "check_callable",
    "check_label_values",
    "check_manifold",
    "check_frame",
    "check_distinct",
    "check_output_directory",
    "check_output_file",
    "check_input_file",
    "check_fraction",
]

_NORM_ALIASES = {
    1: 1.0, "1": 1.0, "l1": 1.0,  # 1 and 1.0 are the same key
    2: 2.0, "2": 2.0, "l2": 2.0,
    "inf": np.inf, "linf": np.inf, np.inf: np.inf,
}


def check_real(a, name: str, *, allow_inf: bool = False) -> np.ndarray:
    """Return ``a`` as a float64 array of its own shape, rejecting complex input and NaN (and inf
    unless ``allow_inf``).

    ``np.asarray(a, dtype=float)`` alone would keep the real part of a complex array (with only a
    ``ComplexWarning``), so the dtype is checked first; strings, bytes and objects that are not real
    numbers are refused here too, rather than in numpy's words.
    """
    try:
        raw = np.asarray(a)
    except (TypeError, ValueError) as exc:  # ragged nesting
        raise ValueError(f"{name} must be an array of real numbers, got {type(a).__name__} ({exc})") from None
    if np.iscomplexobj(raw):
        raise ValueError(f"{name} must be real, got {raw.dtype}")
    if raw.dtype.kind in "USVMm":
        raise ValueError(f"{name} must be an array of real numbers, got dtype {raw.dtype}")
    if raw.dtype.kind == "O":
        try:
            raw = np.asarray(raw.tolist(), dtype=float) if raw.ndim else np.asarray(float(raw.item()))
        except (TypeError, ValueError):
            kinds = sorted({type(v).__name__ for v in raw.ravel()})
            raise ValueError(f"{name} must be an array of real numbers, got objects of type {', '.join(kinds)}") from None
    arr = np.asarray(raw, dtype=float)
    if allow_inf:
        bad = int(np.sum(np.isnan(arr)))
        if bad:
            raise ValueError(f"{name} must not contain NaN, got {bad} NaN entries")
    elif not np.all(np.isfinite(arr)):
        bad = int(np.sum(~np.isfinite(arr)))
        raise ValueError(f"{name} must be finite, got {bad} NaN or inf entries")
    return arr


def check_points(X, name: str = "X", *, min_rows: int = 1) -> np.ndarray:
    """Return ``X`` as a finite real float64 array of shape (n, d).

    A 1-D array is read as n points in one dimension.
    """
    arr = check_real(X, name)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n, d), got shape {arr.shape}")
    if arr.shape[0] < min_rows:
        raise ValueError(f"{name} must have at least {min_rows} rows, got n = {arr.shape[0]}")
    if arr.shape[1] < 1:
        raise ValueError(f"{name} must have at least one column, got shape {arr.shape}")
    return np.ascontiguousarray(arr)


def check_values(y, n: int, name: str = "y") -> tuple[np.ndarray, bool]:
    """Return ``(values, scalar)``: ``y`` as a finite real (n, k) float array.

    ``scalar`` is True when ``y`` was given as a vector of length n.
    """
    arr = check_real(y, name)
    scalar = arr.ndim == 1
    if scalar:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n,) or (n, k), got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} must have n = {n} rows to match X, got {arr.shape[0]}")
    if arr.shape[1] < 1:
        raise ValueError(f"{name} must have at least one column (k >= 1), got shape {arr.shape}")
    return np.ascontiguousarray(arr), scalar


def check_simplex_labels(Y: np.ndarray, name: str = "y") -> None:
    """Require labels (n, k) with k >= 2 and rows on the probability simplex, as the cross-entropy does."""
    if Y.shape[1] < 2:
        raise ValueError(
            f"{name} must have shape (n, k) with k >= 2 on the simplex for loss 'cross_entropy', got k = {Y.shape[1]}"
        )
    sums = Y.sum(axis=1)
    if np.any(Y < -1e-12) or not np.allclose(sums, 1.0, rtol=0, atol=1e-8):
        raise ValueError(
            f"{name} must have rows on the probability simplex (>= 0, summing to 1) for loss 'cross_entropy', "
            f"got entries >= {Y.min():.6g} and row sums in [{sums.min():.6g}, {sums.max():.6g}]"
        )


def check_positive(value, name: str, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a float, requiring it finite and > 0 (or >= 0)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    ok = (v >= 0) if allow_zero else (v > 0)
    if not np.isfinite(v) or not ok:
        op = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {op}, got {value}")
    return v


def check_int(value, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` as an int, requiring ``value >= minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_norm(p, name: str = "p") -> float:
    """Return the exponent of a p-norm in {1, 2, inf} as 1.0, 2.0 or ``np.inf``.

    Accepts 1, 2, ``np.inf``, and the strings "1", "2", "inf", "L1", "L2", "Linf".
    """
    key = p.lower() if isinstance(p, str) else p
    try:
        return _NORM_ALIASES[key]
    except (KeyError, TypeError):
        raise ValueError(f"{name} must be one of 1, 2, inf (or 'L1', 'L2', 'Linf'), got {p!r}") from None


def check_rng(seed, name: str = "seed") -> np.random.Generator:
    """Return a ``numpy.random.Generator`` from a seed, a Generator, or None."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, (numbers.Integral, np.random.SeedSequence)):
        return np.random.default_rng(seed)
    raise ValueError(f"{name} must be an int, a numpy Generator or None, got {seed!r}")


def check_indices(a, name: str, *, size: int, distinct: bool = False, min_len: int = 0) -> np.ndarray:
    """Return ``a`` as a 1-D int64 array of indices in [0, size) (distinct if asked, at least
    ``min_len`` of them). Floats are refused even when integral: an index computed in floating point
    is a bug upstream, not an index."""
    raw = np.asarray(a)
    if raw.ndim != 1 or not (np.issubdtype(raw.dtype, np.integer) or (raw.size == 0 and raw.dtype.kind == "f")):
        raise ValueError(f"{name} must be a 1-D array of integer indices, got {raw.dtype} with shape {raw.shape}")
    if raw.size < min_len:
        raise ValueError(f"{name} must have length >= {min_len}, got {raw.size}")
    idx = raw.astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= size):
        raise ValueError(f"{name} must hold indices in [0, {size}), got min {idx.min()} max {idx.max()}")
    if distinct and np.unique(idx).size != idx.size:
        raise ValueError(f"{name} must hold distinct indices, got {idx.size - np.unique(idx).size} repeated")
    return idx


def check_distinct(values, name: str) -> tuple:
    """Return ``values`` as a tuple, refusing repeated entries: a grid that lists a setting twice
    would run it twice (or count its runs twice)."""
    values = tuple(values)
    repeated = sorted({v for v in values if values.count(v) > 1}, key=values.index)
    if repeated:
        raise ValueError(f"{name} must list distinct values, got {', '.join(map(str, repeated))} more than once")
    return values


def _path(path, name: str) -> str:
    """``path`` as a str, refusing what is not a path (a number, None) in words naming ``name``."""
    import os

    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"{name} must be a path (str or os.PathLike), got {type(path).__name__} {path!r:.60}")
    path = os.fspath(path)
    if not isinstance(path, str) or not path:
        raise ValueError(f"{name} must be a non-empty path, got {path!r:.60}")
    return path


def check_output_directory(path, name: str) -> str:
    """Return ``path``, refusing an existing path that is not a directory (an output directory is
    created on demand, so a file there would fail only after the work)."""
    import os

    path = _path(path, name)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{name} must name a directory (created if missing), got the existing file {path!r}")
    return path


def check_output_file(path, name: str, *, parent_exists: bool = False) -> str:
    """Return ``path`` as a str, refusing what is not a path and an existing directory (a file is
    written there, which would fail only after the work); with ``parent_exists``, also a path whose
    folder does not exist (for writers that do not create it)."""
    import os

    path = _path(path, name)
    if os.path.isdir(path):
        raise ValueError(f"{name} must name a file, got the existing directory {path!r}")
    parent = os.path.dirname(os.path.abspath(path))
    if parent_exists and not os.path.isdir(parent):
        raise ValueError(f"{name} must name a file in an existing directory, got {path!r} ({parent!r} does not exist)")
    return path


def check_input_file(path, name: str) -> str:
    """Return ``path`` as a str, requiring an existing regular file."""
    import os

    path = _path(path, name)
    if not os.path.isfile(path):
        raise ValueError(f"{name} must name an existing file, got {path!r}")
    return path


def check_fraction(value, name: str) -> float:
    """Return ``value`` as a float in the open interval (0, 1) (a relative tolerance, a confidence level)."""
    v = check_positive(value, name)
    if v >= 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value}")
    return v


def check_callable(f, name: str, what: str = "a callable") -> None:
    """Require ``f`` callable; ``what`` says which callable, e.g. "a callable of t"."""
    if not callable(f):
        raise ValueError(f"{name} must be {what}, got {type(f).__name__} {f!r:.60}")


def check_manifold(manifold, name: str = "manifold"):
    """Require a :class:`lipconv.manifolds.Manifold` (not a name or a number)."""
    from .manifolds import Manifold

    if not isinstance(manifold, Manifold):
        raise ValueError(f"{name} must be a lipconv.manifolds.Manifold (e.g. Sphere(3)), got {type(manifold).__name__} "
                         f"{manifold!r:.60}")
    return manifold


def check_frame(df, name: str, *, columns=(), min_rows: int = 1):
    """Require a pandas DataFrame with at least ``min_rows`` rows and the given columns."""
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas.DataFrame, got {type(df).__name__}")
    if len(df) < min_rows:
        rows = "one row" if min_rows == 1 else f"{min_rows} rows"
        raise ValueError(f"{name} must have at least {rows}, got {len(df)}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name} must have the columns {tuple(columns)}, missing {missing}")
    return df


def check_label_values(raw, q: int, name: str = "label") -> np.ndarray:
    """The values a label function returned at q points, as a (q, k) float array; a ``ValueError``
    naming ``name`` unless they are real, finite and of shape (q,) or (q, k). A complex label would
    lose its imaginary part in a float cast, and a wrong shape would fail in a reshape or be blamed
    on a solver's ``y``."""
    try:
        y = check_real(raw, name)
    except ValueError as exc:
        raise ValueError(f"{exc} (the values it returned)") from None
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != q or y.shape[1] < 1:
        raise ValueError(f"{name} must return an array of shape (q,) or (q, k) for q = {q} points, got shape {np.shape(raw)}")
    return y
