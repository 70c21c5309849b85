"""Graph aggregation as one sparse-matrix product, built once and reused for every time step.

A spiking graph layer aggregates T spike maps per forward pass. Gathering per-edge messages (PyG's default
``message`` + ``index_add``) materialises [E, T*F] numbers; looping T small aggregations pays the sparse-kernel
overhead T times. Instead, :class:`Adjacency` keeps the normalised adjacency as a CSR matrix (and its transpose for
the backward pass) and :func:`propagate` multiplies it with all T steps at once, as an [N, T*F] matrix.

On this machine kind (see DESIGN.md), a CSR product over Photo's 238k edges took 46 ms at width 480 against 416 ms
for gather-then-``index_add``.

Inputs accepted everywhere a graph is taken: ``edge_index`` ([2, |E|], messages flow from ``edge_index[0]`` to
``edge_index[1]`` as in PyG), a torch sparse matrix or a ``torch_sparse.SparseTensor`` in PyG's ``adj_t``
convention (row = target, column = source).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import add_remaining_self_loops, scatter


def _is_torch_sparse_tensor(adj: Any) -> bool:
    return type(adj).__name__ == "SparseTensor" and type(adj).__module__.startswith("torch_sparse")


def to_edge_index(adj: Any, num_nodes: int | None = None) -> tuple[Tensor, Tensor | None, int]:
    """``(edge_index, edge_weight, num_nodes)`` from any accepted graph input (see the module docstring)."""
    if isinstance(adj, Tensor) and adj.is_sparse or isinstance(adj, Tensor) and adj.layout == torch.sparse_csr:
        coo = adj.to_sparse_coo().coalesce()
        row, col = coo.indices()
        return torch.stack([col, row]), coo.values(), int(coo.size(0))
    if _is_torch_sparse_tensor(adj):
        row, col, value = adj.coo()
        return torch.stack([col, row]), value, int(adj.size(0))
    if not isinstance(adj, Tensor) or adj.dim() != 2 or adj.size(0) != 2 or adj.dtype != torch.long:
        shape = tuple(adj.shape) if isinstance(adj, Tensor) else type(adj).__name__
        raise ValueError(
            f"expected edge_index as a LongTensor of shape [2, E], a torch sparse matrix or a SparseTensor; got {shape}"
        )
    n = int(num_nodes) if num_nodes is not None else (int(adj.max()) + 1 if adj.numel() else 0)
    if adj.numel() and (int(adj.min()) < 0 or int(adj.max()) >= n):
        raise ValueError(f"edge_index holds node ids in [{int(adj.min())}, {int(adj.max())}] for {n} nodes")
    return adj, None, n


def gcn_degree(adj: Any, num_nodes: int | None = None, add_self_loops: bool = True,
               dtype: torch.dtype = torch.float32) -> Tensor:
    """The degrees :math:`\\tilde{D}` that GCN normalisation divides by: the weighted in-degree of every node, self
    loops included (added where missing, as :class:`Adjacency` does), shape [|V|].

    A sampled subgraph carries these full-graph degrees of its nodes (``Adjacency(..., degree=...)``): its own
    degrees are too small at its boundary, which would normalise the boundary nodes' messages wrongly."""
    edge_index, weight, n = to_edge_index(adj, num_nodes)
    if weight is None:  # counts (exact in any float dtype below 2^24), without copying a large edge_index
        src, dst = edge_index
        if not add_self_loops:
            return torch.bincount(dst, minlength=n).to(dtype)
        # add_remaining_self_loops keeps one self loop per node, of weight 1 here
        return (torch.bincount(dst[src != dst], minlength=n) + 1).to(dtype)
    if add_self_loops:
        edge_index, weight = add_remaining_self_loops(edge_index, weight.to(dtype), 1.0, n)
    return scatter(weight.to(dtype), edge_index[1], dim=0, dim_size=n, reduce="sum")


