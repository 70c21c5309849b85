"""msg.plot.states: the geodesic polar projection, the embedding panels per factor, spike rasters and rates."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from msg.manifolds import Euclidean, Lorentz, Product, Sphere, get_manifold, lorentz_to_poincare

from msg.plot.states import embedding_figure, planar_states, principal_axes, raster_figure


def _points(manifold, n: int, d: int, std: float = 0.8, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return manifold.random(n, manifold.ambient_dim(d), std=std, dtype=torch.float64, generator=g)


@pytest.mark.parametrize("manifold", [Lorentz(-0.5), Sphere(2.0)], ids=repr)
def test_planar_states_keep_the_distance_to_the_origin(manifold) -> None:
    z = _points(manifold, 50, 6)
    p = planar_states(manifold, z)
    assert p.shape == (50, 3)
    ok, reason = manifold.check_point_on_manifold(p, explain=True)
    assert ok, reason
    torch.testing.assert_close(manifold.dist0(p), manifold.dist0(z))


@pytest.mark.parametrize("manifold", [Lorentz(), Sphere()], ids=repr)
def test_planar_states_are_an_isometry_in_two_dimensions(manifold) -> None:
    z = _points(manifold, 20, 2)
    p = planar_states(manifold, z)
    torch.testing.assert_close(manifold.dist(p[:, None], p[None]), manifold.dist(z[:, None], z[None]))


def test_planar_states_of_a_line_and_refusals() -> None:
    h1 = Lorentz()
    z = _points(h1, 10, 1)
    p = planar_states(h1, z)
    assert torch.all(p[:, 2] == 0)  # H^1 lies on a geodesic of H^2
    torch.testing.assert_close(h1.dist0(p), h1.dist0(z))
    with pytest.raises(ValueError, match="must be a Lorentz or Sphere"):
        planar_states(Euclidean(), torch.zeros(3, 2))


def test_principal_axes_are_orthonormal_and_signed() -> None:
    u = torch.randn(100, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    u[:, 3] *= 10.0  # the first axis is essentially e_3
    axes = principal_axes(u)
    torch.testing.assert_close(axes.T @ axes, torch.eye(2, dtype=torch.float64))
    assert axes[3, 0] > 0.99
    assert bool((axes.gather(0, axes.abs().argmax(0, keepdim=True)) > 0).all())
    assert principal_axes(u[:, :1]).shape == (1, 2)  # one dimension: a zero second column
    assert torch.all(principal_axes(u[:, :1])[:, 1] == 0)


def test_product_embeddings_one_panel_per_factor() -> None:
    product = get_manifold("lorentz,sphere")
    z = _points(product, 40, 8)
    labels = torch.arange(40) % 7
    fig = embedding_figure(product, z, labels, title="states")
    disk, globe = fig.axes
    assert globe.name == "3d" and disk.name == "rectilinear"
    h = product.factors[0]
    expected = lorentz_to_poincare(planar_states(h, product.split_ambient(z)[0]), h.curvature)
    np.testing.assert_allclose(disk.collections[-1].get_offsets(), expected.numpy())
    assert (np.linalg.norm(disk.collections[-1].get_offsets(), axis=1) < 1).all()
    np.testing.assert_allclose(disk.collections[-1].get_facecolors()[:7], disk.collections[-1].get_facecolors()[7:14])
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [str(k) for k in range(7)]
    assert fig.get_suptitle() == "states"


def test_stereographic_view_and_euclidean_pca() -> None:
    mixed = Product(Sphere(), Euclidean(), dims=(2, 3))
    z = _points(mixed, 30, 5)
    fig = embedding_figure(mixed, z, None, sphere_view="stereographic")
    stereo, flat = fig.axes
    assert stereo.name == flat.name == "rectilinear" and not fig.legends
    e = mixed.split_ambient(z)[1]
    centred = e - e.mean(0)
    np.testing.assert_allclose(flat.collections[-1].get_offsets(), (centred @ principal_axes(centred)).numpy())
    with pytest.raises(ValueError, match="sphere_view must be one of"):
        embedding_figure(mixed, z, sphere_view="globe")
    with pytest.raises(ValueError, match=r"labels must have shape \[30\]"):
        embedding_figure(mixed, z, torch.zeros(29, dtype=torch.long))
    with pytest.raises(ValueError, match="class indices >= 0"):
        embedding_figure(mixed, z, torch.full((30,), -1))


def _spikes(seed: int, shape: tuple[int, int, int] = (6, 10, 3)) -> torch.Tensor:
    return torch.bernoulli(torch.full(shape, 0.3), generator=torch.Generator().manual_seed(seed))


def test_raster_draws_each_spike_of_the_chosen_nodes_and_all_rates() -> None:
    spikes = [_spikes(0), _spikes(1)]
    nodes = [4, 0]
    fig = raster_figure(spikes, nodes, ["encoder", "layer 1"])
    for layer, s in enumerate(spikes):
        raster, hist = fig.axes[2 * layer], fig.axes[2 * layer + 1]
        cells = np.asarray(raster.images[0].get_array())  # [neuron rows, T]: 0 silent, k + 1 a spike of node k
        assert cells.shape == (2 * 3, 6)
        np.testing.assert_array_equal(cells[:3], s[:, 4].T.numpy())  # node 4 first, code 1
        np.testing.assert_array_equal(cells[3:], 2 * s[:, 0].T.numpy())  # node 0 second, code 2
        counts = [bar.get_height() for bar in hist.patches]
        assert len(counts) == 7 and sum(counts) == 10 * 3  # one bin per possible rate k/6, every neuron counted
        rates = (s.sum(0).flatten()).long()
        assert counts == [float((rates == k).sum()) for k in range(7)]
    assert fig.axes[0].get_title().startswith("encoder")


@pytest.mark.parametrize(
    ("spikes", "nodes", "message"),
    [
        ([_spikes(0)], [10], r"nodes \[10\] are out of range for a graph of 10 nodes"),
        ([_spikes(0)], [1, 1], "distinct node indices"),
        ([_spikes(0)], [], "non-empty"),
        ([torch.zeros(3, 4)], [0], r"must have shape \[T, N, D\]"),
        ([], [0], "at least one"),
    ],
)
def test_raster_refusals(spikes: list, nodes: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        raster_figure(spikes, nodes)
