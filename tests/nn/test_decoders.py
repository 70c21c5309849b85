"""Link-prediction decoders: the cosine decoder's value, invariances, gradients, errors and its use by the runner."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from msg.manifolds import get_manifold

from msg.nn import CosineDecoder, FermiDiracDecoder
from msg.tasks.config import TrainConfig
from msg.tasks.runner import link_decoder

F64 = torch.float64


@pytest.mark.parametrize("name", ["lorentz", "sphere", "euclidean", "lorentz,sphere"])
def test_cosine_logits_are_the_cosine_of_the_tangent_vectors_at_the_origin(name):
    m = get_manifold(name)
    g = torch.Generator().manual_seed(0)
    z = m.expmap0(m.tangent0(torch.randn(6, 4, dtype=F64, generator=g)))
    edges = torch.tensor([[0, 1, 2, 5], [1, 0, 4, 5]])
    dec = CosineDecoder(m, scale=2.0)
    u = m.logmap0(z)
    expected = 2.0 * F.cosine_similarity(u[edges[0]], u[edges[1]], dim=-1)
    torch.testing.assert_close(dec.logits(z, edges), expected)
    logits = dec.logits(z, edges)
    assert logits[0] == logits[1]  # symmetric
    assert torch.isclose(logits[3], torch.tensor(2.0, dtype=F64))  # a node with itself: the full scale
    assert ((dec(z, edges) > 0) & (dec(z, edges) < 1)).all()


def test_cosine_ignores_the_distance_from_the_origin_and_has_exact_gradients():
    m = get_manifold("lorentz")
    g = torch.Generator().manual_seed(1)
    v = m.tangent0(torch.randn(4, 3, dtype=F64, generator=g))
    edges = torch.tensor([[0, 1, 2], [3, 2, 0]])
    dec = CosineDecoder(m)
    near, far = dec.logits(m.expmap0(0.1 * v), edges), dec.logits(m.expmap0(3.0 * v), edges)
    torch.testing.assert_close(near, far)  # only directions matter, unlike the Fermi-Dirac distance
    fd = FermiDiracDecoder(m)
    assert not torch.allclose(fd.logits(m.expmap0(0.1 * v), edges), fd.logits(m.expmap0(3.0 * v), edges))
    z = m.expmap0(v).requires_grad_()
    assert torch.autograd.gradcheck(lambda p: dec.logits(p, edges), (z,))


def test_cosine_errors_and_repr():
    with pytest.raises(ValueError, match="scale must be > 0, got 0"):
        CosineDecoder("sphere", scale=0)
    dec = CosineDecoder("lorentz")
    with pytest.raises(ValueError, match=r"edges of shape \[2, E\], got \(3, 2\)"):
        dec.logits(torch.zeros(4, 3), torch.zeros(3, 2, dtype=torch.long))
    assert repr(dec) == "CosineDecoder(manifold=Lorentz(curvature=-1.0), scale=1)"


def test_runner_builds_the_configured_decoder_and_rejects_unknown_names():
    model = torch.nn.Module()
    model.manifold = get_manifold("sphere")
    assert isinstance(link_decoder(TrainConfig(task="lp"), model), FermiDiracDecoder)
    assert isinstance(link_decoder(TrainConfig(task="lp", decoder="cosine"), model), CosineDecoder)
    with pytest.raises(ValueError, match="decoder must be one of .*got 'dot'"):
        TrainConfig(decoder="dot").validate()


def test_shipped_lorentz_link_configs_use_the_authors_cosine_scoring():
    from msg.tasks.config import read_config_file, shipped_configs

    lorentz_lp = [n for n in shipped_configs() if n.startswith("lp_") and n.endswith("_lorentz")]
    assert len(lorentz_lp) == 4
    assert all(read_config_file(n)["decoder"] == "cosine" for n in lorentz_lp)
    others = [n for n in shipped_configs() if n.startswith("lp_") and not n.endswith("_lorentz")]
    assert all(read_config_file(n).get("decoder", "fd") == "fd" for n in others)
