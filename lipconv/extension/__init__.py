"""Lipschitz extensions (McShane, Whitney, midpoint, Kirszbraun) and discrete Lipschitz constants."""
from ._constants import dataset_lipschitz_constant, lipschitz_constant
from ._extend import KINDS, extend
from ._kirszbraun import kirszbraun
from ._mcshane import mcshane, midpoint, whitney

__all__ = [
    "mcshane", "whitney", "midpoint", "kirszbraun", "extend", "KINDS",
    "lipschitz_constant", "dataset_lipschitz_constant",
]
from ._amle import AMLEResult, absolutely_minimizing_extension, graph_infinity_laplacian, point_cloud_graph

__all__ += ["absolutely_minimizing_extension", "AMLEResult", "graph_infinity_laplacian", "point_cloud_graph"]
