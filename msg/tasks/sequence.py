"""Seeded generators of the sequence tasks the recurrent baselines are measured on.

Every generator returns a :class:`SequenceBatch`: time-major inputs ``[T, B, C]``, per-step targets
``[T, B]`` and a boolean ``mask`` ``[T, B]`` that marks the steps where the loss is taken, so one masked loss
serves every task. Randomness comes only from the ``generator`` argument (a :class:`torch.Generator` or an
integer seed), so a batch is a deterministic function of its seed.

Tasks:

- :func:`store_recall`: the store-recall memory task of Bellec et al., "Long short-term memory and
  Learning-to-learn in networks of spiking neurons" (NeurIPS 2018).
- :func:`sequential_digits`: scikit-learn's bundled 8x8 digits, fed one pixel per step (64 steps).
- :func:`copy_task` and :func:`adding_task`: the copy and adding problems used by Ke et al., "Sparse Attentive
  Backtracking: Temporal Credit Assignment Through Reminding" (NeurIPS 2018), after Hochreiter & Schmidhuber
  (1997).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "ENCODINGS",
    "SequenceBatch",
    "adding_task",
    "copy_task",
    "masked_accuracy",
    "sequential_digits",
    "store_recall",
]


class SequenceBatch(NamedTuple):
    """A batch of a sequence task.

    Shapes:
        - **inputs**: :math:`(T, B, C)` float.
        - **targets**: :math:`(T, B)`, ``long`` class indices (float for :func:`adding_task`); only the
          entries
          where ``mask`` is true are meaningful (the others are 0).
        - **mask**: :math:`(T, B)` bool, the steps where the loss and the accuracy are taken.
    """

    inputs: Tensor
    targets: Tensor
    mask: Tensor


def _generator(generator: torch.Generator | int | None) -> torch.Generator:
    if isinstance(generator, torch.Generator):
        return generator
    out = torch.Generator()
    out.manual_seed(0 if generator is None else int(generator))
    return out


def _check_positive(fn: str, **values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise ValueError(f"{fn}: `{name}` must be a positive integer, got {value}")


def store_recall(
    batch_size: int,
    n_periods: int = 6,
    period_steps: int = 50,
    cue_steps: int = 10,
    min_gap: int = 2,
    generator: torch.Generator | int | None = None,
) -> SequenceBatch:
    r"""Store-recall task (Bellec et al., NeurIPS 2018, Sec. 3 and its public tutorial).

    The sequence is made of ``n_periods`` periods of ``period_steps`` steps. At the start of every period a
    random bit :math:`b_p` is shown for ``cue_steps`` steps on the value channels (one-hot: channel 0 for 0,
    channel 1 for 1). In one period :math:`s` the *store* cue (channel 2) is shown alongside the value, and
    in a later period :math:`r \ge s + \text{min\_gap}` the *recall* cue (channel 3). During the recall cue
    the network must output the bit that was shown with the store cue; every other bit is a distractor:

    .. math::
        y_t = b_s \quad \text{for } t \in [r\,P,\ r\,P + c), \qquad
        \text{delay} = (r - s)\,P \in [\text{min\_gap}\,P,\ (n - 1)\,P],

    with :math:`P` = ``period_steps`` and :math:`c` = ``cue_steps``. Chance level is 50 %.

    Args:
        batch_size: number of sequences :math:`B`.
        n_periods: periods per sequence (default 6, so :math:`T = 300`).
        period_steps: steps per period (default 50: delays of 100 to 250 steps).
        cue_steps: steps a cue stays on at the start of its period (default 10).
        min_gap: least number of periods between store and recall (default 2).
        generator: a :class:`torch.Generator` (advanced in place) or an integer seed (default seed 0).

    Shapes:
        - **inputs**: :math:`(T, B, 4)` in :math:`\{0, 1\}`, :math:`T` = ``n_periods * period_steps``;
          channels
          value-0, value-1, store, recall.
        - **targets**: :math:`(T, B)` long, the stored bit during the recall cue.
        - **mask**: :math:`(T, B)`, true during the recall cue (``cue_steps`` steps per sequence).
    """
    _check_positive(
        "store_recall",
        batch_size=batch_size,
        n_periods=n_periods,
        period_steps=period_steps,
        cue_steps=cue_steps,
        min_gap=min_gap,
    )
    if cue_steps > period_steps:
        raise ValueError(
            f"store_recall: `cue_steps` must not exceed period_steps={period_steps}, got {cue_steps}"
        )
    if min_gap >= n_periods:
        raise ValueError(f"store_recall: `min_gap` must be smaller than n_periods={n_periods}, got {min_gap}")
    gen = _generator(generator)
    bits = torch.randint(0, 2, (n_periods, batch_size), generator=gen)
    store = torch.randint(0, n_periods - min_gap, (batch_size,), generator=gen)
    # recall period uniform in [store + min_gap, n_periods - 1]
    span = n_periods - min_gap - store
    recall = store + min_gap + (torch.rand(batch_size, generator=gen) * span).long()
    cols = torch.arange(batch_size)

    period_inputs = torch.zeros(n_periods, batch_size, 4)
    period_inputs[:, :, 0] = (bits == 0).float()
    period_inputs[:, :, 1] = (bits == 1).float()
    period_inputs[store, cols, 2] = 1.0
    period_inputs[recall, cols, 3] = 1.0
    on = torch.zeros(period_steps)
    on[:cue_steps] = 1.0
    inputs = (period_inputs[:, None] * on[None, :, None, None]).reshape(
        n_periods * period_steps, batch_size, 4
    )

    recall_mask = torch.zeros(n_periods, batch_size, dtype=torch.bool)
    recall_mask[recall, cols] = True
    mask = (recall_mask[:, None] & on.bool()[None, :, None]).reshape(n_periods * period_steps, batch_size)
    targets = torch.where(mask, bits[store, cols][None].expand_as(mask), 0)
    return SequenceBatch(inputs, targets, mask)


ENCODINGS = ("current", "crossings", "thermometer")


def sequential_digits(
    split: str = "train",
    test_fraction: float = 0.25,
    seed: int = 0,
    encoding: str = "current",
    levels: int = 16,
) -> SequenceBatch:
    r"""Scikit-learn's bundled 8x8 digits fed one pixel per step, in row-major order.

    The 1,797 images are shuffled by ``seed`` and split into train and test parts. The class is read out at the
    last step. A pixel's gray value :math:`g_t \in \{0, \dots, 16\}` enters as

    - ``"current"``: one channel, :math:`x_t = g_t / 16`;
    - ``"crossings"``: a population of threshold-crossing input neurons, after Bellec et al.'s sequential MNIST
      input (NeurIPS 2018): thresholds :math:`\theta_k = 16 k / K`, :math:`k = 1, \dots, K`, and for each an
      *up* neuron that spikes when the gray value crosses :math:`\theta_k` upwards between two consecutive pixels
      and a *down* neuron for downward crossings (the pixel before the first is 0):

      .. math::
          x_{t, k} = [g_{t-1} < \theta_k \le g_t], \qquad x_{t, K + k} = [g_t < \theta_k \le g_{t-1}];

    - ``"thermometer"``: :math:`K` channels, :math:`x_{t, k} = [g_t \ge \theta_k]`.

    Args:
        split: ``"train"`` or ``"test"`` (default ``"train"``).
        test_fraction: share of the images in the test split (default 0.25).
        seed: seed of the shuffle (default 0).
        encoding: ``"current"``, ``"crossings"`` or ``"thermometer"`` (default ``"current"``).
        levels: number of thresholds :math:`K` of the population codes, a divisor of 16 (default 16).

    Shapes:
        - **inputs**: :math:`(64, N, C)`, :math:`C` = 1 (current), :math:`2K` (crossings) or :math:`K`
          (thermometer).
        - **targets**: :math:`(64, N)` long, the digit at every step.
        - **mask**: :math:`(64, N)`, true at the last step only.
    """
    if split not in ("train", "test"):
        raise ValueError(f"sequential_digits: `split` must be 'train' or 'test', got {split!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"sequential_digits: `test_fraction` must lie in (0, 1), got {test_fraction}")
    if encoding not in ENCODINGS:
        raise ValueError(f"sequential_digits: `encoding` must be one of {ENCODINGS}, got {encoding!r}")
    if not (isinstance(levels, int) and 1 <= levels <= 16 and 16 % levels == 0):
        raise ValueError(f"sequential_digits: `levels` must be a divisor of 16, got {levels}")
    from sklearn.datasets import load_digits

    digits = load_digits()
    gray = torch.as_tensor(digits.data, dtype=torch.float32)
    labels = torch.as_tensor(digits.target, dtype=torch.long)
    order = torch.randperm(len(labels), generator=_generator(seed))
    n_test = round(test_fraction * len(labels))
    idx = order[:n_test] if split == "test" else order[n_test:]
    gray = gray[idx].t()  # (64, N)
    if encoding == "current":
        inputs = (gray / 16.0).unsqueeze(-1).contiguous()
    else:
        thresholds = torch.arange(1, levels + 1, dtype=torch.float32) * (16 // levels)
        above = (gray[..., None] >= thresholds).float()  # (64, N, K)
        if encoding == "thermometer":
            inputs = above
        else:
            before = torch.cat([torch.zeros_like(above[:1]), above[:-1]])
            inputs = torch.cat([(above > before).float(), (above < before).float()], -1)
    targets = labels[idx][None].expand(64, -1).contiguous()
    mask = torch.zeros(64, len(idx), dtype=torch.bool)
    mask[-1] = True
    return SequenceBatch(inputs, targets, mask)


def copy_task(
    batch_size: int,
    delay: int = 100,
    length: int = 10,
    n_symbols: int = 8,
    generator: torch.Generator | int | None = None,
) -> SequenceBatch:
    r"""Copy task (Hochreiter & Schmidhuber, 1997; as in Ke et al., NeurIPS 2018).

    ``length`` symbols drawn from ``n_symbols`` are shown, then ``delay`` blanks, then a delimiter, after
    which the network must output the symbols in order. Input channels: the symbols, a blank and the
    delimiter.

    .. math::
        x = (a_1, \dots, a_L, \underbrace{\varnothing, \dots, \varnothing}_{\text{delay}}, \ast,
        \underbrace{\varnothing, \dots, \varnothing}_{L - 1}), \qquad
        y_{L + \text{delay} + i} = a_{i + 1}, \; i = 0, \dots, L - 1.

    Chance level on the recalled symbols is :math:`1 / n_\text{symbols}`.

    Args:
        batch_size: number of sequences :math:`B`.
        delay: number of blanks :math:`T_\text{delay} \ge 1` between the symbols and the delimiter (default 100).
        length: number of symbols to copy :math:`L` (default 10).
        n_symbols: alphabet size (default 8).
        generator: a :class:`torch.Generator` (advanced in place) or an integer seed (default seed 0).

    Shapes:
        - **inputs**: :math:`(2L + T_\text{delay}, B, n_\text{symbols} + 2)` one-hot.
        - **targets**: :math:`(2L + T_\text{delay}, B)` long, the symbols during the last :math:`L` steps.
        - **mask**: :math:`(2L + T_\text{delay}, B)`, true during the last :math:`L` steps.
    """
    _check_positive("copy_task", batch_size=batch_size, delay=delay, length=length, n_symbols=n_symbols)
    gen = _generator(generator)
    steps = 2 * length + delay
    symbols = torch.randint(0, n_symbols, (length, batch_size), generator=gen)
    codes = torch.full((steps, batch_size), n_symbols, dtype=torch.long)  # blank
    codes[:length] = symbols
    codes[length + delay] = n_symbols + 1  # delimiter
    inputs = torch.nn.functional.one_hot(codes, n_symbols + 2).float()
    targets = torch.zeros(steps, batch_size, dtype=torch.long)
    targets[-length:] = symbols
    mask = torch.zeros(steps, batch_size, dtype=torch.bool)
    mask[-length:] = True
    return SequenceBatch(inputs, targets, mask)


def adding_task(
    batch_size: int, length: int = 200, generator: torch.Generator | int | None = None
) -> SequenceBatch:
    r"""Adding problem (Hochreiter & Schmidhuber, 1997; as in Ke et al., NeurIPS 2018).

    Each step carries a value :math:`u_t \sim U(0, 1)` and a marker :math:`m_t`; exactly two markers are on,
    one in each half of the sequence. The target, read at the last step, is the sum of the two marked values:

    .. math::
        y_{T - 1} = \sum_t m_t\, u_t .

    A constant prediction of 1 has mean squared error 1/6.

    Args:
        batch_size: number of sequences :math:`B`.
        length: sequence length :math:`T` (default 200, at least 2).
        generator: a :class:`torch.Generator` (advanced in place) or an integer seed (default seed 0).

    Shapes:
        - **inputs**: :math:`(T, B, 2)`, channels value and marker.
        - **targets**: :math:`(T, B)` float, the sum at the last step.
        - **mask**: :math:`(T, B)`, true at the last step.
    """
    _check_positive("adding_task", batch_size=batch_size)
    if length < 2:
        raise ValueError(f"adding_task: `length` must be at least 2, got {length}")
    gen = _generator(generator)
    half = length // 2
    values = torch.rand(length, batch_size, generator=gen)
    first = (torch.rand(batch_size, generator=gen) * half).long()
    second = half + (torch.rand(batch_size, generator=gen) * (length - half)).long()
    cols = torch.arange(batch_size)
    markers = torch.zeros(length, batch_size)
    markers[first, cols] = 1.0
    markers[second, cols] = 1.0
    inputs = torch.stack([values, markers], dim=-1)
    mask = torch.zeros(length, batch_size, dtype=torch.bool)
    mask[-1] = True
    targets = torch.zeros(length, batch_size)
    targets[-1] = (values * markers).sum(0)
    return SequenceBatch(inputs, targets, mask)


def masked_accuracy(logits: Tensor, batch: SequenceBatch) -> Tensor:
    r"""Share of masked steps whose arg-max class equals the target.

    .. math::
        \text{acc} = \frac{\sum_{t, b} m_{tb}\,[\arg\max_c \ell_{tbc} = y_{tb}]}{\sum_{t, b} m_{tb}} .

    Shapes:
        - **logits**: :math:`(T, B, K)`; **batch** as documented in :class:`SequenceBatch`.
        - **output**: scalar.
    """
    hits = (logits.argmax(-1) == batch.targets) & batch.mask
    return hits.sum() / batch.mask.sum()
