"""msg.manifolds: Riemannian manifolds with exact, numerically guarded maps."""
