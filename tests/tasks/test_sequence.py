import pytest
import torch

from msg.tasks.sequence import (
    SequenceBatch,
    adding_task,
    copy_task,
    masked_accuracy,
    sequential_digits,
    store_recall,
)


def _same(a: SequenceBatch, b: SequenceBatch) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize(
    "make",
    [
        lambda g: store_recall(16, n_periods=5, period_steps=12, cue_steps=3, generator=g),
        lambda g: copy_task(16, delay=7, generator=g),
        lambda g: adding_task(16, length=30, generator=g),
    ],
)
def test_generators_are_deterministic_per_seed(make):
    assert _same(make(3), make(3))
    assert not _same(make(3), make(4))
    gen = torch.Generator().manual_seed(3)
    first, second = make(gen), make(gen)
    assert _same(first, make(3))
    assert not _same(first, second)  # a Generator advances between calls


def test_store_recall_shapes_and_semantics():
    batch = store_recall(64, n_periods=6, period_steps=20, cue_steps=4, min_gap=2, generator=0)
    x, y, m = batch
    assert x.shape == (120, 64, 4) and y.shape == m.shape == (120, 64)
    assert m.sum(0).eq(4).all()  # one recall cue of cue_steps steps per sequence
    periods = x.reshape(6, 20, 64, 4)
    assert periods[:, 4:].abs().sum() == 0  # cues only in the first cue_steps of a period
    assert periods[:, :4, :, :2].sum(-1).eq(1).all()  # one value bit shown in every period
    store = periods[:, 0, :, 2].argmax(0)
    recall = periods[:, 0, :, 3].argmax(0)
    assert periods[:, 0, :, 2].sum(0).eq(1).all() and periods[:, 0, :, 3].sum(0).eq(1).all()
    assert (recall - store).ge(2).all()
    cols = torch.arange(64)
    stored_bit = periods[store, 0, cols, 1].long()
    assert torch.equal(y.t()[m.t()].reshape(64, 4), stored_bit[:, None].expand(64, 4))
    assert torch.equal(m.reshape(6, 20, 64)[:, 0].float().argmax(0), recall)
    assert 0.3 < stored_bit.float().mean() < 0.7


def test_sequential_digits_split_and_shapes():
    train, test = sequential_digits("train", seed=1), sequential_digits("test", seed=1)
    assert train.inputs.shape == (64, 1797 - 449, 1) and test.inputs.shape == (64, 449, 1)
    assert train.mask[-1].all() and not train.mask[:-1].any()
    assert 0.0 <= float(train.inputs.min()) and float(train.inputs.max()) == 1.0
    # pixel t of image b is step t: the sequence is the flattened image
    from sklearn.datasets import load_digits

    data = torch.as_tensor(load_digits().data, dtype=torch.float32) / 16
    all_seq = torch.cat([train.inputs, test.inputs], 1)[..., 0].t()
    assert torch.equal(all_seq.sort(0).values, data.sort(0).values)
    assert torch.equal(
        torch.cat([train.targets[-1], test.targets[-1]]).bincount(),
        torch.bincount(torch.as_tensor(load_digits().target)),
    )
    assert _same(test, sequential_digits("test", seed=1))
    assert not torch.equal(test.targets, sequential_digits("test", seed=2).targets)


def test_sequential_digits_population_encodings():
    current = sequential_digits("test", seed=1)
    gray = torch.round(current.inputs[..., 0] * 16)  # (64, N) gray levels 0..16
    crossings = sequential_digits("test", seed=1, encoding="crossings")
    thermometer = sequential_digits("test", seed=1, encoding="thermometer", levels=4)
    assert crossings.inputs.shape == (64, 449, 32) and thermometer.inputs.shape == (64, 449, 4)
    assert torch.equal(crossings.targets, current.targets) and torch.equal(crossings.mask, current.mask)
    # thermometer: channel k is on while the gray value is at least 4 (k + 1)
    torch.testing.assert_close(thermometer.inputs.sum(-1), torch.div(gray, 4, rounding_mode="floor"))
    # crossings: the up and down spikes at step t count the thresholds 1..16 crossed between pixel t-1 and t
    before = torch.cat([torch.zeros_like(gray[:1]), gray[:-1]])
    up, down = crossings.inputs[..., :16], crossings.inputs[..., 16:]
    torch.testing.assert_close(up.sum(-1), (gray - before).clamp_min(0))
    torch.testing.assert_close(down.sum(-1), (before - gray).clamp_min(0))
    assert not (up.sum(-1) * down.sum(-1)).any()  # never both directions at once
    # integrating the spikes recovers the gray values
    torch.testing.assert_close(torch.cumsum(up.sum(-1) - down.sum(-1), 0), gray)
    crossed = torch.nonzero(up[5, 0]).flatten() + 1  # thresholds crossed upwards at step 5
    if len(crossed):
        assert float(before[5, 0]) < float(crossed.min()) and float(crossed.max()) <= float(gray[5, 0])


def test_copy_task_layout():
    x, y, m = copy_task(8, delay=5, length=4, n_symbols=3, generator=1)
    assert x.shape == (13, 8, 5) and x.sum(-1).eq(1).all()
    codes = x.argmax(-1)
    assert codes[4:9].eq(3).all() and codes[9].eq(4).all() and codes[10:].eq(3).all()
    assert torch.equal(y[-4:], codes[:4]) and m[-4:].all() and not m[:-4].any()
    perfect = torch.nn.functional.one_hot(y, 3).float()
    assert masked_accuracy(perfect, SequenceBatch(x, y, m)) == 1.0


def test_adding_task_target_is_sum_of_marked_values():
    x, y, m = adding_task(32, length=10, generator=2)
    assert x.shape == (10, 32, 2)
    assert x[:5, :, 1].sum(0).eq(1).all() and x[5:, :, 1].sum(0).eq(1).all()
    torch.testing.assert_close(y[-1], (x[..., 0] * x[..., 1]).sum(0))
    assert m[-1].all() and m.sum() == 32


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: store_recall(0), "store_recall: `batch_size`"),
        (lambda: store_recall(4, n_periods=3, min_gap=3), "store_recall: `min_gap`.*got 3"),
        (lambda: store_recall(4, period_steps=5, cue_steps=6), "store_recall: `cue_steps`.*got 6"),
        (lambda: copy_task(4, delay=-1), "copy_task: `delay`.*got -1"),
        (lambda: copy_task(4, delay=0), "copy_task: `delay` must be a positive integer, got 0"),
        (lambda: store_recall(4, min_gap=0), "store_recall: `min_gap` must be a positive integer, got 0"),
        (lambda: store_recall(4, period_steps=0), "store_recall: `period_steps` must be a positive integer, got 0"),
        (lambda: sequential_digits(encoding="rate"), "sequential_digits: `encoding`.*'rate'"),
        (lambda: sequential_digits(levels=5), "sequential_digits: `levels` must be a divisor of 16, got 5"),
        (lambda: adding_task(4, length=1), "adding_task: `length`.*got 1"),
        (lambda: sequential_digits("val"), "sequential_digits: `split`.*'val'"),
    ],
)
def test_bad_settings_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()
