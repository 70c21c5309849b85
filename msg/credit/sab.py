r"""Sparse attentive backtracking (SAB) around any recurrent cell.

After Ke, Goyal, Bilaniuk, Binas, Mozer, Pal & Bengio, "Sparse Attentive Backtracking: Temporal Credit Assignment
Through Reminding" (NeurIPS 2018). At every step the cell proposes a provisional state :math:`\hat h_t`; the
wrapper attends over a memory of past provisional states :math:`M = \{m_1, \dots, m_{|M|}\}` written every
:math:`k_{att}` steps, keeps only the :math:`k_{top}` best-matching memories and adds their summary to the state:

.. math::
    a_{t,i} = w^\top \tanh(W_h \hat h_t + W_m m_i + c) \ \text{(``scoring="mlp"``)} \quad \text{or} \quad
    \frac{(W_h \hat h_t)^\top (W_m m_i + c)}{\sqrt{A}} \ \text{(``"dot"``)}, \qquad
    \delta_t = a_{t,(k_{top}+1)}\ \text{(the } (k_{top}+1)\text{-th largest score, a constant)},

.. math::
    \tilde a_{t,i} = \frac{\max(a_{t,i} - \delta_t, 0)}{\sum_j \max(a_{t,j} - \delta_t, 0) + \epsilon}, \qquad
    s_t = \sum_i \tilde a_{t,i}\, m_i, \qquad h_t = \hat h_t + \operatorname{sg}[s_t], \qquad
    m \leftarrow \hat h_t \text{ every } k_{att} \text{ steps}.

The recurrent path is cut every :math:`k_{trunc}` steps (truncated BPTT), while every memory keeps its autograd
graph: the loss at step :math:`t` reaches a step :math:`t' < t - k_{trunc}` only through the selected memories,
and from a memory written at step :math:`\tau` it backtracks locally to the last cut before :math:`\tau`. Memories
are written on the last step of their :math:`k_{att}` window and cuts happen after the memory is written, so with
:math:`k_{att} = k_{trunc}` every memory backtracks exactly :math:`k_{trunc}` steps, as in the paper. While
:math:`|M| \le k_{top}` the threshold is :math:`\delta_t = \min_i a_{t,i} - 1` (every memory is selected).
Memories hold the provisional states :math:`\hat h_t` (Ke et al.'s code stores :math:`h_t`, summary included):
a memory then stays within the cell's own range instead of accumulating summaries of summaries.

One-hop reminding: the summary enters the recurrent state as a constant, and credit reaches the memories through
the summaries :math:`s_t = \sum_i \tilde a_{t,i} m_i` that the readout sees (:class:`SABOutput`), then backtracks
locally from each selected memory. Backpropagating through the summary inside the state too, as Ke et al. do,
chains memory hops (a memory's local window holds earlier summaries), and the chains compound: an LSTM on the copy
task (T = 100, :math:`k_{att} = k_{trunc} = 10`) reached gradient norms of :math:`10^{19}` and ``inf`` after 176
training steps (measured), after which 424 of 600 steps had to be skipped.

The MLP score is Ke et al.'s (their code concatenates :math:`h_t` and :math:`m_i` before the MLP); the scaled
dot product is cheaper on a CPU (no :math:`B \times |M| \times A` tanh per step) and matches query and key
directly. Optionally (``lag_bias=L``, beyond the paper) a learned offset per distance is added to the scores,
:math:`a_{t,i} \mathrel{+}= \beta_{\min(t - \tau_i, L)}` with :math:`\tau_i` the step memory :math:`i` was
written and :math:`\beta = 0` at the start (a relative-position bias as in T5's attention). It lets the
attention learn *where* to look as well as *what* to look for: on the copy task recall step :math:`j` needs the
memory of input step :math:`j`, whose content does not say which one it is, and an LSTM whose state after the
delimiter settles to a fixed point within a few blank steps has no position code to put in the query (measured:
without it, SAB stalls at 29 % recall accuracy, the "predict the commonest symbol" solution). The offsets
can only steer the selection if the content scores stay within a range: ``bound=b > 0`` maps them to
:math:`b \tanh(a_{t,i} / b)` before the offsets are added. Unbounded, the learned query and key outgrow the
offsets and the selection stays on per-sequence content (copy, T = 100: 29-37 % recall accuracy after 1,100
iterations); with :math:`b = 1` the attention of recall step :math:`j` sits on memory :math:`j` (weight 0.98)
and the recall accuracy is 97 % after 200 iterations (measured, ``benchmarks/sab.py``).

All memories are scored at once: their keys are computed when the memory is written and kept in a
:math:`(B, |M|, A)` tensor next to the memories :math:`(B, |M|, H)`, so a step costs a few batched operations
however many memories exist (0.2-0.34 s per training iteration of an LSTM with H = 128, B = 32, T = 120 on one
CPU thread, against 2.5 s with per-step stacking and the MLP score).

A cell is any module with ``init_state(x) -> state``, ``forward(x_t, state) -> state`` (``state`` a tuple of
tensors), ``hidden(state) -> h`` and ``with_hidden(state, h) -> state``: :class:`LSTMCore` wraps
:class:`torch.nn.LSTMCell`; ``msg.models.lsnn.LSNNCell`` exposes the membrane potentials of msg's LIF/ALIF core.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

__all__ = ["LSTMCore", "SABOutput", "SparseAttentiveBacktracking", "sparse_attention_weights", "unroll"]

State = tuple[Tensor, ...]
StepHook = Callable[[int, State], State]


def sparse_attention_weights(scores: Tensor, k_top: int, eps: float = 1.0) -> Tensor:
    r"""SAB's sparsified attention: subtract the :math:`(k_{top}+1)`-th largest score, clamp at 0, renormalise.

    .. math::
        \tilde a_i = \frac{\max(a_i - \delta, 0)}{\sum_j \max(a_j - \delta, 0) + \epsilon}, \qquad
        \delta = \operatorname{sg}\big[a_{(k_{top}+1)}\big] \text{ if } |M| > k_{top}
        \text{ else } \operatorname{sg}\big[\min_i a_i\big] - 1,

    with :math:`\operatorname{sg}` the stop-gradient, so no gradient reaches the unselected memories. At most
    :math:`k_{top}` weights are non-zero (ties at :math:`\delta` get weight 0).

    The renormalisation's derivative grows like :math:`1/(\sum_j \max(a_j - \delta, 0) + \epsilon)`, and when the
    summaries inside the state carry gradients the attention steps chain through the memories (a memory's local
    window contains earlier attention steps). With that full reminding and :math:`\epsilon = 10^{-3}` the gradients
    of an LSTM on the copy task (T = 100) overflowed to ``inf`` within 60 training steps (measured);
    :math:`\epsilon = 1` (the default, in units of the learned scores) bounds each factor by 1. The weights then sum
    to :math:`S / (S + \epsilon) < 1`, :math:`S` the kept mass: a memory is read in full only once its score clearly
    exceeds the threshold, which slows learning (copy, T = 20, ``k_att = 1``, 400 steps: 14 % recall accuracy with
    :math:`\epsilon = 1` against 29 % with :math:`10^{-3}`). :class:`SparseAttentiveBacktracking`'s one-hop
    reminding cuts the chains, and :math:`\epsilon = 10^{-3}` then trained without a single non-finite gradient
    (measured; ``benchmarks/sab.py`` uses it).

    Shapes:
        - **scores**: :math:`(B, |M|)`; **output**: :math:`(B, |M|)`, rows sum to :math:`S / (S + \epsilon)`.
    """
    if k_top < 1:
        raise ValueError(f"sparse_attention_weights: `k_top` must be at least 1, got {k_top}")
    if scores.shape[-1] > k_top:
        delta = scores.detach().topk(k_top + 1, dim=-1).values[..., -1:]
    else:
        delta = scores.detach().amin(-1, keepdim=True) - 1.0
    kept = torch.relu(scores - delta)  # strict: the (k_top+1)-th score itself gets no gradient (clamp would)
    return kept / (kept.sum(-1, keepdim=True) + eps)


def _detach(state: State) -> State:
    return tuple(s.detach() for s in state)


def unroll(
    cell: nn.Module,
    x_seq: Tensor,
    state: State | None = None,
    k_trunc: int | None = None,
    hook: StepHook | None = None,
) -> tuple[Tensor, State]:
    r"""Run a cell over a sequence with optional truncation of the recurrent gradient.

    .. math::
        s_t = \text{hook}\big(t, \text{cell}(x_t, s_{t-1})\big), \qquad
        s_t \leftarrow \operatorname{sg}[s_t] \text{ when } (t + 1) \bmod k_{trunc} = 0,

    with outputs :math:`h_t = \text{cell.hidden}(s_t)` taken before the cut. ``k_trunc=None`` is full BPTT; the
    hook is where :class:`SparseAttentiveBacktracking` adds its attention.

    Shapes:
        - **x_seq**: :math:`(T, B, F)`; **output**: :math:`(T, B, H)` and the final state.
    """
    if k_trunc is not None and k_trunc < 1:
        raise ValueError(f"unroll: `k_trunc` must be a positive integer or None, got {k_trunc}")
    state = cell.init_state(x_seq[0]) if state is None else state
    outputs = []
    for t in range(x_seq.shape[0]):
        state = cell(x_seq[t], state)
        if hook is not None:
            state = hook(t, state)
        outputs.append(cell.hidden(state))
        if k_trunc is not None and (t + 1) % k_trunc == 0:
            state = _detach(state)
    return torch.stack(outputs), state


class LSTMCore(nn.Module):
    r"""A :class:`torch.nn.LSTMCell` behind the cell interface of :func:`unroll` (hidden = :math:`h`).

    .. math::
        (h_t, c_t) = \text{LSTMCell}(x_t, (h_{t-1}, c_{t-1})).

    Args:
        input_size: :math:`F`; hidden_size: :math:`H`.

    Shapes:
        - **x**: :math:`(B, F)`; **state**: :math:`((B, H), (B, H))`.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.lstm = nn.LSTMCell(input_size, hidden_size)

    def init_state(self, x: Tensor) -> State:
        zeros = x.new_zeros(x.shape[0], self.hidden_size)
        return zeros, zeros

    def forward(self, x: Tensor, state: State) -> State:
        return tuple(self.lstm(x, state))

    def hidden(self, state: State) -> Tensor:
        return state[0]

    def with_hidden(self, state: State, h: Tensor) -> State:
        return (h, *state[1:])


