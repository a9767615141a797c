"""Tests of lipconv.nn: regularizers, attacks and robustness metrics against the seeds' claims.

Small float64 networks on CPU; each test names the claim it checks.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
nn = torch.nn

from _torch_models import cnn as _cnn, data as _data, mlp as _mlp  # noqa: E402

import lipconv.nn as L  # noqa: E402

INF = math.inf
NORMS = {"L2": 2.0, "Linf": INF, "L1": 1.0}


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _vnorm(t, p):
    return torch.linalg.vector_norm(t.reshape(t.shape[0], -1), ord=p, dim=1)


# ----------------------------------------------------------------------------- [FOA] Lemma 3.1 / B.1
@pytest.mark.parametrize("norm", ["L2", "Linf"])
def test_one_step_attack_is_tv_to_second_order(norm):
    """Seed 001 Lemma 3.1 / B.1: l(x + eps d) - l(x) - eps ||grad l||_* = O(eps^2).

    The ratio of the remainder to eps^2 stays bounded (and settles) as eps halves. With the wrong
    dual norm the remainder would be O(eps) and the ratio would double at every halving.
    """
    model = _mlp()
    x, y = _data()
    gnorm = L.tv_penalty(model, x, y, norm=norm).per_sample.detach()
    loss = torch.nn.functional.cross_entropy(model(x), y, reduction="none").detach()
    ratios = []
    for k in range(3, 12):
        eps = 2.0 ** -k
        xa = L.fgsm(model, x, y, eps=eps, norm=norm, clamp=None)
        # xa - x loses the rounding of x + eps d, <= 2^-54 per entry for x in [0.25, 0.75]: relative
        # to eps = 2^-11 at most sqrt(6) 2^-54 / 2^-11 = 2.8e-13 (plus a few eps from ||d||), below 1e-12.
        np.testing.assert_allclose(_vnorm(xa - x, NORMS[norm]).numpy(), eps, rtol=1e-12)
        la = torch.nn.functional.cross_entropy(model(xa), y, reduction="none").detach()
        ratios.append(((la - loss - eps * gnorm) / eps ** 2).numpy())
    ratios = np.array(ratios)
    assert np.all(np.abs(ratios) <= 2.0 * np.abs(ratios[0]).max() + 1e-3)
    # Settling: successive ratios differ by O(eps), so the last halvings barely move them.
    np.testing.assert_allclose(ratios[-1], ratios[-2], rtol=0, atol=1e-2 * np.abs(ratios[0]).max() + 1e-6)


# ----------------------------------------------------------------------------- [FO] Prop. 3.2
@pytest.mark.parametrize("norm", ["L2", "Linf"])
def test_fd_penalty_converges_to_exact_squared_gradient_norm(norm):
    """Seed 002 Prop. 3.2 / Algorithm 1: the FD penalty -> the double-backprop value as h -> 0, error O(h)."""
    model = _mlp()
    x, y = _data()
    exact = L.double_backprop_penalty(model, x, y, norm=norm).per_sample.detach().numpy()
    errs = []
    for h in [1e-1, 1e-2, 1e-3, 1e-4]:
        fd = L.fd_gradient_penalty(model, x, y, norm=norm, h=h).per_sample.detach().numpy()
        errs.append(np.abs(fd - exact).max())
    assert all(b < 0.2 * a for a, b in zip(errs, errs[1:]))
    np.testing.assert_allclose(
        L.fd_gradient_penalty(model, x, y, norm=norm, h=1e-5).per_sample.detach().numpy(), exact, rtol=1e-3)
    # With d detached, the parameter gradient also converges (what training uses).
    params = list(model.parameters())
    g_fd = torch.autograd.grad(L.fd_gradient_penalty(model, x, y, norm=norm, h=1e-5).value, params)
    g_ex = torch.autograd.grad(L.double_backprop_penalty(model, x, y, norm=norm).value, params)
    for a, b in zip(g_fd, g_ex):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-3, atol=1e-3 * float(b.abs().max()))


def test_fd_linf_variant_uses_sign_over_sqrt_n():
    """Seed 002 §3.1: the squared-l1 variant steps along sign(g)/sqrt(N), so it tends to ||g||_1^2 / N."""
    model = _mlp()
    x, y = _data()
    xg = x.clone().requires_grad_(True)
    g = torch.autograd.grad(torch.nn.functional.cross_entropy(model(xg), y, reduction="sum"), xg)[0]
    expect = (g.abs().sum(dim=1) ** 2 / x.shape[1]).numpy()
    got = L.fd_gradient_penalty(model, x, y, norm="Linf", h=1e-6).per_sample.detach().numpy()
    np.testing.assert_allclose(got, expect, rtol=1e-4)


@pytest.mark.parametrize("norm", ["L2", "Linf"])
def test_tv_fd_matches_exact(norm):
    """Seed 000 eq. (2.8): the finite difference along the attack direction estimates ||grad l||_*."""
    model = _mlp()
    x, y = _data()
    ex = L.tv_penalty(model, x, y, norm=norm, method="exact")
    fd = L.tv_penalty(model, x, y, norm=norm, method="fd", h=1e-6)
    np.testing.assert_allclose(fd.per_sample.detach().numpy(), ex.per_sample.detach().numpy(), rtol=1e-4)
    lip = L.lipschitz_penalty(model, x, y, norm=norm)
    np.testing.assert_allclose(float(lip.value.detach()), float(ex.norms.max()), rtol=1e-12)
    np.testing.assert_allclose(float(ex.value.detach()), float(ex.norms.mean()), rtol=1e-12)


# ----------------------------------------------------------------------------- [RKH] Theorem 1
def _relu_pattern(model, x):
    pre = []
    h = x
    for m in model:
        h = m(h)
        if isinstance(m, nn.Linear):
            pre.append(h > 0)
    return torch.cat(pre[:-1], dim=1)


@pytest.mark.parametrize("p,q", [("L2", "L2"), ("Linf", "L1"), ("Linf", "L2"), ("L2", "Linf")])
@pytest.mark.parametrize("alpha", [INF, 1e9])
def test_pga_with_lq_logit_loss_is_power_method(p, q, alpha):
    """Seed 003 Theorem 1: in one linear region and as alpha -> inf, l_p PGA on ||f(x) - f(x*)||_q
    follows the power-method limit (eq. (12)) of the (p, q) operator norm: same direction, same value."""
    model = _mlp(act=nn.ReLU, seed=3)
    x, _ = _data(n=4, seed=5)
    eps, steps = 1e-7, 6
    pp, qq = NORMS[p], NORMS[q]
    g = torch.Generator().manual_seed(7)
    v0 = torch.randn(x.shape, generator=g, dtype=torch.float64)
    v0 = torch.sign(v0) if math.isinf(pp) else v0 / v0.norm(dim=1, keepdim=True)
    fx = model(x).detach()
    loss = lambda logits, z: torch.linalg.vector_norm(logits - z, ord=qq, dim=1)  # noqa: E731
    xk = L.pgd(model, x, fx, eps=eps, norm=p, steps=steps, alpha=alpha, x_init=x + eps * v0,
               loss_fn=loss, clamp=None)
    assert torch.equal(_relu_pattern(model, xk), _relu_pattern(model, x)), "ball left the linear region"
    pm = L.jacobian_operator_norm(model, x, p=p, q=q, iters=steps, v0=v0)
    np.testing.assert_allclose(((xk - x) / eps).numpy(), pm.v.numpy(), rtol=0, atol=1e-5)
    value = (_vnorm(model(xk) - fx, qq) / eps).detach().numpy()
    np.testing.assert_allclose(value, pm.norms.numpy(), rtol=1e-5)


def test_power_method_sigma_matches_svd_of_extracted_jacobian():
    """Seed 003 eq. (6): the jvp/vjp power method's sigma is the top singular value of J_f(x)."""
    model = _mlp(act=nn.ReLU, seed=2)
    x, _ = _data(n=5)
    J = L.jacobian(model, x)
    svd = torch.linalg.svdvals(J)[:, 0].numpy()
    pm = L.jacobian_operator_norm(model, x, p=2, q=2, iters=300)
    np.testing.assert_allclose(pm.norms.numpy(), svd, rtol=1e-8)
    np.testing.assert_allclose(_vnorm(torch.einsum("nkd,nd->nk", J, pm.v), 2).numpy(), svd, rtol=1e-8)


