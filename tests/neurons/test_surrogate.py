"""Surrogate spike functions: exact Heaviside forward, backward = derivative of the smooth primitive."""

from __future__ import annotations

import pickle

import pytest
import torch

from msg.neurons import SURROGATES, ATan, FastSigmoid, Rectangle, Sigmoid, SpikeFunction, Triangle, get_surrogate
from msg.neurons.surrogate import heaviside

ALL = [Sigmoid, ATan, Triangle, FastSigmoid, Rectangle]


def _away_from_kinks(surrogate, x: torch.Tensor) -> torch.Tensor:
    """Drop points within 1e-4 of the primitive's non-smooth points (Triangle, Rectangle, FastSigmoid at 0)."""
    a = surrogate.alpha
    kinks = {Triangle: [0.0, 1.0 / a, -1.0 / a], Rectangle: [0.5 / a, -0.5 / a], FastSigmoid: [0.0]}
    keep = torch.ones_like(x, dtype=torch.bool)
    for k in kinks.get(type(surrogate), []):
        keep &= (x - k).abs() > 1e-4
    return x[keep]


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("alpha", [None, 0.7, 3.0])
def test_derivative_matches_finite_differences_of_primitive(cls, alpha):
    surrogate = cls(alpha)
    x = _away_from_kinks(surrogate, torch.linspace(-3, 3, 2001, dtype=torch.float64))
    eps = 1e-6
    numeric = (surrogate.primitive(x + eps) - surrogate.primitive(x - eps)) / (2 * eps)
    torch.testing.assert_close(surrogate.derivative(x), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_forward_is_exact_heaviside_in_input_dtype(cls, dtype):
    x = torch.tensor([-2.0, -1e-3, 0.0, 1e-3, 2.0], dtype=dtype, requires_grad=True)
    z = cls()(x)
    assert z.dtype == dtype
    assert z.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_heaviside_equals_comparison_cast_for_every_value_and_layout(dtype):
    special = torch.tensor([-0.0, 0.0, float("nan"), float("inf"), -float("inf"), 1e-30, -1e-30])
    x = torch.cat([torch.randn(500), special]).to(dtype).reshape(13, 39).t()  # non-contiguous
    z = heaviside(x)
    assert z.dtype == dtype and z.stride() == x.stride()
    assert torch.equal(z, (x >= 0).to(dtype))


@pytest.mark.parametrize("cls", ALL)
def test_without_autograd_the_spike_skips_the_function_and_has_no_graph(cls):
    x = torch.randn(64, requires_grad=True)
    with torch.no_grad():
        z = cls()(x)
    assert z.grad_fn is None and not z.requires_grad
    assert torch.equal(z, (x.detach() >= 0).float())
    plain = cls()(x.detach())  # an input that needs no gradient: no graph either
    assert plain.grad_fn is None and torch.equal(plain, z)
    assert cls()(x).grad_fn is not None  # with autograd the surrogate Function runs


@pytest.mark.parametrize("cls", ALL)
def test_backward_is_grad_times_derivative(cls):
    surrogate = cls()
    x = torch.randn(100, dtype=torch.float64, requires_grad=True)
    g = torch.randn(100, dtype=torch.float64)
    (grad,) = torch.autograd.grad(surrogate(x), x, g)
    torch.testing.assert_close(grad, g * surrogate.derivative(x.detach()), rtol=0, atol=0)
    assert torch.equal(SpikeFunction.apply(x, surrogate), surrogate(x))


@pytest.mark.parametrize("cls", ALL)
def test_in_place_derivative_equals_derivative(cls):
    surrogate = cls(1.3)
    x = torch.randn(50, dtype=torch.float64)
    buf = x.clone()
    out = surrogate.derivative_(buf)
    assert out.data_ptr() == buf.data_ptr()
    torch.testing.assert_close(out, surrogate.derivative(x))


def test_triangle_is_lsnn_pseudo_derivative():
    x = torch.tensor([-1.5, -0.5, 0.0, 0.25, 1.0], dtype=torch.float64)
    expected = 0.3 * torch.clamp(1 - x.abs(), min=0)
    torch.testing.assert_close(Triangle().derivative(x), expected)
    assert Triangle().dampening == 0.3


def test_defaults_and_repr():
    assert [cls().alpha for cls in ALL] == [4.0, 2.0, 1.0, 25.0, 1.0]
    assert repr(Sigmoid()) == "Sigmoid(alpha=4.0)"
    assert repr(Triangle(2.0)) == "Triangle(alpha=2.0, dampening=0.3)"


def test_get_surrogate_by_name():
    assert isinstance(get_surrogate("ATan"), ATan)
    assert isinstance(get_surrogate("fast_sigmoid", alpha=5.0), FastSigmoid)
    assert get_surrogate("sigmoid", alpha=2.5).alpha == 2.5
    assert get_surrogate("sigmoid") is not get_surrogate("sigmoid")
    assert set(SURROGATES) == {"sigmoid", "atan", "triangle", "fastsigmoid", "rectangle"}
    with pytest.raises(ValueError, match="unknown surrogate 'relu'.*atan"):
        get_surrogate("relu")


@pytest.mark.parametrize("cls", ALL)
def test_bad_alpha_raises(cls):
    with pytest.raises(ValueError, match=f"{cls.__name__}: alpha must be > 0, got -1.0"):
        cls(-1.0)


def test_bad_dampening_raises():
    with pytest.raises(ValueError, match="Triangle: dampening must be > 0, got 0"):
        Triangle(dampening=0)


@pytest.mark.parametrize("cls", ALL)
def test_pickles(cls):
    surrogate = pickle.loads(pickle.dumps(cls(1.5)))
    x = torch.randn(10, dtype=torch.float64)
    torch.testing.assert_close(surrogate.derivative(x), cls(1.5).derivative(x))
