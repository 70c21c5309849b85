r"""Pictures of a trained model's inner state: node embeddings on their manifold, spike rasters and firing rates.

Embeddings are drawn per factor of the state manifold (one panel for a single manifold, one per factor for a
:class:`~msg.manifolds.Product`), in a flat or 3-D picture of the *two-dimensional* manifold of the same curvature:

- **Lorentz** :math:`\mathbb{H}^D_K` -> the Poincaré disk of radius :math:`R = 1/\sqrt{-K}`;
- **Sphere** :math:`\mathbb{S}^D_K` -> the sphere :math:`\mathbb{S}^2` of radius :math:`R` in 3-D (the origin
  :math:`o` at the top), or its stereographic chart from the antipode of :math:`o` (``sphere_view="stereographic"``);
- **Euclidean** -> the first two principal components of the states.

Dimension reduction for the curved factors (:func:`planar_states`) is a *geodesic polar projection about the
origin*: take :math:`u = \operatorname{Log}_o(z)` (intrinsic tangent vectors), project them on the first two
principal axes of the centred :math:`u`, rescale each projection to the length :math:`|u|`, and map back with
:math:`\operatorname{Exp}_o` on the 2-D manifold. Every node keeps its exact geodesic distance to the origin
(its depth in a hierarchy, on the hyperboloid); the direction is the PCA direction. For ``D = 2`` the projection
is a rotation, so the picture is an isometry of the states. A state whose :math:`u` is orthogonal to both axes has
no direction and is drawn at the origin.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from msg.manifolds import Euclidean, Lorentz, Manifold, Product, Sphere, lorentz_to_poincare, sphere_to_stereographic
from msg.plot.output import new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SPHERE_VIEWS = ("3d", "stereographic")


def principal_axes(u: Tensor, k: int = 2) -> Tensor:
    """The first ``k`` principal axes of the rows of ``u`` as ``[D, k]`` orthonormal columns (zero columns when
    ``D < k``); each axis is signed so that its largest loading is positive, which makes pictures reproducible."""
    centred = u - u.mean(dim=0)
    axes = torch.linalg.svd(centred, full_matrices=False).Vh[:k].T
    largest = axes.gather(0, axes.abs().argmax(dim=0, keepdim=True))
    axes = axes * torch.where(largest < 0, -1.0, 1.0).to(axes.dtype)
    return torch.nn.functional.pad(axes, (0, k - axes.shape[1]))


def planar_states(manifold: Lorentz | Sphere, z: Tensor) -> Tensor:
    """States ``z [N, D+1]`` of a Lorentz or Sphere manifold as points ``[N, 3]`` of the 2-D manifold of the same
    curvature, by the geodesic polar projection of the module docstring (distance to the origin kept exactly)."""
    if not isinstance(manifold, Lorentz | Sphere):
        raise ValueError(f"planar_states: manifold must be a Lorentz or Sphere, got {manifold!r}")
    u = manifold.untangent0(manifold.logmap0(z))
    v = u @ principal_axes(u)
    length = torch.linalg.vector_norm(u, dim=-1, keepdim=True)
    v = v * (length / torch.linalg.vector_norm(v, dim=-1, keepdim=True).clamp_min(torch.finfo(v.dtype).tiny))
    return manifold.expmap0(manifold.tangent0(v))


def factor_panels(manifold: Manifold, z: Tensor) -> list[tuple[Manifold, Tensor]]:
    """``[(factor, its states)]``: the factors of a product, else the manifold itself."""
    if isinstance(manifold, Product):
        return list(zip(manifold.factors, manifold.split_ambient(z), strict=True))
    return [(manifold, z)]


def class_palette(num_classes: int) -> np.ndarray:
    """``[C, 4]`` RGBA colours: tab10 up to 10 classes, tab20 up to 20, viridis samples beyond."""
    from matplotlib import colormaps

    if num_classes <= 10:
        return colormaps["tab10"](np.arange(num_classes))
    if num_classes <= 20:
        return colormaps["tab20"](np.arange(num_classes))
    return colormaps["viridis"](np.linspace(0.0, 1.0, num_classes))


def _describe(manifold: Manifold, z: Tensor) -> str:
    d = manifold.intrinsic_dim(z.shape[-1])
    if isinstance(manifold, Euclidean):
        return f"Euclidean, D={d}"
    return f"{type(manifold).__name__}, K={float(manifold.curvature.detach()):.3g}, D={d}"


def _draw_factor(fig: Figure, position: tuple[int, int, int], manifold: Manifold, z: Tensor, colours: np.ndarray,
                 sphere_view: str) -> Axes:
    """One panel: the states of one factor in the picture the module docstring gives for its kind."""
    title = _describe(manifold, z)
    if not isinstance(manifold, Euclidean | Lorentz | Sphere):
        raise ValueError(f"no embedding picture for manifold {manifold!r}")
    if isinstance(manifold, Sphere) and sphere_view == "3d":
        return _draw_globe(fig.add_subplot(*position, projection="3d"), manifold, z, colours, title)
    ax = fig.add_subplot(*position)
    if isinstance(manifold, Euclidean):
        centred = z - z.mean(dim=0)
        xy = (centred @ principal_axes(centred)).numpy()
        ax.set_title(f"{title}\nprincipal components", fontsize="medium")
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
        ax.set_aspect("equal", adjustable="datalim")
    elif isinstance(manifold, Lorentz):
        from matplotlib.patches import Circle

        xy = lorentz_to_poincare(planar_states(manifold, z), manifold.curvature.detach()).numpy()
        r = float(manifold.radius)
        ax.add_patch(Circle((0.0, 0.0), r, fill=False, color="0.3", linewidth=0.8))
        ax.set_xlim(-1.05 * r, 1.05 * r)
        ax.set_ylim(-1.05 * r, 1.05 * r)
        ax.set_aspect("equal", adjustable="box")
        ax.set_axis_off()
        ax.set_title(f"{title}\nPoincaré disk", fontsize="medium")
    else:
        xy = sphere_to_stereographic(planar_states(manifold, z), manifold.curvature.detach()).numpy()
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_title(f"{title}\nstereographic chart", fontsize="medium")
    ax.plot([0], [0], marker="+", color="black", markersize=10, zorder=3)
    ax.scatter(xy[:, 0], xy[:, 1], c=colours, s=5, linewidths=0)
    return ax


def _draw_globe(ax: Axes, manifold: Sphere, z: Tensor, colours: np.ndarray, title: str) -> Axes:
    """Spherical states on a wireframe sphere in 3-D, the origin ``o`` (ambient axis 0) on top."""
    p = planar_states(manifold, z).numpy()
    r = float(manifold.radius)
    lon, lat = np.meshgrid(np.linspace(0, 2 * np.pi, 25), np.linspace(0, np.pi, 13))
    ax.plot_wireframe(r * np.cos(lon) * np.sin(lat), r * np.sin(lon) * np.sin(lat), r * np.cos(lat),
                      color="0.6", alpha=0.25, linewidth=0.4)
    ax.scatter(p[:, 1], p[:, 2], p[:, 0], c=colours, s=5)
    ax.scatter([0], [0], [r], marker="+", color="black", s=60)
    ax.set_box_aspect((1, 1, 1), zoom=1.6)
    ax.set_axis_off()
    ax.set_title(f"{title}\nsphere, origin on top", fontsize="medium")
    return ax


def embedding_figure(
    manifold: Manifold,
    z: Tensor,
    labels: Tensor | None = None,
    sphere_view: str = "3d",
    title: str | None = None,
    width: float | None = None,
    height: float = 4.5,
) -> Figure:
    """Node states ``z [N, D']`` of ``manifold`` coloured by class ``labels [N]`` (one colour when ``None``): one
    panel per factor, each drawn as the module docstring says. ``width`` defaults to 4.5 inches per panel + 1."""
    if sphere_view not in SPHERE_VIEWS:
        raise ValueError(f"sphere_view must be one of {SPHERE_VIEWS}, got {sphere_view!r}")
    z = z.detach().to("cpu", torch.float64)
    panels = factor_panels(manifold, z)
    fig = new_figure(4.5 * len(panels) + 1.0 if width is None else width, height)
    if labels is None:
        colours = np.tile(class_palette(1), (z.shape[0], 1))
    else:
        if labels.dim() != 1 or labels.numel() != z.shape[0]:
            raise ValueError(f"labels must have shape [{z.shape[0]}] (one class per node), got {tuple(labels.shape)}")
        if labels.numel() and int(labels.min()) < 0:
            raise ValueError(f"labels must be class indices >= 0, got a minimum of {int(labels.min())}")
        palette = class_palette(int(labels.max()) + 1)
        colours = palette[labels.cpu().numpy()]
    for i, (factor, zi) in enumerate(panels):
        _draw_factor(fig, (1, len(panels), i + 1), factor, zi, colours, sphere_view)
    if labels is not None and len(palette) <= 20:
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], linestyle="", marker="o", color=c, label=str(k)) for k, c in enumerate(palette)]
        fig.legend(handles=handles, title="class", loc="outside right center", fontsize="small")
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig


def raster_figure(
    spikes: Sequence[Tensor],
    nodes: Sequence[int],
    layer_names: Sequence[str] | None = None,
    width: float = 10.0,
    height: float | None = None,
) -> Figure:
    """Per layer (a row): the spike raster of ``nodes`` (time step x neuron, the nodes' neurons stacked) and the
    histogram of the firing rates (spikes per step) of all neurons of all nodes, counts on a log scale.

    ``spikes`` is a list of ``[T, N, D]`` tensors (``MSG.spikes`` after ``encode``); ``height`` defaults to 2.4
    inches per layer.
    """
    if not spikes:
        raise ValueError("raster_figure: spikes must hold at least one [T, N, D] tensor")
    names = list(layer_names) if layer_names is not None else [f"layer {i}" for i in range(len(spikes))]
    if len(names) != len(spikes):
        raise ValueError(f"raster_figure: {len(names)} layer_names for {len(spikes)} layers")
    nodes = list(nodes)
    if not nodes or len(set(nodes)) != len(nodes):
        raise ValueError(f"nodes must be a non-empty list of distinct node indices, got {nodes!r}")
    fig = new_figure(width, 2.4 * len(spikes) if height is None else height)
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap(["white"] + [f"C{k % 10}" for k in range(len(nodes))])
    axes = fig.subplots(len(spikes), 2, squeeze=False, width_ratios=(3, 2))
    for (raster, hist), name, s in zip(axes, names, spikes, strict=True):
        if s.dim() != 3:
            raise ValueError(f"raster_figure: {name} spikes must have shape [T, N, D], got {tuple(s.shape)}")
        steps, num_nodes, width_d = s.shape
        bad = [n for n in nodes if not 0 <= n < num_nodes]
        if bad:
            raise ValueError(f"nodes {bad} are out of range for a graph of {num_nodes} nodes")
        s = s.detach().cpu()
        # one cell per (neuron, step): 0 silent, k + 1 a spike of the k-th chosen node (drawn in colour Ck)
        fired = (s[:, nodes, :] > 0).permute(1, 2, 0).reshape(len(nodes) * width_d, steps)
        codes = fired * torch.arange(1, len(nodes) + 1).repeat_interleave(width_d)[:, None]
        raster.imshow(codes.numpy(), cmap=cmap, vmin=-0.5, vmax=len(nodes) + 0.5, aspect="auto",
                      interpolation="nearest")
        raster.set_yticks([k * width_d + (width_d - 1) / 2 for k in range(len(nodes))], [f"node {n}" for n in nodes])
        for k in range(1, len(nodes)):
            raster.axhline(k * width_d - 0.5, color="0.5", linewidth=0.6)
        raster.set_xlabel("time step")
        raster.set_title(f"{name}: spikes of {width_d} neurons per node", fontsize="medium")
        rates = s.float().mean(dim=0).flatten().numpy()
        hist.hist(rates, bins=(np.arange(steps + 2) - 0.5) / steps, color="0.4")
        hist.set_yscale("log")
        hist.set_xlabel("firing rate (spikes per step)")
        hist.set_ylabel("neurons")
        hist.set_title(f"{name}: {rates.size} neurons, mean rate {rates.mean():.3f}", fontsize="medium")
    return fig