@pytest.mark.parametrize("p,q", [("L1", "L2"), ("L2", "Linf"), ("Linf", "Linf"), ("Linf", "L1"), ("L2", "L1")])
def test_power_method_never_exceeds_operator_norm(p, q):
    """Seed 003 Table 1: the (p, q) iteration returns ||J v||_q with ||v||_p = 1, a lower bound of
    ||J||_{p,q}; it equals the closed form where one exists and v is feasible."""
    model = _mlp(act=nn.ReLU, seed=4)
    x, _ = _data(n=5)
    J = L.jacobian(model, x)
    pp, qq = NORMS[p], NORMS[q]
    pm = L.jacobian_operator_norm(model, x, p=p, q=q, iters=50)
    np.testing.assert_allclose(_vnorm(pm.v, pp).numpy(), 1.0, rtol=1e-12)
    if pp == 1.0:
        exact = torch.linalg.vector_norm(J, ord=qq, dim=1).amax(dim=1)
    elif math.isinf(qq):
        exact = torch.linalg.vector_norm(J, ord=1.0 if math.isinf(pp) else 2.0, dim=2).amax(dim=1)
    else:
        exact = None
    np.testing.assert_allclose(_vnorm(torch.einsum("nkd,nd->nk", J, pm.v), qq).numpy(), pm.norms.numpy(),
                               rtol=1e-10)
    if exact is not None:
        assert np.all(pm.norms.numpy() <= exact.numpy() * (1 + 1e-10))


