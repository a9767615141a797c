"""Labelled data sets in [0, 1]^d: scikit-learn's bundled sets, MNIST-style IDX files and CIFAR
python batches ([FCAO] Table 4, [FOA] Table 2)."""
from ._loaders import (
    SKLEARN_DATASETS,
    drop_conflicting_duplicates,
    load_cifar,
    load_cifar_batch,
    load_idx,
    load_mnist,
    load_sklearn,
)

__all__ = [
    "SKLEARN_DATASETS", "load_sklearn", "load_idx", "load_mnist", "load_cifar_batch", "load_cifar",
    "drop_conflicting_duplicates",
]
