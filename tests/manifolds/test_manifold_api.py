"""The public contract: construction, curvature, repr, get_manifold, layout helpers and clear errors on bad input."""

from __future__ import annotations

import geoopt
import pytest
import torch
from manifold_cases import NAMES, make, points, width
from msg.manifolds import MANIFOLD_NAMES, Euclidean, Lorentz, Manifold, Product, Sphere, get_manifold


def test_repr():
    assert repr(Lorentz()) == "Lorentz(curvature=-1.0)"
    assert repr(Sphere(2.5)) == "Sphere(curvature=2.5)"
    assert repr(Euclidean()) == "Euclidean()"
    assert repr(Lorentz(-0.7, learnable=True)) == "Lorentz(curvature=-0.7, learnable=True)"
    assert repr(Product(Lorentz(), Sphere())) == "Product(Lorentz(curvature=-1.0), Sphere(curvature=1.0))"
    assert repr(get_manifold("torus")) == "Product(Sphere(curvature=1.0), Sphere(curvature=1.0), dims=(1, 1))"


def test_every_manifold_is_a_geoopt_manifold():
    for name in NAMES:
        m, _ = make(name)
        assert isinstance(m, Manifold) and isinstance(m, geoopt.manifolds.base.Manifold)


def test_curvature_is_a_float64_buffer_when_fixed_and_a_sign_constrained_parameter_when_learnable():
    m = Lorentz(-0.5)
    assert m.curvature.dtype == torch.float64 and m.curvature.dim() == 0
    assert "fixed_curvature" in dict(m.named_buffers()) and not list(m.parameters())
    assert float(m.curvature) == -0.5 and float(m.radius) == pytest.approx(2**0.5)
    learn = Sphere(3.0, learnable=True)
    assert [n for n, _ in learn.named_parameters()] == ["log_abs_curvature"]
    assert float(learn.curvature.detach()) == pytest.approx(3.0) and learn.curvature.requires_grad
    assert float(Euclidean().curvature) == 0.0
    torch.testing.assert_close(get_manifold("lorentz,sphere").curvature, torch.tensor([-1.0, 1.0], dtype=torch.float64))
    # the float64 buffer never promotes float32 data
    assert Lorentz().expmap0(torch.zeros(2, 3)).dtype == torch.float32


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: Lorentz(1.0), "Lorentz: curvature must be negative"),
        (lambda: Lorentz(0.0), "must be negative"),
        (lambda: Sphere(-1.0), "Sphere: curvature must be positive"),
        (lambda: Sphere(float("nan")), "must be positive"),
        (lambda: Lorentz(float("-inf"), learnable=True), "must be negative"),
    ],
)
def test_wrong_curvature_sign_raises(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_get_manifold_parses_names_products_and_the_torus():
    assert isinstance(get_manifold("lorentz"), Lorentz)
    assert isinstance(get_manifold(" Sphere "), Sphere)
    assert isinstance(get_manifold("euclidean"), Euclidean)
    p = get_manifold("lorentz,sphere")
    assert isinstance(p, Product) and [type(f) for f in p.factors] == [Lorentz, Sphere] and p.dims is None
    torus = get_manifold("torus")
    assert torus.dims == (1, 1) and all(isinstance(f, Sphere) for f in torus.factors)
    assert torus.ambient_dim(2) == 4
    m = Sphere(2.0)
    assert get_manifold(m) is m
    assert set(MANIFOLD_NAMES) == {"lorentz", "sphere", "euclidean", "torus"}


@pytest.mark.parametrize("spec", ["hyperbolic", "lorentz,poincare", "", "lorentz,,sphere"])
def test_get_manifold_rejects_unknown_names_listing_the_known_ones(spec):
    with pytest.raises(ValueError, match="known names: euclidean, lorentz, sphere, torus"):
        get_manifold(spec)


def test_get_manifold_rejects_a_torus_factor_and_other_types():
    with pytest.raises(ValueError, match="torus"):
        get_manifold("lorentz,torus")
    with pytest.raises(TypeError, match="get_manifold"):
        get_manifold(geoopt.Lorentz())


def test_ambient_dims_and_intrinsic_layout():
    assert Lorentz().ambient_dim(16) == 17 and Sphere().ambient_dim(1) == 2 and Euclidean().ambient_dim(16) == 16
    p = Product(Lorentz(), Sphere(), Euclidean())
    assert p.factor_dims(7) == (3, 2, 2)
    assert p.ambient_dim(7) == 9
    assert p.intrinsic_dim(9) == 7
    v = torch.arange(7.0).expand(2, 7)
    u = p.tangent0(v)
    assert u.shape == (2, 9)
    # layout: [0, v0..v2 | 0, v3 v4 | v5 v6]
    torch.testing.assert_close(u[0], torch.tensor([0.0, 0, 1, 2, 0, 3, 4, 5, 6]))
    parts = p.split_ambient(u)
    assert [t.shape[-1] for t in parts] == [4, 3, 2]
    torch.testing.assert_close(p.untangent0(u), v)
    explicit = Product(Lorentz(), Sphere(), dims=(5, 2))
    assert explicit.ambient_dim(7) == 9 and [t.shape[-1] for t in explicit.split_ambient(torch.zeros(9))] == [6, 3]
    with pytest.raises(ValueError, match="intrinsic dimension 7, got d=8"):
        explicit.ambient_dim(8)
    with pytest.raises(ValueError, match="at least 3"):
        p.ambient_dim(2)
    with pytest.raises(ValueError, match="positive int"):
        Lorentz().ambient_dim(0)


def test_product_constructor_validates():
    with pytest.raises(ValueError, match="at least one factor"):
        Product()
    with pytest.raises(TypeError, match="msg.manifolds.Manifold"):
        Product(Lorentz(), geoopt.Sphere())
    with pytest.raises(ValueError, match="one positive int per factor"):
        Product(Lorentz(), Sphere(), dims=(3,))


@pytest.mark.parametrize("name", NAMES)
def test_origin_and_random_shapes(name):
    m, d = make(name)
    n = width(m, d)
    assert m.origin(n).shape == (n,) and m.origin(2, 3, n).shape == (2, 3, n) and m.origin((4, n)).shape == (4, n)
    assert m.origin(n, dtype=torch.float64).dtype == torch.float64
    assert m.random(5, n).shape == (5, n)
    torch.testing.assert_close(m.dist0(m.origin(3, n)), torch.zeros(3))


def test_wrong_last_dimension_gives_a_clear_error():
    with pytest.raises(ValueError, match=r"expmap: Lorentz\(curvature=-1.0\): `x` needs an ambient last dimension"):
        Lorentz().expmap(torch.ones(4, 1), torch.ones(4, 1))
    with pytest.raises(ValueError, match=r"Sphere\(curvature=1.0\).logmap: `y` has shape \(4, 5\)"):
        Sphere().logmap(torch.ones(4, 3), torch.ones(4, 5))
    with pytest.raises(ValueError, match=r"must have ambient last dimension 4 \(dims=\(1, 1\)\), got 5"):
        get_manifold("torus").dist(torch.ones(5), torch.ones(5))
    with pytest.raises(ValueError, match="0-dim"):
        Euclidean().expmap0(torch.tensor(1.0))
    with pytest.raises(ValueError, match="origin"):
        Sphere().origin(3, 1)


def test_off_manifold_points_are_explained_and_asserted():
    m = Lorentz()
    x = m.random(4, 3, generator=torch.Generator().manual_seed(0))
    assert m.check_point_on_manifold(x) is True
    bad = x.clone()
    bad[1, 2] += 0.1
    ok, reason = m.check_point_on_manifold(bad, explain=True)
    assert not ok and "Lorentz(curvature=-1.0)" in reason and "max |K<x,x> - 1| =" in reason
    with pytest.raises(ValueError, match=r"Lorentz\(curvature=-1.0\): `x` is not on the manifold: max .* = 0\.\d+"):
        m.assert_check_point_on_manifold(bad)
    lower = -x
    ok, reason = m.check_point_on_manifold(lower, explain=True)
    assert not ok and "lower sheet" in reason
    ok, reason = m.check_point_on_manifold(torch.ones(4, 1), explain=True)
    assert not ok and "ambient last dimension" in reason
    ok, reason = Sphere().check_point_on_manifold(torch.tensor([[1.0, 1.0]]), explain=True)
    assert not ok and "Sphere(curvature=1.0)" in reason
    ok, reason = get_manifold("lorentz,sphere").check_point_on_manifold(
        torch.cat([x, torch.tensor([[0.0, 2.0]]).expand(4, 2)], -1), explain=True
    )
    assert not ok and "factor 1: Sphere" in reason
    ok, reason = Euclidean().check_point_on_manifold(torch.tensor([float("nan")]), explain=True)
    assert not ok and "non-finite" in reason


def test_off_tangent_vectors_are_explained():
    m = Sphere()
    x = m.origin(3)
    assert m.check_vector_on_tangent(x, torch.tensor([0.0, 1.0, 0.0]))
    ok, reason = m.check_vector_on_tangent(x, torch.tensor([1.0, 1.0, 0.0]), explain=True)
    assert not ok and "tangent space" in reason
    with pytest.raises(ValueError, match="tangent space"):
        m.assert_check_vector_on_tangent(x, torch.tensor([1.0, 1.0, 0.0]))
    ok, reason = m.check_vector_on_tangent(x, torch.zeros(4), explain=True)
    assert not ok and "last dimension 4" in reason


def test_check_tolerances_default_to_the_dtype():
    m = Sphere()
    x = m.origin(3, dtype=torch.float64) * (1 + 1e-7)
    assert not m.check_point_on_manifold(x)  # float64 default tolerance 1e-10
    assert m.check_point_on_manifold(x.float())  # float32 default 1e-5
    assert m.check_point_on_manifold(x, atol=1e-6)


def test_state_dict_round_trip_and_dtype_moves():
    m = Lorentz(-0.3, learnable=True)
    m2 = Lorentz(-1.0, learnable=True)
    m2.load_state_dict(m.state_dict())
    assert float(m2.curvature.detach()) == pytest.approx(-0.3)
    assert Lorentz().float().curvature.dtype == torch.float32
    assert points(Lorentz().float(), 3, 2, torch.float32).dtype == torch.float32