def test_spectral_penalty_forms_agree_in_a_linear_region():
    """Seed 003 §4.1: sum-of-squares ||f(x + eps v) - f(x)||^2 / eps^2 equals sigma^2 in the linear region,
    and both give the same parameter gradient."""
    model = _mlp(act=nn.ReLU, seed=3)
    x, _ = _data(n=4)
    a = L.jacobian_spectral_penalty(model, x, iters=100, form="sigma")
    b = L.jacobian_spectral_penalty(model, x, iters=100, form="sum_of_squares", eps=1e-7)
    np.testing.assert_allclose(float(b.value.detach()), float(a.value.detach()), rtol=1e-6)
    np.testing.assert_allclose(a.per_sample.detach().numpy(), 0.5 * a.norms.numpy() ** 2, rtol=1e-10)
    params = list(model.parameters())
    ga = torch.autograd.grad(a.value, params, allow_unused=True, materialize_grads=True)
    gb = torch.autograd.grad(b.value, params, allow_unused=True, materialize_grads=True)
    for u, w in zip(ga, gb):
        np.testing.assert_allclose(w.numpy(), u.numpy(), rtol=1e-4, atol=1e-8)


# ----------------------------------------------------------------------------- [FOA] Lemma 2.2
@pytest.mark.parametrize("norm", ["L2", "Linf"])
def test_loss_increase_bounded_by_lipschitz_constant(norm):
    """Seed 001 Lemma 2.2: l(x + a) <= l(x) + L eps for ||a|| <= eps, with L known in closed form.

    l(x) = u tanh(w.x + b) has Lip = |u| ||w||_* exactly (the gradient norm peaks on w.x + b = 0);
    PGD cannot beat the bound, and on the hyperplane a tiny attack nearly attains it.
    """
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 1), nn.Tanh(), nn.Linear(1, 1, bias=False)).double()
    w, u = net[0].weight.detach()[0], float(net[2].weight.detach())
    Lip = abs(u) * float(torch.linalg.vector_norm(w, ord=1.0 if norm == "Linf" else 2.0))
    loss = lambda out, y: out[:, 0]  # noqa: E731
    x, _ = _data(n=8, d=5)
    x[0] -= (net[0](x[:1]).detach()[0, 0] / (w @ w)) * w  # put sample 0 on the hyperplane
    y = torch.zeros(8, dtype=torch.long)
    for eps in [1e-3, 0.05, 0.3]:
        xa = L.pgd(net, x, y, eps=eps, norm=norm, steps=30, alpha=eps / 2, loss_fn=loss, clamp=None)
        gain = (loss(net(xa), y) - loss(net(x), y)).detach().numpy()
        assert np.all(gain <= Lip * eps * (1 + 1e-12))
        if eps == 1e-3:
            np.testing.assert_allclose(gain[0], Lip * eps, rtol=1e-3)
    est = L.empirical_lipschitz(net, x, norm=norm, of="loss", y=y, loss_fn=loss)
    np.testing.assert_allclose(est.value, Lip, rtol=1e-12)
    assert est.argmax == 0


