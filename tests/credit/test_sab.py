import pytest
import torch

from msg.credit.sab import LSTMCore, SparseAttentiveBacktracking, sparse_attention_weights, unroll
from msg.models.lsnn import LSNNCell
from msg.neurons import Sigmoid


def test_sparse_attention_weights_match_the_definition():
    scores = torch.tensor([[0.5, 2.0, -1.0, 1.0, 1.5], [3.0, 3.0, 3.0, 0.0, 1.0]])
    weights = sparse_attention_weights(scores, k_top=2, eps=1e-3)
    # row 0: delta = 1.0 (third largest); kept = [0, 1, 0, 0, 0.5]
    torch.testing.assert_close(weights[0], torch.tensor([0.0, 1.0, 0.0, 0.0, 0.5]) / 1.501)
    # row 1: a tie at the threshold gives weight 0 to all tied scores
    assert weights[1].count_nonzero() == 0
    assert (sparse_attention_weights(torch.randn(64, 30), k_top=4) > 0).sum(-1).max() <= 4
    # fewer memories than k_top: every memory is kept
    few = sparse_attention_weights(torch.tensor([[0.2, -0.3]]), k_top=5, eps=1e-6)
    assert (few > 0).all() and torch.isclose(few.sum(), torch.tensor(1.0), atol=1e-3)


def test_no_gradient_reaches_unselected_memories():
    scores = torch.randn(3, 9, requires_grad=True)
    weights = sparse_attention_weights(scores, k_top=3)
    (weights * torch.randn(3, 9)).sum().backward()
    assert torch.equal(scores.grad != 0, weights != 0)


def _cells():
    lstm = LSTMCore(3, 6)
    lsnn = LSNNCell(3, 3, 3, tau_m=5.0, tau_a=20.0, beta=0.5, threshold=0.5, surrogate=Sigmoid(), input_gain=3.0)
    return {"lstm": (lstm, 6), "lsnn": (lsnn, 6)}


@pytest.mark.parametrize("scoring", ["mlp", "dot"])
@pytest.mark.parametrize("name", ["lstm", "lsnn"])
def test_at_most_k_top_nonzero_attention_weights_per_step(name, scoring):
    torch.manual_seed(0)
    cell, hidden = _cells()[name]
    sab = SparseAttentiveBacktracking(cell, hidden, k_att=2, k_top=3, k_trunc=4, scoring=scoring, lag_bias=8)
    with torch.no_grad():
        sab.lag_bias.normal_()
    out = sab(torch.randn(30, 5, 3))
    assert out.outputs.shape == (30, 5, hidden) and out.attention.shape == (30, 5, 14)
    assert (out.attention > 0).sum(-1).max() == 3
    assert (out.attention > 0).sum(-1).le(3).all()
    # weights of memory i are zero before memory i exists (written at step 2i + 1)
    for i in range(14):
        assert out.attention[: 2 * i + 2, :, i].abs().max() == 0