class Adjacency:
    """A normalised adjacency matrix in CSR form, with its transpose for backward passes.

    .. math::
        \\hat{A} = \\tilde{D}^{-1/2} (A + I) \\tilde{D}^{-1/2}

    (Kipf and Welling, "Semi-Supervised Classification with Graph Convolutional Networks", ICLR 2017) for
    ``normalize="gcn"``; ``"none"`` keeps the edge weights (ones) as they are.

    Args:
        adj: ``edge_index``, a torch sparse matrix or a ``SparseTensor`` (see the module docstring).
        num_nodes: |V| (default: from the input).
        normalize: ``"gcn"`` (default) or ``"none"``.
        add_self_loops: add I before normalising (default ``True``; only with ``"gcn"``).
        dtype: the matrix dtype (default float32).
        degree: :math:`\\tilde{D}` as a [|V|] tensor (:func:`gcn_degree` of the graph this one is a subgraph of,
            indexed by its nodes) instead of this graph's own degrees; only with ``"gcn"``. With the full graph's
            degrees, the rows of a sampled subgraph whose in-edges were all sampled equal the full graph's rows.
        rows: keep only the first ``rows`` rows (target nodes) of the normalised matrix, a [rows, |V|] block: a
            layer then computes outputs for those nodes only, from inputs of all |V| (mini-batch layers trimmed to
            the nodes the next layer reads). Normalisation happens before the cut, so the kept rows are unchanged.
            (default: all)

    Shapes:
        :func:`propagate` takes x of shape [|V|, F] or [T, |V|, F] and returns the same shape.
    """

    def __init__(
        self,
        adj: Any,
        num_nodes: int | None = None,
        normalize: str = "gcn",
        add_self_loops: bool = True,
        dtype: torch.dtype = torch.float32,
        degree: Tensor | None = None,
        rows: int | None = None,
    ) -> None:
        if normalize not in ("gcn", "none"):
            raise ValueError(f"Adjacency: normalize must be 'gcn' or 'none', got {normalize!r}")
        edge_index, weight, n = to_edge_index(adj, num_nodes)
        if n == 0:
            raise ValueError("Adjacency: the graph has no nodes")
        if degree is not None:
            if normalize != "gcn":
                raise ValueError(f"Adjacency: degree is only used with normalize='gcn', got normalize={normalize!r}")
            if degree.dim() != 1 or degree.numel() != n:
                raise ValueError(f"Adjacency: degree must have shape [{n}], got {tuple(degree.shape)}")
            edge_index, weight = self._normalize_with(edge_index, weight, n, degree, add_self_loops, dtype)
        elif normalize == "gcn":
            edge_index, weight = gcn_norm(edge_index, weight, n, add_self_loops=add_self_loops, dtype=dtype)
        elif weight is None:
            weight = torch.ones(edge_index.size(1), dtype=dtype, device=edge_index.device)
        if rows is not None:
            if isinstance(rows, bool) or int(rows) != rows or not 1 <= rows <= n:
                raise ValueError(f"Adjacency: rows must be an integer in [1, {n}], got {rows!r}")
            keep = edge_index[1] < rows
            edge_index, weight = edge_index[:, keep], weight[keep]
        src, dst = edge_index
        self.num_nodes = n
        self.num_rows = n if rows is None else int(rows)
        self.normalize = normalize
        self.matrix = self._csr(dst, src, weight.to(dtype), (self.num_rows, n))
        self.matrix_t = self._csr(src, dst, weight.to(dtype), (n, self.num_rows))

    @staticmethod
    def _normalize_with(
        edge_index: Tensor, weight: Tensor | None, n: int, degree: Tensor, add_self_loops: bool, dtype: torch.dtype
    ) -> tuple[Tensor, Tensor]:
        """GCN normalisation with given degrees, in the same operations (and so the same rounding) as ``gcn_norm``."""
        if weight is None:
            weight = torch.ones(edge_index.size(1), dtype=dtype, device=edge_index.device)
        if add_self_loops:
            edge_index, weight = add_remaining_self_loops(edge_index, weight.to(dtype), 1.0, n)
        inv_sqrt = degree.to(dtype).pow(-0.5)
        inv_sqrt.masked_fill_(inv_sqrt == float("inf"), 0.0)
        src, dst = edge_index
        return edge_index, inv_sqrt[src] * weight * inv_sqrt[dst]

    @staticmethod
    def _csr(row: Tensor, col: Tensor, value: Tensor, shape: tuple[int, int]) -> Tensor:
        coo = torch.sparse_coo_tensor(torch.stack([row, col]), value, shape, check_invariants=False).coalesce()
        with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta": known, and tested here
            warnings.simplefilter("ignore", UserWarning)
            return coo.to_sparse_csr()

    def __repr__(self) -> str:
        rows = "" if self.num_rows == self.num_nodes else f", rows={self.num_rows}"
        return f"Adjacency(num_nodes={self.num_nodes}{rows}, nnz={self.matrix._nnz()}, normalize={self.normalize!r})"