@pytest.mark.parametrize("norm,out_norm", [("L2", "L2"), ("L2", "Linf"), ("Linf", "Linf"), ("L1", "L2"), ("L2", "L1")])
def test_empirical_lipschitz_below_layer_norm_product(norm, out_norm):
    """Seed 001 eqs. (5)-(6): max gradient norm over data <= Lip <= product of layer norms."""
    model = _cnn()
    model.eval()
    model[1].running_var.fill_(2.0)
    x = torch.rand((10, 1, 5, 5), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    est = L.empirical_lipschitz(model, x, norm=norm, out_norm=out_norm)
    bound = float(L.layer_norm_product(model, input_shape=(1, 5, 5), norm=norm, out_norm=out_norm))
    assert est.exact
    assert 0 < est.value <= bound
    # The bound keeps BatchNorm's scaling ([FOA] §4): quadrupling the running variance halves it.
    model[1].running_var.fill_(8.0)
    np.testing.assert_allclose(float(L.layer_norm_product(model, input_shape=(1, 5, 5), norm=norm, out_norm=out_norm)),
                               bound / math.sqrt((8.0 + 1e-5) / (2.0 + 1e-5)), rtol=1e-9)


def test_layer_norm_product_handles_average_pooling():
    """Seed 001 eq. (6) with an average-pooling layer (a linear map with its own operator norm)."""
    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                          nn.Linear(2 * 2 * 2, 3)).double()
    x = torch.rand((8, 1, 4, 4), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    res = L.layer_norm_product(model, input_shape=(1, 4, 4), norm="L2", out_norm="L2")
    assert len(res.factors) == 3
    # 2x2 average pooling has spectral norm 1/2 (each output averages 4 disjoint inputs).
    np.testing.assert_allclose(float(res.factors[1].value), 0.5, rtol=1e-12)
    assert L.empirical_lipschitz(model, x, norm="L2", out_norm="L2").value <= float(res)


def test_layer_norm_product_is_exact_for_a_linear_chain():
    """Seed 001 eq. (6) with identity activations: the spectral product of two layers bounds ||W2 W1||."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 4, bias=False), nn.Linear(4, 3, bias=False)).double()
    W1, W2 = model[0].weight.detach(), model[1].weight.detach()
    b = float(L.layer_norm_product(model, input_shape=(4,), norm="L2", out_norm="L2"))
    np.testing.assert_allclose(b, float(torch.linalg.matrix_norm(W1, 2) * torch.linalg.matrix_norm(W2, 2)),
                               rtol=1e-10)


# ----------------------------------------------------------------------------- regularizers: mechanics
def _all_penalties():
    return {
        "tv_exact": functools.partial(L.tv_penalty, norm="L2"),
        "tv_fd": functools.partial(L.tv_penalty, norm="Linf", method="fd"),
        "lipschitz": functools.partial(L.lipschitz_penalty, norm="L2"),
        "fd_l2": functools.partial(L.fd_gradient_penalty, norm="L2"),
        "fd_l1": functools.partial(L.fd_gradient_penalty, norm="Linf"),
        "double_backprop": functools.partial(L.double_backprop_penalty, norm="L2"),
        "jac_spectral": lambda m, x, y: L.jacobian_spectral_penalty(m, x, iters=3),
        "jac_sos": lambda m, x, y: L.jacobian_spectral_penalty(m, x, iters=3, form="sum_of_squares"),
        "jac_operator": lambda m, x, y: L.jacobian_operator_penalty(m, x, p="Linf", q="L1", iters=3),
        "global_spectral": lambda m, x, y: L.global_spectral_penalty(m, input_shape=(1, 5, 5)),
        "global_spectral_reshaped": lambda m, x, y: L.global_spectral_penalty(m, conv="reshaped"),
    }


def _check_penalty(model, x, y, pen):
    model.train()
    model[1].eval()  # a mixed state, to see that every flag comes back
    flags = [m.training for m in model.modules()]
    r = pen(model, x, y)
    assert [m.training for m in model.modules()] == flags
    assert r.value.ndim == 0 and torch.isfinite(r.value)
    grads = torch.autograd.grad(r.value, [p for p in model.parameters()], allow_unused=True)
    got = [g for g in grads if g is not None]
    assert got and all(torch.isfinite(g).all() for g in got)
    assert any(float(g.abs().sum()) > 0 for g in got)
    return r


@pytest.mark.parametrize("name", sorted(_all_penalties()))
def test_every_regularizer_gives_finite_gradients_and_restores_mode(name):
    """All regularizers: finite parameter gradients in eager mode on CPU; train/eval flags restored."""
    model = _cnn()
    x = torch.rand((4, 1, 5, 5), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3])
    _check_penalty(model, x, y, _all_penalties()[name])


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(_all_penalties()))
def test_every_regularizer_runs_on_cuda(name):
    """All regularizers run on CUDA: in float64 they match the CPU value, in float32 they are finite."""
    model = _cnn()
    x = torch.rand((4, 1, 5, 5), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3])
    cpu = _check_penalty(model, x, y, _all_penalties()[name])
    gpu = _check_penalty(model.cuda(), x.cuda(), y.cuda(), _all_penalties()[name])
    assert gpu.value.device.type == "cuda"
    np.testing.assert_allclose(float(gpu.value.detach()), float(cpu.value.detach()), rtol=1e-6, atol=1e-9)
    single = _check_penalty(model.float(), x.float().cuda(), y.cuda(), _all_penalties()[name])
    assert single.value.dtype == torch.float32


def test_batchnorm_in_train_mode_does_not_couple_per_sample_gradients():
    """Per-sample gradients stay per-sample: changing the other samples of the batch leaves sample 0's
    gradient norm unchanged even with BatchNorm in train mode (it runs on running statistics)."""
    model = _cnn()
    model.train()
    g = torch.Generator().manual_seed(0)
    x = torch.rand((4, 1, 5, 5), generator=g, dtype=torch.float64)
    x2 = x.clone()
    x2[1:] = torch.rand((3, 1, 5, 5), generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3])
    for pen in (L.tv_penalty, L.double_backprop_penalty):
        a = pen(model, x, y).norms[0]
        b = pen(model, x2, y).norms[0]
        np.testing.assert_allclose(float(a), float(b), rtol=1e-12)
    a = L.jacobian_spectral_penalty(model, x).norms[0]
    b = L.jacobian_spectral_penalty(model, x2).norms[0]
    np.testing.assert_allclose(float(a), float(b), rtol=1e-10)
    assert model[1].training


def test_global_spectral_penalty_converges_to_layer_spectral_norms():
    """Seed 003 eqs. (4)-(5): persistent power iterations reach sigma(W); grad of sigma^2/2 is sigma u v^T
    (the reshaped-kernel option of Yoshida and Miyato; the default convolution norm is tested in
    test_nn_robust.py)."""
    model = _cnn(bn=False)
    state = {}
    for _ in range(200):
        r = L.global_spectral_penalty(model, state=state, iters=1, conv="reshaped")
    mats = [model[0].weight.reshape(3, -1), model[3].weight]
    ref = [float(torch.linalg.matrix_norm(w.detach(), 2)) for w in mats]
    np.testing.assert_allclose(r.norms.numpy(), ref, rtol=1e-8)
    np.testing.assert_allclose(float(r.value.detach()), 0.5 * sum(s * s for s in ref), rtol=1e-8)
    (gw,) = torch.autograd.grad(r.value, [model[3].weight])
    u, v = state["3"]
    np.testing.assert_allclose(gw.numpy(), (ref[1] * torch.outer(u[0], v[0])).numpy(), rtol=1e-6, atol=1e-10)


def test_regularized_loss_combines_and_reports_terms():
    """RegularizedLoss: total = mean loss + sum_k w_k R_k ([FCAO] eq. (2.6), [FOA] eq. (1))."""
    model = _mlp()
    x, y = _data()
    rl = L.RegularizedLoss({"tv": (0.5, L.tv_penalty), "lip": (0.25, L.lipschitz_penalty)})
    out = rl(model, x, y)
    tv = float(L.tv_penalty(model, x, y).value.detach())
    lip = float(L.lipschitz_penalty(model, x, y).value.detach())
    ce = float(torch.nn.functional.cross_entropy(model(x), y).detach())
    np.testing.assert_allclose(out.terms["tv"], tv, rtol=1e-12)
    np.testing.assert_allclose(float(out.total.detach()), ce + 0.5 * tv + 0.25 * lip, rtol=1e-12)
    out.total.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


# ----------------------------------------------------------------------------- attacks
def _linear_model(d=5, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, 2)).double()


@pytest.mark.parametrize("norm", ["L2", "Linf", "L1"])
def test_pgd_reaches_closed_form_maximum_on_linear_margin(norm):
    """Seed 003 eq. (17): on a linear 2-class margin, the max over the ball is l(x) + eps ||w1 - w0||_*;
    PGD reaches it, stays in the ball, and fgsm reaches it in one step."""
    model = _linear_model()
    x, _ = _data(n=5, d=5)
    y = torch.zeros(5, dtype=torch.long)
    w = (model[0].weight[1] - model[0].weight[0]).detach()
    dual = float(torch.linalg.vector_norm(w, ord={"L2": 2.0, "Linf": 1.0, "L1": INF}[norm]))
    eps = 0.2
    base = L.margin_loss(model(x), y).detach()
    for xa in (L.pgd(model, x, y, eps=eps, norm=norm, steps=20, alpha=eps, loss_fn=L.margin_loss, clamp=None),
               L.fgsm(model, x, y, eps=eps, norm=norm, loss_fn=L.margin_loss, clamp=None)):
        assert np.all(_vnorm(xa - x, NORMS[norm]).numpy() <= eps * (1 + 1e-12))
        gain = (L.margin_loss(model(xa), y) - base).detach().numpy()
        np.testing.assert_allclose(gain, eps * dual, rtol=1e-6)


def test_pgd_respects_box_and_is_seeded():
    """PGD outputs stay in [0, 1] and in the ball; the random start is reproducible from the seed."""
    model = _cnn()
    x = torch.rand((4, 1, 5, 5), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3])
    for norm in ("L2", "Linf", "L1"):
        a = L.pgd(model, x, y, eps=0.7, norm=norm, steps=3, seed=5)
        b = L.pgd(model, x, y, eps=0.7, norm=norm, steps=3, seed=5)
        assert torch.equal(a, b)
        assert float(a.min()) >= 0 and float(a.max()) <= 1
        assert np.all(_vnorm(a - x, NORMS[norm]).numpy() <= 0.7 * (1 + 1e-12))


@given(
    data=st.lists(st.floats(-3, 3, allow_nan=False), min_size=12, max_size=12),
    radius=st.floats(0.05, 2.0),
    norm=st.sampled_from(["L2", "Linf", "L1"]),
)
def test_project_ball_is_the_euclidean_projection(data, radius, norm):
    """Property: project_ball returns the nearest point of the l_p ball ([RKH] eq. (15)): it lies in
    the ball, is idempotent, and satisfies the variational inequality (d - P(d)) . (z - P(d)) <= 0 for
    points z of the ball."""
    d = torch.tensor(data, dtype=torch.float64).reshape(2, 6)
    P = L.project_ball(d, radius, norm)
    p = NORMS[norm]
    assert np.all(_vnorm(P, p).numpy() <= radius * (1 + 1e-9))
    np.testing.assert_allclose(L.project_ball(P, radius, norm).numpy(), P.numpy(), rtol=0, atol=1e-12)
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        z = torch.randn((2, 6), generator=g, dtype=torch.float64)
        z = z / _vnorm(z, p).reshape(-1, 1) * radius * torch.rand((2, 1), generator=g, dtype=torch.float64)
        assert np.all(((d - P) * (z - P)).sum(dim=1).numpy() <= 1e-9)


def test_l1_ball_projection_matches_pot_simplex_projection():
    """project_ball in l1 equals sign(x) * (POT's simplex projection of |x|, radius r) outside the ball."""
    ot = pytest.importorskip("ot")
    g = torch.Generator().manual_seed(3)
    d = torch.randn((6, 9), generator=g, dtype=torch.float64)
    r = 0.8
    got = L.project_ball(d, r, "L1")
    ref = np.sign(d.numpy()) * ot.utils.proj_simplex(np.abs(d.numpy()).T, z=r).T
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-10, atol=1e-12)
    small = 0.01 * d
    assert torch.equal(L.project_ball(small, 10.0, "L1"), small)


@pytest.mark.parametrize("norm", ["L2", "Linf"])
def test_minimal_adversarial_distance_on_linear_classifier(norm):
    """Bisection over PGD finds the exact distance margin/||w1 - w0||_* of a linear classifier
    (which also equals the L-bound of [FO] Prop. 2.2 with L = ||w1 - w0||_*)."""
    model = _linear_model()
    x, _ = _data(n=6, d=5)
    y = model(x).argmax(dim=1)
    w = (model[0].weight[1] - model[0].weight[0]).detach()
    dual = float(torch.linalg.vector_norm(w, ord=2.0 if norm == "L2" else 1.0))
    exact = np.abs((model(x)[:, 1] - model(x)[:, 0]).detach().numpy()) / dual
    res = L.minimal_adversarial_distance(model, x, y, norm=norm, eps_max=2.0, bisections=14, steps=10,
                                         alpha_ratio=1.0, clamp=None)
    assert np.all(res.distances >= exact * (1 - 1e-9))
    np.testing.assert_allclose(res.distances, exact, rtol=1e-3, atol=2.0 * 2 ** -13)
    lb = L.l_bound(L.margin_loss(model(x), y).detach().numpy(), dual)
    np.testing.assert_allclose(lb, exact, rtol=1e-10)
    assert np.all((model(res.x_adv).argmax(dim=1) != y).numpy())


def test_failed_attack_is_infinite_and_error_curve_counts_it_as_robust():
    """Seed 001 Def. 5.1: a failed attack is +inf, never 0; clean errors are 0 and count at every radius."""
    model = _linear_model()
    x, _ = _data(n=6, d=5)
    y = model(x).argmax(dim=1)
    y[0] = 1 - y[0]  # a clean error
    res = L.minimal_adversarial_distance(model, x, y, norm="L2", eps_max=1e-6, bisections=3, clamp=None)
    assert res.distances[0] == 0.0
    assert np.all(np.isinf(res.distances[1:]))
    np.testing.assert_allclose(L.error_curve(res.distances, [0.0, 1.0, 1e9]), [1 / 6] * 3, rtol=1e-12)
    assert L.median_adversarial_distance(res.distances) == INF
    np.testing.assert_allclose(L.median_adversarial_distance([0.1, 0.3, INF]), 0.3)


# ----------------------------------------------------------------------------- [FO] Prop. 2.2 and EVT
def test_omega_bound_certifies_radii_below_attack_distance():
    """Seed 002 Prop. 2.2 (omega-bound): the certified radius never exceeds the minimal adversarial
    distance found by PGD (one-sided), with omega(eps) from sampled maxima, inflated by a safety factor."""
    torch.manual_seed(0)
    model = _mlp(d=5, k=2, seed=6)
    x, _ = _data(n=12, d=5, k=2)
    y = model(x).argmax(dim=1)
    eps_grid = np.linspace(0.01, 0.6, 12)
    xg = x.clone().requires_grad_(True)
    ml = L.margin_loss(model(xg), y)
    g = torch.autograd.grad(ml.sum(), xg)[0]
    omega = np.array([L.modulus_of_continuity(model, x, y, eps=e, loss_fn=L.margin_loss).max()
                      for e in eps_grid])
    cert = L.omega_bound(ml.detach().numpy(), _vnorm(g, 2).numpy(), eps_grid, 4 * np.maximum(omega, 0))
    found = L.minimal_adversarial_distance(model, x, y, norm="L2", eps_max=3.0, bisections=10, clamp=None)
    assert np.all(cert <= found.distances + 1e-9)
    assert np.any(cert > 0)


def test_fit_extreme_value_recovers_reverse_weibull_endpoint():
    """Seed 002 §2 (GEV estimates of L and omega): an MLE GEV fit of maxima drawn from a reverse
    Weibull law recovers its right end point, and the KS p-value does not reject the right family."""
    from scipy import stats

    c, loc, scale = 0.4, 2.0, 0.5
    m = stats.genextreme.rvs(c, loc=loc, scale=scale, size=400, random_state=np.random.default_rng(0))
    fit = L.fit_extreme_value(m, p=1e-3)
    np.testing.assert_allclose(fit.endpoint, loc + scale / c, rtol=0.05)
    assert fit.sample_max <= fit.endpoint and fit.pvalue > 0.05
    assert fit.quantile <= fit.endpoint


def test_gev_estimate_of_loss_lipschitz_constant_matches_closed_form():
    """Seed 002 §2: the GEV (reverse-Weibull) fit of batch maxima of ||grad l|| estimates L; for
    l(x) = u tanh(w.x + b) the right end point lands on the closed form |u| ||w||_2."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 1), nn.Tanh(), nn.Linear(1, 1, bias=False)).double()
    Lip = abs(float(net[2].weight.detach())) * float(net[0].weight.detach().norm())
    x = torch.rand((100 * 20, 5), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.zeros(x.shape[0], dtype=torch.long)
    est = L.empirical_lipschitz(net, x, of="loss", y=y, loss_fn=lambda out, t: out[:, 0])
    assert est.value <= Lip * (1 + 1e-12)
    fit = L.fit_extreme_value(est.per_sample.reshape(100, 20).max(axis=1))
    assert fit.c > 0 and fit.endpoint >= fit.sample_max
    np.testing.assert_allclose(fit.endpoint, Lip, rtol=1e-3)


def test_gradient_norm_detector_false_positive_rate():
    """Seed 000 §7: the threshold at a chosen false-positive rate rejects at most that fraction of clean inputs."""
    model = _mlp(d=5, k=3, seed=1)
    x, _ = _data(n=40, d=5)
    det = L.gradient_norm_detector(model, x, fpr=0.1)
    assert det.clean_rejection <= 0.1
    np.testing.assert_allclose(det.detect(model, x).mean(), det.clean_rejection)
    J = L.jacobian(model, x, transform=lambda z: torch.softmax(z, dim=1))
    np.testing.assert_allclose(det.scores(model, x), torch.linalg.vector_norm(J, dim=2).amax(dim=1).numpy(),
                               rtol=1e-12)


# ----------------------------------------------------------------------------- bad input
def test_bad_input_raises_pinned_messages():
    model = _mlp()
    x, y = _data()
    with pytest.raises(ValueError, match=r"norm must be one of 1, 2, inf"):
        L.tv_penalty(model, x, y, norm="L3")
    with pytest.raises(ValueError, match=r"eps must be finite and >= 0, got -0.1"):
        L.pgd(model, x, y, eps=-0.1)
    with pytest.raises(ValueError, match=r"eps must be finite and >= 0, got -1"):
        L.fgsm(model, x, y, eps=-1)
    with pytest.raises(ValueError, match=r"h must be finite and > 0, got 0"):
        L.fd_gradient_penalty(model, x, y, h=0)
    with pytest.raises(ValueError, match=r"h must be finite and > 0, got -0.001"):
        L.tv_penalty(model, x, y, method="fd", h=-1e-3)
    with pytest.raises(ValueError, match=r"y must have shape \(6,\) with one class label per sample, got shape \(5,\)"):
        L.tv_penalty(model, x, y[:5])
    with pytest.raises(ValueError, match=r"x must have shape \(n, \.\.\.\)"):
        L.jacobian_spectral_penalty(model, x[0])
    with pytest.raises(ValueError, match=r"loss_fn must return per-sample losses of shape \(6,\)"):
        L.tv_penalty(model, x, y, loss_fn=torch.nn.functional.cross_entropy)
    with pytest.raises(ValueError, match=r"method must be 'exact' or 'fd', got 'approx'"):
        L.lipschitz_penalty(model, x, y, method="approx")
    with pytest.raises(ValueError, match=r"v0 must be a tensor of x's shape"):
        L.jacobian_operator_norm(model, x, v0=torch.zeros(3))
    with pytest.raises(ValueError, match=r"alpha must be finite and > 0, got -1"):
        L.jacobian_operator_norm(model, x, alpha=-1)
    with pytest.raises(ValueError, match=r"distances must be >= 0"):
        L.error_curve([0.1, -1.0], [0.5])
    with pytest.raises(ValueError, match=r"fpr must be in \(0, 1\), got 1.5"):
        L.gradient_norm_detector(model, x, fpr=1.5)
    with pytest.raises(ValueError, match=r"maxima must hold at least 5 finite values"):
        L.fit_extreme_value([1.0, 2.0])
    with pytest.raises(ValueError, match=r"terms\['tv'\] weight must be finite and >= 0, got -1"):
        L.RegularizedLoss({"tv": (-1, L.tv_penalty)})
    with pytest.raises(ValueError, match=r"model must be a sequence of Linear/Conv/AvgPool/BatchNorm layers"):
        L.layer_norm_product(nn.Sequential(nn.Linear(3, 3), nn.Softmax(dim=1)), input_shape=(3,))
