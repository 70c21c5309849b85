"""--normalize-features: row normalisation of node features before training."""

from __future__ import annotations

import json

import torch

from msg.cli import main
from msg.tasks.runner import normalize_rows


def test_rows_sum_to_one_in_absolute_value_and_zero_rows_stay_zero():
    x = torch.tensor([[1.0, 3.0, 0.0], [0.0, 0.0, 0.0], [-2.0, 1.0, 1.0]])
    out = normalize_rows(x)
    torch.testing.assert_close(out.abs().sum(-1), torch.tensor([1.0, 0.0, 1.0]))
    torch.testing.assert_close(out[0], torch.tensor([0.25, 0.75, 0.0]))
    assert torch.isfinite(out).all()
    torch.testing.assert_close(normalize_rows(x.to_sparse()), out)


def test_msg_train_normalizes_features_when_asked(tmp_path):
    outs = {}
    for flag in ([], ["--normalize-features"]):
        out = tmp_path / f"r{len(flag)}.json"
        args = ["train", "--epochs", "2", "--T", "2", "--no-progress", "--out", str(out), *flag]
        assert main(args) == 0
        outs[bool(flag)] = json.loads(out.read_text())
    assert outs[True]["config"]["normalize_features"] is True
    assert outs[False]["config"]["normalize_features"] is False
    # the shipped Cora has 0/1 features with ~18 ones per row: a different input gives a different training curve
    assert outs[True]["runs"][0]["history"]["loss"] != outs[False]["runs"][0]["history"]["loss"]
