"""msg.ops.aggregate: the normalised adjacency and multi-step propagation against dense references."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.utils import to_dense_adj

from msg.ops.aggregate import Adjacency, propagate

EDGES = torch.tensor([[0, 1, 1, 2, 3, 0], [1, 0, 2, 1, 0, 3]])  # undirected 4-node graph
DIRECTED = torch.tensor([[0, 1, 2, 2], [1, 2, 0, 3]])


def dense_gcn(edge_index: torch.Tensor, n: int) -> torch.Tensor:
    """A_hat = D^-1/2 (A + I) D^-1/2 with A[target, source] = 1 (PyG's flow), in float64."""
    a = to_dense_adj(edge_index, max_num_nodes=n)[0].t().double() + torch.eye(n, dtype=torch.float64)
    deg = a.sum(1)
    return deg.rsqrt()[:, None] * a * deg.rsqrt()[None, :]


@pytest.mark.parametrize("edge_index,n", [(EDGES, 4), (DIRECTED, 4)])
def test_propagate_matches_dense_reference(edge_index: torch.Tensor, n: int) -> None:
    adj = Adjacency(edge_index, n, dtype=torch.float64)
    x = torch.randn(n, 5, dtype=torch.float64)
    assert torch.allclose(propagate(adj, x), dense_gcn(edge_index, n) @ x, atol=1e-12)


@pytest.mark.parametrize("block_width", [1, 5, 10, 1000])
def test_multistep_equals_per_step(block_width: int) -> None:
    adj = Adjacency(DIRECTED, 4, dtype=torch.float64)
    x = torch.randn(7, 4, 5, dtype=torch.float64)
    expected = torch.stack([propagate(adj, x[t]) for t in range(7)])
    assert torch.allclose(propagate(adj, x, block_width=block_width), expected, atol=1e-12)


def test_gradcheck_directed() -> None:
    adj = Adjacency(DIRECTED, 4, dtype=torch.float64)
    x = torch.randn(3, 4, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: propagate(adj, v, block_width=4), (x,))


def test_sparse_inputs_match_edge_index() -> None:
    x = torch.randn(4, 3, dtype=torch.float64)
    reference = propagate(Adjacency(DIRECTED, 4, dtype=torch.float64), x)
    # PyG's adj_t convention: row = target, column = source
    adj_t = torch.sparse_coo_tensor(DIRECTED.flip(0), torch.ones(DIRECTED.size(1)), (4, 4))
    for sparse in (adj_t, adj_t.to_sparse_csr()):
        assert torch.allclose(propagate(Adjacency(sparse, dtype=torch.float64), x), reference, atol=1e-12)
    torch_sparse = pytest.importorskip("torch_sparse")
    st = torch_sparse.SparseTensor(row=DIRECTED[1], col=DIRECTED[0], sparse_sizes=(4, 4))
    assert torch.allclose(propagate(Adjacency(st, dtype=torch.float64), x), reference, atol=1e-12)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match=r"shape \[2, E\]"):
        Adjacency(torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"node ids in \[0, 3\] for 3 nodes"):
        Adjacency(DIRECTED, 3)
    with pytest.raises(ValueError, match="normalize"):
        Adjacency(DIRECTED, 4, normalize="sym")
    adj = Adjacency(DIRECTED, 4)
    with pytest.raises(ValueError, match="N=4"):
        propagate(adj, torch.randn(5, 2))
    with pytest.raises(ValueError, match="block_width"):
        propagate(adj, torch.randn(2, 4, 2), block_width=0)