class _SpMM(torch.autograd.Function):
    """``A @ x`` with backward ``A^T @ grad`` (both CSR products; no [E, F] messages are stored)."""

    @staticmethod
    def forward(ctx: Any, matrix: Tensor, matrix_t: Tensor, x: Tensor) -> Tensor:
        ctx.matrix_t = matrix_t
        return torch.sparse.mm(matrix, x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[None, None, Tensor]:
        return None, None, torch.sparse.mm(ctx.matrix_t, grad.contiguous())


class SparseFeatures:
    """A sparse node-feature matrix X [N, F] in CSR form with its transpose, for ``X @ W`` with a fast backward.

    Bag-of-words features are mostly zeros (Coauthor CS: 0.9% non-zero). The projection X W then costs nnz(X) x D
    instead of N x F x D, and its weight gradient X^T G uses the cached transpose (on CS, one thread: dense
    forward+backward 1060 ms, torch.sparse.mm with autograd 296 ms).

    Args:
        x: a dense [N, F] tensor or any torch sparse layout.
    """

    def __init__(self, x: Tensor) -> None:
        if x.dim() != 2:
            raise ValueError(f"SparseFeatures: expected a matrix [N, F], got shape {tuple(x.shape)}")
        coo = (x if x.layout != torch.strided else x.to_sparse()).to_sparse_coo().coalesce()
        self.shape = tuple(coo.shape)
        self.nnz = int(coo._nnz())
        if not torch.isfinite(coo.values()).all():
            raise ValueError("SparseFeatures: the features contain NaN or Inf")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            self.matrix = coo.to_sparse_csr()
            self.matrix_t = coo.t().coalesce().to_sparse_csr()

    def size(self, dim: int) -> int:
        return self.shape[dim]

    def matmul(self, weight_t: Tensor) -> Tensor:
        """X @ weight_t ([F, D] -> [N, D]), differentiable in ``weight_t``."""
        matrix, matrix_t = self.matrix, self.matrix_t
        if matrix.dtype != weight_t.dtype:
            matrix, matrix_t = matrix.to(weight_t.dtype), matrix_t.to(weight_t.dtype)
        return _SpMM.apply(matrix, matrix_t, weight_t.contiguous())

    def __repr__(self) -> str:
        return f"SparseFeatures(shape={self.shape}, nnz={self.nnz})"


BLOCK_WIDTH = 128
"""Columns per sparse product when :func:`propagate` aggregates several time steps (see its docstring)."""


def propagate(adj: Adjacency, x: Tensor, block_width: int = BLOCK_WIDTH) -> Tensor:
    """``adj @ x`` for x of shape [N, F], or for every time step of x of shape [T, N, F] (N = ``adj.num_nodes``;
    the result has ``adj.num_rows`` rows, N unless the adjacency keeps only its first rows).

    Time steps are aggregated in groups whose combined width (steps x F) stays at most ``block_width`` columns: one
    CSR product per group, never per-edge messages. On this machine kind, one product of width T*F was slower
    than several narrower ones once the dense operand stops fitting in cache (Photo, F=32, one thread: T=15 wide
    35 ms vs 21 ms in groups of 4 steps; T=60 wide 645 ms vs 111 ms); benchmarks/aggregate.py measures it.
    """
    if x.dim() not in (2, 3) or x.size(-2) != adj.num_nodes:
        raise ValueError(
            f"propagate: expected x of shape [N, F] or [T, N, F] with N={adj.num_nodes}, got {tuple(x.shape)}"
        )
    if block_width < 1:
        raise ValueError(f"propagate: block_width must be >= 1, got {block_width}")
    matrix, matrix_t = adj.matrix, adj.matrix_t
    if matrix.dtype != x.dtype:
        matrix, matrix_t = matrix.to(x.dtype), matrix_t.to(x.dtype)
    if x.dim() == 2:
        return _SpMM.apply(matrix, matrix_t, x.contiguous())
    t, n, f = x.shape
    steps = max(1, block_width // max(f, 1))
    outputs = []
    for start in range(0, t, steps):
        chunk = x[start : start + steps]
        k = chunk.size(0)
        wide = chunk[0].contiguous() if k == 1 else chunk.permute(1, 0, 2).reshape(n, k * f)
        out = _SpMM.apply(matrix, matrix_t, wide)
        outputs.append(out.unsqueeze(0) if k == 1 else out.view(adj.num_rows, k, f).permute(1, 0, 2))
    return torch.cat(outputs, dim=0)


@dataclass
class Subgraph:
    """A sampled subgraph as mini-batch training and layer-wise inference see it.

    Args:
        edge_index: [2, |E_sub|] in local node ids (PyG's flow, source -> target).
        node_ids: [|V_sub|] global id of every local node; the first ``num_seeds`` are the seed nodes, whose
            outputs are wanted.
        num_seeds: how many leading nodes are seeds.
        degree: the full graph's :func:`gcn_degree` of these nodes (needed by :meth:`adjacency`).

    Spiking state is per node: a model runs its neurons from rest on every subgraph."""

    edge_index: Tensor
    node_ids: Tensor
    num_seeds: int
    degree: Tensor | None = None
    _adjacency: Adjacency | None = field(default=None, repr=False)

    @property
    def num_nodes(self) -> int:
        return int(self.node_ids.numel())

    def adjacency(self) -> Adjacency:
        """GCN-normalised adjacency of the subgraph with the full graph's degrees (built once)."""
        if self._adjacency is None:
            self._adjacency = Adjacency(self.edge_index, self.num_nodes, degree=self._full_degree())
        return self._adjacency

    def _full_degree(self) -> Tensor:
        if self.degree is None:
            raise ValueError("Subgraph: GCN normalisation of a sampled subgraph needs the full graph's degrees")
        return self.degree

    def hops(self, max_hops: int) -> Tensor:
        """Each node's distance to the seeds along the edges (messages flow source -> target), capped at
        ``max_hops + 1``: a neighbour sampler's hop of every node."""
        n = self.num_nodes
        hop = torch.full((n,), max_hops + 1, dtype=torch.long, device=self.node_ids.device)
        hop[: self.num_seeds] = 0
        src, dst = self.edge_index
        for h in range(1, max_hops + 1):
            reached = src[hop[dst] == h - 1]
            hop[reached[hop[reached] > h]] = h
        return hop

    def layer_adjacencies(self, num_layers: int) -> list[Adjacency] | None:
        """One adjacency per layer of a ``num_layers``-hop model, each trimmed to the nodes the next layer reads.

        Layer ``j`` (0 = the first) needs outputs only for nodes within ``num_layers - 1 - j`` hops of the seeds
        and reads inputs of those within ``num_layers - j``: its matrix is the ``[rows_j, rows_{j-1}]`` block of
        the subgraph's normalised adjacency (full-graph degrees), the last layer's rows are the seeds. A neighbour
        sampler lists nodes hop by hop, so each block is a prefix of rows and columns; ``None`` if the nodes are
        not in that order (then use :meth:`adjacency`). The layers' results on the seeds equal those of the
        untrimmed adjacency: the dropped rows feed no seed."""
        if isinstance(num_layers, bool) or int(num_layers) != num_layers or num_layers < 1:
            raise ValueError(f"Subgraph: num_layers must be an integer >= 1, got {num_layers!r}")
        degree = self._full_degree()
        hop = self.hops(num_layers)
        if bool((hop[1:] < hop[:-1]).any()):
            return None
        # nodes within h hops, h = 0..num_layers (every node of a num_layers-hop sample is within num_layers)
        within = torch.searchsorted(hop, torch.arange(num_layers + 1, device=hop.device), right=True).tolist()
        layers, cols = [], self.num_nodes
        for j in range(num_layers):
            rows = within[num_layers - 1 - j]
            edges = self.edge_index[:, self.edge_index[1] < rows]
            layers.append(Adjacency(edges, cols, degree=degree[:cols], rows=rows))
            cols = rows
        return layers
