r"""Edge decoders for link prediction on manifold-valued node states."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from msg.manifolds import get_manifold


class _EdgeDecoder(nn.Module):
    """What every edge decoder shares: the edge-index check and ``forward = sigmoid(logits)``."""

    def _check_edges(self, edges: Tensor) -> None:
        if edges.dim() != 2 or edges.size(0) != 2:
            raise ValueError(f"{type(self).__name__}: expected edges of shape [2, E], got {tuple(edges.shape)}")

    def logits(self, z: Tensor, edges: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, z: Tensor, edges: Tensor) -> Tensor:
        return self.logits(z, edges).sigmoid()


class FermiDiracDecoder(_EdgeDecoder):
    r"""Edge probability from the manifold distance of the two end states (Fermi-Dirac distribution).

    Krioukov et al., "Hyperbolic Geometry of Complex Networks", Phys. Rev. E 2010; used for link prediction by
    HGCN (Chami et al., NeurIPS 2019) and MSG (Sun et al., NeurIPS 2024):

    .. math::
        p(u, v) = \Big(\exp\big((d_{\mathcal{M}}(z_u, z_v)^2 - r) / t\big) + 1\Big)^{-1}
        = \sigma\big((r - d^2) / t\big)

    Args:
        manifold (str or Manifold): the manifold of the states.
        r (float): radius (default: :obj:`2.0`).
        t (float): temperature, > 0 (default: :obj:`1.0`).

    Shapes:
        - **input:** z :math:`(|V|, D')`, edges :math:`(2, |E'|)`
        - **output:** :math:`(|E'|,)`
    """

    def __init__(self, manifold: Any, r: float = 2.0, t: float = 1.0) -> None:
        super().__init__()
        if not t > 0:
            raise ValueError(f"FermiDiracDecoder: t must be > 0, got {t!r}")
        self.manifold = get_manifold(manifold)
        self.r, self.t = float(r), float(t)

    def logits(self, z: Tensor, edges: Tensor) -> Tensor:
        """:math:`(r - d^2) / t`, the pre-sigmoid score (use with ``binary_cross_entropy_with_logits``)."""
        self._check_edges(edges)
        d = self.manifold.dist(z[edges[0]], z[edges[1]])
        return (self.r - d * d) / self.t

    def __repr__(self) -> str:
        return f"FermiDiracDecoder(manifold={self.manifold!r}, r={self.r:g}, t={self.t:g})"


class CosineDecoder(_EdgeDecoder):
    r"""Edge score from the cosine similarity of the two end states read in the tangent space at the origin.

    .. math::
        \operatorname{logit}(u, v) = s \cos\angle\big(\operatorname{Log}_o z_u,\ \operatorname{Log}_o z_v\big)

    This is how the MSG authors' code scores edges for its Lorentz link-prediction results (ZhenhHuang/MSG,
    ``exp.py``: ``cosine_similarity`` of the embeddings, used directly as the logit); msg's shipped Lorentz
    link-prediction configs select it (``decoder: cosine``) so that they reproduce the paper. The score depends on
    the directions of the states only, not on how far from the origin they are, so it trains quickly where the
    distance of :class:`FermiDiracDecoder` starts out small for every pair.

    Args:
        manifold (str or Manifold): the manifold of the states.
        scale (float): the logit of two states in the same direction, > 0 (default: :obj:`1.0`, as the authors).

    Shapes:
        - **input:** z :math:`(|V|, D')`, edges :math:`(2, |E'|)`
        - **output:** :math:`(|E'|,)`
    """

    def __init__(self, manifold: Any, scale: float = 1.0) -> None:
        super().__init__()
        if not scale > 0:
            raise ValueError(f"CosineDecoder: scale must be > 0, got {scale!r}")
        self.manifold = get_manifold(manifold)
        self.scale = float(scale)

    def logits(self, z: Tensor, edges: Tensor) -> Tensor:
        r""":math:`s \cos`, the pre-sigmoid score (use with ``binary_cross_entropy_with_logits``)."""
        self._check_edges(edges)
        u = self.manifold.logmap0(z)
        return self.scale * F.cosine_similarity(u[edges[0]], u[edges[1]], dim=-1)

    def __repr__(self) -> str:
        return f"CosineDecoder(manifold={self.manifold!r}, scale={self.scale:g})"
