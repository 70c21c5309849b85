"""Property-based fuzzing: tangent norms from 1e-8 to 1e3, any base point, no NaN or Inf (values and gradients)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from manifold_cases import NAMES, make, points, radius, tangents

FUZZ = settings(max_examples=40, deadline=None, derandomize=True)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@FUZZ
@given(
    log_norm=st.floats(min_value=-8.0, max_value=3.0),
    spread=st.floats(min_value=0.0, max_value=1.5),
    seed=st.integers(min_value=0, max_value=2**31 - 1),
)
def test_maps_and_gradients_stay_finite(name, dtype, log_norm, spread, seed):
    m, d = make(name)
    x = points(m, d, 6, dtype, std=spread, seed=seed).requires_grad_()
    u = (tangents(m, x.detach(), 10.0**log_norm, seed=seed + 1)).requires_grad_()
    y = m.expmap(x, u)
    assert m.check_point_on_manifold(y.detach()), m.check_point_on_manifold(y.detach(), explain=True)[1]
    outs = {
        "expmap": y,
        "logmap": m.logmap(x, y),
        "dist": m.dist(x, y),
        "transp": m.transp(x, y, u),
        "expmap0": m.expmap0(u),
        "logmap0": m.logmap0(y),
        "dist0": m.dist0(y),
        "transp0": m.transp0(y, u),
        "transp0back": m.transp0back(y, m.proju(y, u)),
        "norm": m.norm(x, u),
    }
    for op, out in outs.items():
        assert bool(torch.isfinite(out).all()), op
        grads = torch.autograd.grad(out.sum(), [x, u], allow_unused=True, retain_graph=True)
        assert all(g is None or bool(torch.isfinite(g).all()) for g in grads), op


@pytest.mark.parametrize("name", ["lorentz", "sphere", "lorentz,sphere"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_stable_at_moderate_norms(name, dtype):
    """float16/bfloat16 are computed natively with their own guards: finite and on the manifold at norms <= R."""
    m, d = make(name)
    x = points(m, d, 64, torch.float32).to(dtype)
    for scale in (0.0, 1e-3, 0.3, 1.0):
        u = tangents(m, x.float(), scale * radius(m)).to(dtype)
        y = m.expmap(x, u)
        assert y.dtype == dtype
        assert m.check_point_on_manifold(y), m.check_point_on_manifold(y, explain=True)[1]
        for out in (y, m.logmap(x, y), m.dist(x, y), m.transp(x, y, u), m.logmap0(y), m.transp0(y, u)):
            assert bool(torch.isfinite(out).all())