def test_sparse_features_matmul_and_gradient() -> None:
    from msg.ops.aggregate import SparseFeatures

    x = torch.randn(6, 9, dtype=torch.float64) * (torch.rand(6, 9) < 0.2)
    w = torch.randn(9, 3, dtype=torch.float64, requires_grad=True)
    sparse = SparseFeatures(x)
    assert sparse.shape == (6, 9) and sparse.nnz == int(torch.count_nonzero(x))
    assert torch.allclose(sparse.matmul(w), x @ w, atol=1e-12)
    assert torch.autograd.gradcheck(sparse.matmul, (w,))
    x[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        SparseFeatures(x)


def test_given_full_degrees_reproduce_gcn_norm_exactly() -> None:
    from msg.ops.aggregate import gcn_degree

    edges = torch.cat([EDGES, torch.tensor([[2, 3, 3], [2, 1, 1]])], dim=1)  # a self loop and a duplicate edge
    degree = gcn_degree(edges, 5)  # node 4 is isolated: its own self loop only
    assert degree.tolist() == [3.0, 5.0, 2.0, 2.0, 1.0]  # the existing self loop of 2 is not doubled
    own, given = Adjacency(edges, 5), Adjacency(edges, 5, degree=degree)
    assert torch.equal(own.matrix.to_dense(), given.matrix.to_dense())
    assert torch.equal(own.matrix_t.to_dense(), given.matrix_t.to_dense())


def test_subgraph_with_full_degrees_keeps_the_rows_of_complete_nodes() -> None:
    """Node 0's in-edges (from 1 and 3) are all in the subgraph {0, 1, 3}; 1 and 3 lose neighbours there. With the
    full graph's degrees, row 0 equals the full graph's row 0; with the subgraph's own degrees it does not."""
    from msg.ops.aggregate import Subgraph, gcn_degree

    full = Adjacency(EDGES, 4).matrix.to_dense()
    nodes = torch.tensor([0, 1, 3])
    local = torch.tensor([[1, 2], [0, 0]])  # 1 -> 0 and 3 -> 0 in local ids
    sub = Subgraph(local, nodes, 1, gcn_degree(EDGES, 4)[nodes])
    assert torch.equal(sub.adjacency().matrix.to_dense()[0], full[0, nodes])
    assert not torch.allclose(Adjacency(local, 3).matrix.to_dense()[0], full[0, nodes])
    with pytest.raises(ValueError, match="needs the full graph's degrees"):
        Subgraph(local, nodes, 1).adjacency()


def test_bad_degrees() -> None:
    with pytest.raises(ValueError, match=r"degree must have shape \[4\], got \(3,\)"):
        Adjacency(EDGES, 4, degree=torch.ones(3))
    with pytest.raises(ValueError, match="degree is only used with normalize='gcn'"):
        Adjacency(EDGES, 4, normalize="none", degree=torch.ones(4))


def test_gcn_degree_counts_match_gcn_norms_degrees() -> None:
    from torch_geometric.utils import add_remaining_self_loops, scatter

    from msg.ops.aggregate import gcn_degree

    edges = torch.tensor([[0, 1, 2, 2, 2, 3, 3], [1, 0, 2, 2, 1, 1, 1]])  # a duplicated self loop: kept once
    looped, weight = add_remaining_self_loops(edges, torch.ones(edges.size(1)), 1.0, 5)
    reference = scatter(weight, looped[1], dim=0, dim_size=5, reduce="sum")  # what gcn_norm divides by
    counted = gcn_degree(edges, 5)
    assert counted.dtype == torch.float32 and torch.equal(counted, reference)
    assert counted.tolist() == [2.0, 5.0, 1.0, 1.0, 1.0]
    assert gcn_degree(edges, 5, add_self_loops=False).tolist() == [1.0, 4.0, 2.0, 0.0, 0.0]
    weighted = torch.sparse_coo_tensor(torch.tensor([[1, 0], [0, 1]]), torch.tensor([0.5, 2.0]), (2, 2))
    assert gcn_degree(weighted).tolist() == [3.0, 1.5]  # weighted inputs: weights summed, self loops of 1 added


@pytest.mark.parametrize("rows", [1, 2, 4])
def test_an_adjacency_cut_to_its_first_rows_is_that_block_and_differentiates(rows: int) -> None:
    full = dense_gcn(DIRECTED, 4)
    adj = Adjacency(DIRECTED, 4, rows=rows, dtype=torch.float64)
    assert adj.num_rows == rows and adj.num_nodes == 4
    torch.testing.assert_close(adj.matrix.to_dense(), full[:rows], rtol=0, atol=1e-15)
    x = torch.randn(3, 4, 5, dtype=torch.float64, requires_grad=True)
    out = propagate(adj, x, block_width=10)  # two steps per product, the wide path
    assert out.shape == (3, rows, 5)
    torch.testing.assert_close(out, torch.einsum("ij,tjf->tif", full[:rows], x), rtol=0, atol=1e-14)
    assert torch.autograd.gradcheck(lambda t: propagate(adj, t, block_width=10), (x,))
    with pytest.raises(ValueError, match=r"rows must be an integer in \[1, 4\], got 5"):
        Adjacency(DIRECTED, 4, rows=5)


def test_layer_adjacencies_of_a_hop_ordered_sample_are_the_trimmed_blocks() -> None:
    """Seeds {0}; hop 1 {1, 2}; hop 2 {3, 4}: a 2-layer model's first layer keeps rows 0-2 (reads all 5 nodes), the
    second the seed's row (reads nodes 0-2); two trimmed propagations give the seed's two-hop result."""
    from msg.ops.aggregate import Subgraph, gcn_degree

    local = torch.tensor([[1, 2, 3, 4, 0], [0, 0, 1, 2, 1]])
    sub = Subgraph(local, torch.arange(5), 1, gcn_degree(local, 5))
    assert sub.hops(2).tolist() == [0, 1, 1, 2, 2]
    first, second = sub.layer_adjacencies(2)
    assert (first.num_rows, first.num_nodes, second.num_rows, second.num_nodes) == (3, 5, 1, 3)
    x = torch.randn(5, 2, dtype=torch.float64)
    full = sub.adjacency()
    torch.testing.assert_close(propagate(second, propagate(first, x)), propagate(full, propagate(full, x))[:1])
    shuffled = Subgraph(torch.tensor([[3, 1, 2, 4], [0, 0, 3, 1]]), torch.arange(5), 1, gcn_degree(local, 5))
    assert shuffled.hops(2).tolist() == [0, 1, 2, 1, 2]  # hop 1 after hop 2: not a prefix order
    assert shuffled.layer_adjacencies(2) is None
    with pytest.raises(ValueError, match="num_layers must be an integer >= 1, got 0"):
        sub.layer_adjacencies(0)