def _reachable_windows(attention: torch.Tensor, k: int, steps: int) -> set[int]:
    """Windows of k steps whose inputs a loss on the last step's output and summary may reach: the last window,
    and the window of every memory selected at the last step (memory i is written at the end of window i; one-hop
    reminding, the summaries inside the state are constants)."""
    return {steps // k - 1} | {int(i) for i in torch.nonzero(attention[-1, 0] > 0).flatten()}


@pytest.mark.parametrize("scoring", ["mlp", "dot"])
@pytest.mark.parametrize("name", ["lstm", "lsnn"])
def test_truncation_blocks_gradients_except_through_attention(name, scoring):
    torch.manual_seed(3)
    cell, hidden = _cells()[name]
    k, steps = 4, 32
    x = torch.randn(steps, 1, 3, requires_grad=True)

    # truncated BPTT alone: the last-step loss reaches exactly the last window
    outputs, _ = unroll(cell, x, k_trunc=k)
    (grad,) = torch.autograd.grad(outputs[-1].sum(), x)
    norms = grad.flatten(1).norm(dim=1)
    assert norms[: steps - k].abs().max() == 0
    assert norms[steps - k :].sum() > 0
    full, _ = unroll(cell, x)
    (grad,) = torch.autograd.grad(full[-1].sum(), x)
    assert grad.flatten(1).norm(dim=1)[: steps - k].sum() > 0  # without truncation it reaches further back

    # SAB: windows outside the attention-reachable set get exactly zero gradient
    sab = SparseAttentiveBacktracking(cell, hidden, k_att=k, k_top=1, k_trunc=k, scoring=scoring, lag_bias=3)
    out = sab(x)
    (grad,) = torch.autograd.grad(out.outputs[-1].sum() + out.summaries[-1].sum(), x, retain_graph=True)
    norms = grad.flatten(1).norm(dim=1).reshape(steps // k, k).sum(1)
    reach = _reachable_windows(out.attention, k, steps)
    assert len(reach) > 1  # some long-range credit flows through the selected memories
    (state_only,) = torch.autograd.grad(out.outputs[-1].sum(), x)  # the summary inside the state is a constant
    assert state_only[: steps - k].abs().max() == 0
    for w in range(steps // k):
        if w not in reach:
            assert norms[w] == 0, w
        elif name == "lstm":
            assert norms[w] > 0, w


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k_top": 0}, "SparseAttentiveBacktracking: `k_top` must be at least 1, got 0"),
        ({"k_att": -1}, "SparseAttentiveBacktracking: `k_att` must be at least 1, got -1"),
        ({"k_trunc": 0}, "SparseAttentiveBacktracking: `k_trunc` must be at least 1, got 0"),
        ({"eps": 0.0}, "SparseAttentiveBacktracking: `eps` must be positive, got 0.0"),
        ({"scoring": "cosine"}, "SparseAttentiveBacktracking: `scoring` must be 'mlp' or 'dot', got 'cosine'"),
        ({"lag_bias": -1}, "SparseAttentiveBacktracking: `lag_bias` must be >= 0, got -1"),
        ({"bound": -1.0}, "SparseAttentiveBacktracking: `bound` must be >= 0, got -1.0"),
    ],
)
def test_bad_settings_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SparseAttentiveBacktracking(LSTMCore(2, 4), 4, **kwargs)


def test_cell_interface_and_other_errors():
    with pytest.raises(ValueError, match="SparseAttentiveBacktracking: `cell` must implement init_state.*LSTMCell"):
        SparseAttentiveBacktracking(torch.nn.LSTMCell(2, 4), 4)
    with pytest.raises(ValueError, match="sparse_attention_weights: `k_top` must be at least 1, got 0"):
        sparse_attention_weights(torch.randn(2, 3), 0)
    with pytest.raises(ValueError, match="unroll: `k_trunc` must be a positive integer or None, got 0"):
        unroll(LSTMCore(2, 4), torch.randn(3, 1, 2), k_trunc=0)
    sab = SparseAttentiveBacktracking(LSTMCore(2, 4), 4, k_att=3, k_top=2, k_trunc=6)
    assert "hidden_size=4, k_att=3, k_top=2, k_trunc=6, scoring='mlp', lag_bias=0" in repr(sab)


def test_renormalisation_floor():
    scores = torch.tensor([[2.0, 0.5, 0.0, -1.0]])
    kept = torch.tensor([[2.0, 0.5, 0.0, 0.0]])  # k_top = 2: delta = 0.0
    torch.testing.assert_close(sparse_attention_weights(scores, 2), kept / 3.5)
    torch.testing.assert_close(sparse_attention_weights(scores, 2, eps=1e-9), kept / 2.5)


def test_lstm_core_unroll_matches_torch_lstm():
    """The copy-task sanity ladder runs LSTMCore through unroll: it must be exactly torch.nn.LSTM (full BPTT)."""
    torch.manual_seed(0)
    core, ref = LSTMCore(4, 8), torch.nn.LSTM(4, 8)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(ref, f"{name}_l0").copy_(getattr(core.lstm, name))
    x = torch.randn(12, 3, 4)
    outputs, (h, c) = unroll(core, x)
    expected, (h_ref, c_ref) = ref(x)
    torch.testing.assert_close(outputs, expected)
    torch.testing.assert_close((h, c), (h_ref[0], c_ref[0]))
    (g,) = torch.autograd.grad(outputs[-1].sum(), core.lstm.weight_hh)
    (g_ref,) = torch.autograd.grad(expected[-1].sum(), ref.weight_hh_l0)
    torch.testing.assert_close(g, g_ref)


@pytest.mark.parametrize("scoring", ["mlp", "dot"])
def test_scores_of_all_memories_at_once_and_lag_offsets(scoring):
    torch.manual_seed(1)
    sab = SparseAttentiveBacktracking(LSTMCore(2, 4), 4, k_att=1, k_top=2, scoring=scoring, lag_bias=3)
    h, memories = torch.randn(2, 4), torch.randn(2, 5, 4)
    keys = sab.key(memories)
    plain = sab.scores(h, keys)
    for i in range(5):  # one memory at a time, as a loop over the memories would score them
        q = sab.query(h)
        k = keys[:, i]
        one = (q * k).sum(-1) * sab.scale if scoring == "dot" else sab.score(torch.tanh(q + k))[:, 0]
        torch.testing.assert_close(plain[:, i], one)
    with torch.no_grad():
        sab.lag_bias.copy_(torch.tensor([1.0, 2.0, 3.0]))
    # memories written at steps 0..4, now step 5: distances 5, 4, 3, 2, 1; beyond 3 the last offset
    shifted = sab.scores(h, keys, 5, torch.arange(5))
    torch.testing.assert_close(shifted - plain, torch.tensor([3.0, 3.0, 3.0, 2.0, 1.0]).expand(2, 5))
    # the offsets steer the selection: the largest offset on the nearest memory puts it in the top k
    with torch.no_grad():
        sab.lag_bias.copy_(torch.tensor([100.0, 0.0, 0.0]))
    out = sab(torch.randn(6, 2, 2))
    assert (out.attention[1:, :, :].argmax(-1) == torch.arange(5)[:, None]).all()


def test_bounded_content_scores():
    torch.manual_seed(2)
    plain = SparseAttentiveBacktracking(LSTMCore(2, 4), 4, scoring="dot", lag_bias=2)
    bounded = SparseAttentiveBacktracking(LSTMCore(2, 4), 4, scoring="dot", lag_bias=2, bound=0.5)
    bounded.load_state_dict(plain.state_dict())
    with torch.no_grad():
        plain.query.weight.mul_(50.0)  # large content scores
        bounded.query.weight.mul_(50.0)
        plain.lag_bias.copy_(torch.tensor([0.0, 2.0]))
        bounded.lag_bias.copy_(torch.tensor([0.0, 2.0]))
    h, keys = torch.randn(3, 4), torch.randn(3, 6, 4)
    raw = plain.scores(h, keys)
    assert raw.abs().max() > 2.0
    torch.testing.assert_close(bounded.scores(h, keys), 0.5 * torch.tanh(raw / 0.5))
    # with the content within +-0.5, an offset of 2 on the distances >= 2 beats any content preference
    with_lags = bounded.scores(h, keys, 6, torch.arange(6))
    assert (with_lags[:, :5].min(-1).values > with_lags[:, 5]).all()
