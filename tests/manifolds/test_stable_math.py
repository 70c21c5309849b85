"""msg.manifolds._math: the guard tables, the series/closed-form switch, safe square roots."""

from __future__ import annotations

import math

import pytest
import torch
from msg.manifolds import _math

DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]

REFERENCE = {  # closed forms in float64 for s > 0
    "cosh": lambda s: torch.cosh(s.sqrt()),
    "sinhc": lambda s: torch.sinh(s.sqrt()) / s.sqrt(),
    "cos": lambda s: torch.cos(s.sqrt()),
    "sinc": lambda s: torch.sin(s.sqrt()) / s.sqrt(),
    "asinhc": lambda s: torch.asinh(s.sqrt()) / s.sqrt(),
    "atanc": lambda s: torch.atan(s.sqrt()) / s.sqrt(),
}
OURS = {
    "cosh": lambda s: _math.cosh_sinhc_sqrt(s)[0],
    "sinhc": lambda s: _math.cosh_sinhc_sqrt(s)[1],
    "cos": lambda s: _math.cos_sinc_sqrt(s)[0],
    "sinc": lambda s: _math.cos_sinc_sqrt(s)[1],
    "asinhc": _math.asinhc_sqrt,
    "atanc": _math.atanc_sqrt,
}


@pytest.mark.parametrize("dtype", DTYPES)
def test_tables_cover_every_float_dtype_above_its_resolution(dtype):
    resolution = torch.finfo(dtype).eps
    assert _math.eps(dtype) > resolution
    assert _math.check_tolerance(dtype) > resolution
    assert 0 < _math.series_threshold(dtype) < 1
    bound = _math.max_cosh_arg(dtype)
    # squared coordinates of a point that far from one at distance 1 stay far below the dtype's range
    assert math.cosh(bound + 1) ** 2 * 64 < torch.finfo(dtype).max


def test_unknown_dtype_is_a_clear_error():
    with pytest.raises(ValueError, match="no entry for dtype torch.int64"):
        _math.eps(torch.int64)


@pytest.mark.parametrize("fn", list(OURS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_series_and_closed_form_agree_across_the_threshold(fn, dtype):
    t = _math.series_threshold(dtype)
    s = torch.tensor([t * 0.5, t * 0.999, t, t * 1.001, 2 * t, 0.3, 3.0, 40.0], dtype=torch.float64)
    expected = REFERENCE[fn](s)
    resolution = torch.finfo(dtype).eps
    torch.testing.assert_close(OURS[fn](s.to(dtype)).double(), expected, rtol=4 * resolution, atol=8 * resolution)


@pytest.mark.parametrize("fn", list(OURS))
def test_gradients_are_exact_at_and_near_zero(fn):
    s = torch.tensor([0.0, 1e-12, 1e-6, 1.2e-4, 0.5, 5.0], dtype=torch.float64, requires_grad=True)
    # finite differences (step 1e-6) across the series/closed-form switch at 1.2e-4 and beyond
    assert torch.autograd.gradcheck(lambda v: OURS[fn](v), (s[3:].detach().requires_grad_(),))
    (g,) = torch.autograd.grad(OURS[fn](s).sum(), s)
    # derivative at 0 is the first series coefficient
    first = {"cosh": 0.5, "sinhc": 1 / 6, "cos": -0.5, "sinc": -1 / 6, "asinhc": -1 / 6, "atanc": -1 / 3}[fn]
    assert g[0].item() == pytest.approx(first)
    assert bool(torch.isfinite(g).all())


def test_negative_rounding_noise_reads_as_zero():
    s = torch.tensor([-1e-18, -1e-3], dtype=torch.float64)
    torch.testing.assert_close(_math.asinhc_sqrt(s), torch.ones(2, dtype=torch.float64))
    cosh, sinhc = _math.cosh_sinhc_sqrt(s)
    torch.testing.assert_close(cosh, torch.ones(2, dtype=torch.float64))


def test_cosh_bound_saturates_along_the_geodesic():
    s = torch.tensor([100.0**2, 1e6**2], dtype=torch.float64)
    cosh, sinhc = _math.cosh_sinhc_sqrt(s, 30.0)
    torch.testing.assert_close(cosh, torch.full((2,), math.cosh(30.0), dtype=torch.float64))
    # sinhc still divides by the true theta: sinhc * theta = sinh(bound)
    torch.testing.assert_close(sinhc * s.sqrt(), torch.full((2,), math.sinh(30.0), dtype=torch.float64))
    # below the bound nothing changes
    torch.testing.assert_close(_math.cosh_sinhc_sqrt(torch.tensor([4.0]), 30.0)[0], torch.tensor([math.cosh(2.0)]))


def test_sqrt0_has_a_zero_subgradient_at_zero():
    x = torch.tensor([0.0, -1e-20, 4.0], requires_grad=True)
    y = _math.sqrt0(x)
    torch.testing.assert_close(y.detach(), torch.tensor([0.0, 0.0, 2.0]))
    (g,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(g, torch.tensor([0.0, 0.0, 0.25]))


def test_form_matches_the_definition():
    g = torch.Generator().manual_seed(0)
    u, v = torch.randn(3, 5, generator=g, dtype=torch.float64), torch.randn(3, 5, generator=g, dtype=torch.float64)
    torch.testing.assert_close(_math.form(u, v), (u * v).sum(-1))
    torch.testing.assert_close(_math.form(u, v, minkowski=True), (u * v)[:, 1:].sum(-1) - u[:, 0] * v[:, 0])
    assert _math.form(u, v, keepdim=True).shape == (3, 1)
