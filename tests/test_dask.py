"""The rate sweep on a real Dask cluster (issue 15): a LocalCluster with two worker processes
gives rows bit-identical to a sequential run, and a resume there redoes nothing."""
from __future__ import annotations

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from lipconv.rates import SweepConfig, run_sweep  # noqa: E402

VALUE_COLUMNS = ["w1", "w1_lo", "w1_hi", "l2sq", "linf_lo", "linf_hi", "J_n", "J_un", "lipschitz", "max_violation"]


def test_dask_local_cluster_matches_sequential_and_resumes(tmp_path):
    """Both methods, the exact program and the network (on one problem and seed), on two Dask workers."""
    pytest.importorskip("torch")
    kw = dict(ms=(1, 2), ns=(16, 32), seeds=(0, 1), n_reference=64, sup_evals=20_000, progress=False,
              methods=("convex", "neural"), method_scope={"neural": {"problems": ("cube:m=1",), "seeds": (0,)}})
    seq = run_sweep(SweepConfig(output=str(tmp_path / "seq.csv"), backend="sequential", **kw))
    # The scheduler's HTTP server starts whatever dashboard_address says (None means port 8787, taken when
    # another cluster runs on the machine: a warning and a fallback port); ":0" asks for a free port.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        cfg = SweepConfig(output=str(tmp_path / "dask.csv"), backend="dask", scheduler=cluster.scheduler_address,
                          n_jobs=2, **kw)
        dsk = run_sweep(cfg)
        with distributed.Client(cluster.scheduler_address) as client:
            assert len(client.scheduler_info()["workers"]) == 2
        again = run_sweep(cfg)  # a resume into the same CSV: every row is already there
    key = ["method", "manifold", "m", "n", "seed"]
    seq, dsk, again = (t.sort_values(key).reset_index(drop=True) for t in (seq, dsk, again))
    assert len(dsk) == len(seq) == 2 * 2 * 2 + 2 and (dsk["status"] == "ok").all()
    assert (dsk["method"] == "neural").sum() == 2
    for c in VALUE_COLUMNS + ["relative_gap", "l2sq_function", "linf_function_hi", "lipschitz_upper"]:
        np.testing.assert_array_equal(dsk[c].to_numpy(), seq[c].to_numpy(), err_msg=c)
    np.testing.assert_array_equal(again["run_time"].to_numpy(), dsk["run_time"].to_numpy())