class SABOutput(NamedTuple):
    r"""Outputs :math:`h_t` :math:`(T, B, H)`, the final state, the attention weights :math:`(T, B, M_{max})`
    (zero-padded over the memories that did not exist yet) and the summaries :math:`\sum_i \tilde a_{t,i} m_i`
    :math:`(T, B, H)` (zero before the first memory), which a readout may use beside :math:`h_t` as Ke et al. do."""

    outputs: Tensor
    state: State
    attention: Tensor
    summaries: Tensor


class SparseAttentiveBacktracking(nn.Module):
    r"""Sparse attentive backtracking wrapper (Ke et al., NeurIPS 2018); the equations are in the module docstring.

    Args:
        cell: the recurrent cell (see the module docstring for its interface).
        hidden_size: width :math:`H` of ``cell.hidden(state)``.
        k_att: a memory is written every ``k_att`` steps (default 10).
        k_top: number of memories attended per step (default 5, at least 1).
        k_trunc: truncation length of the local backpropagation (default 10).
        attention_size: width :math:`A` of the scoring MLP or of query and key (default ``hidden_size``).
        eps: :math:`\epsilon` of the renormalisation (default 1.0, see :func:`sparse_attention_weights`).
        scoring: ``"mlp"`` (default, Ke et al.) or ``"dot"`` (scaled dot product of query and key).
        lag_bias: number :math:`L` of learned score offsets per distance :math:`t - \tau` (default 0: none);
            memories farther than :math:`L` steps share the last offset.
        bound: :math:`b`, the content scores become :math:`b \tanh(a / b)` (default 0: unbounded).

    Shapes:
        - **x_seq**: :math:`(T, B, F)`; **outputs**: :math:`(T, B, H)`; **attention**:
          :math:`(T, B, \lfloor (T - 1) / k_{att} \rfloor)` (memories that exist before the last step).
    """

    def __init__(
        self,
        cell: nn.Module,
        hidden_size: int,
        k_att: int = 10,
        k_top: int = 5,
        k_trunc: int = 10,
        attention_size: int | None = None,
        eps: float = 1.0,
        scoring: str = "mlp",
        lag_bias: int = 0,
        bound: float = 0.0,
    ) -> None:
        super().__init__()
        for name, value in (("hidden_size", hidden_size), ("k_att", k_att), ("k_top", k_top), ("k_trunc", k_trunc)):
            if value < 1:
                raise ValueError(f"SparseAttentiveBacktracking: `{name}` must be at least 1, got {value}")
        for method in ("init_state", "hidden", "with_hidden"):
            if not callable(getattr(cell, method, None)):
                raise ValueError(
                    f"SparseAttentiveBacktracking: `cell` must implement {method}(), got {type(cell).__name__}"
                )
        self.cell = cell
        if not eps > 0:
            raise ValueError(f"SparseAttentiveBacktracking: `eps` must be positive, got {eps}")
        self.hidden_size, self.k_att, self.k_top, self.k_trunc = hidden_size, k_att, k_top, k_trunc
        self.eps = float(eps)
        if scoring not in ("mlp", "dot"):
            raise ValueError(f"SparseAttentiveBacktracking: `scoring` must be 'mlp' or 'dot', got {scoring!r}")
        self.scoring = scoring
        size = hidden_size if attention_size is None else attention_size
        self.scale = size**-0.5
        self.query = nn.Linear(hidden_size, size, bias=False)
        self.key = nn.Linear(hidden_size, size)
        self.score = nn.Linear(size, 1, bias=False) if scoring == "mlp" else None
        if lag_bias < 0:
            raise ValueError(f"SparseAttentiveBacktracking: `lag_bias` must be >= 0, got {lag_bias}")
        # learned score offset per distance t - tau (1 ... lag_bias; farther memories share the last), zero at start
        self.lag_bias = nn.Parameter(torch.zeros(lag_bias)) if lag_bias else None
        if bound < 0:
            raise ValueError(f"SparseAttentiveBacktracking: `bound` must be >= 0, got {bound}")
        self.bound = float(bound)

    def scores(self, h: Tensor, keys: Tensor, t: int | None = None, written: Tensor | None = None) -> Tensor:
        r"""Scores :math:`(B, M)` of the memories with keys :math:`(B, M, A)` (``self.key`` of the memories)
        against the provisional state :math:`\hat h_t` :math:`(B, H)`, all memories in one batched operation;
        with ``lag_bias``, ``t`` (the current step) and ``written`` (:math:`(M,)`, the steps the memories were
        written) add the offsets of their distances."""
        query = self.query(h)
        if self.scoring == "dot":
            scores = (keys * query[:, None]).sum(-1) * self.scale  # faster than a batched mat-vec on CPU
        else:
            scores = self.score(torch.tanh(query[:, None] + keys))[..., 0]
        if self.bound:
            scores = self.bound * torch.tanh(scores / self.bound)
        if self.lag_bias is not None and t is not None and written is not None:
            scores = scores + self.lag_bias[(t - written).clamp(1, len(self.lag_bias)) - 1]
        return scores

    def forward(self, x_seq: Tensor, state: State | None = None) -> SABOutput:
        values: Tensor | None = None  # (B, M, H) memories
        keys: Tensor | None = None  # (B, M, A) their keys, computed once when written
        weights: list[Tensor] = []
        summaries: list[Tensor] = []

        def remind(t: int, current: State) -> State:
            nonlocal values, keys
            h = self.cell.hidden(current)
            if values is not None:
                written = torch.arange(self.k_att - 1, t, self.k_att, device=h.device)
                attn = sparse_attention_weights(self.scores(h, keys, t, written), self.k_top, self.eps)
                summary = (attn[..., None] * values).sum(1)
                # one-hop reminding: the state receives the summary as a constant (see the module docstring)
                current = self.cell.with_hidden(current, h + summary.detach())
            else:
                attn, summary = h.new_zeros(h.shape[0], 0), torch.zeros_like(h)
            weights.append(attn)
            summaries.append(summary)
            if (t + 1) % self.k_att == 0:
                key = self.key(h)[:, None]
                values = h[:, None] if values is None else torch.cat([values, h[:, None]], 1)
                keys = key if keys is None else torch.cat([keys, key], 1)
            return current

        outputs, state = unroll(self.cell, x_seq, state, self.k_trunc, remind)
        width = max(w.shape[1] for w in weights)
        attention = torch.stack([nn.functional.pad(w, (0, width - w.shape[1])) for w in weights])
        return SABOutput(outputs, state, attention, torch.stack(summaries))

    def extra_repr(self) -> str:
        lag = 0 if self.lag_bias is None else len(self.lag_bias)
        return (
            f"hidden_size={self.hidden_size}, k_att={self.k_att}, k_top={self.k_top}, k_trunc={self.k_trunc}, "
            f"scoring={self.scoring!r}, lag_bias={lag}"
        )
