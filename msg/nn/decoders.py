r"""Edge decoders for link prediction on manifold-valued node states."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from msg.manifolds import get_manifold


class FermiDiracDecoder(nn.Module):
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
        if edges.dim() != 2 or edges.size(0) != 2:
            raise ValueError(f"FermiDiracDecoder: expected edges of shape [2, E], got {tuple(edges.shape)}")
        d = self.manifold.dist(z[edges[0]], z[edges[1]])
        return (self.r - d * d) / self.t

    def forward(self, z: Tensor, edges: Tensor) -> Tensor:
        return self.logits(z, edges).sigmoid()

    def __repr__(self) -> str:
        return f"FermiDiracDecoder(manifold={self.manifold!r}, r={self.r:g}, t={self.t:g})"
