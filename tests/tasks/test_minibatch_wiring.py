"""`msg train --batch-size` / `--nproc` reach the mini-batch and data-parallel trainers; what they refuse."""

from __future__ import annotations

import json

import pytest

import msg.tasks.minibatch as minibatch
from msg.cli import main

ARGS = ["train", "--epochs", "2", "--T", "2", "--hidden", "8", "--layers", "1", "--no-progress"]


def test_batch_size_trains_through_the_minibatch_trainer(tmp_path, monkeypatch):
    calls = []
    trainer = minibatch.train_node_classification_minibatch

    def spy(cfg, data, split, seed, **kwargs):
        calls.append((cfg.batch_size, seed, int(split.train_mask.sum())))
        return trainer(cfg, data, split, seed, **kwargs)

    monkeypatch.setattr(minibatch, "train_node_classification_minibatch", spy)
    out = tmp_path / "mb.json"
    assert main([*ARGS, "--batch-size", "70", "--runs", "2", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert calls == [(70, 0, 140), (70, 1, 140)]  # the shipped Cora's public split: 140 training nodes
    assert doc["complete"] and len(doc["runs"]) == 2 and doc["config"]["batch_size"] == 70
    assert 0.0 <= doc["test_mean"] <= 1.0 and "energy_J" in doc["energy"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--batch-size", "64", "--task", "lp"], "mini-batch training covers node classification only"),
        (["--batch-size", "64", "--nproc", "2", "--resume"], "--resume is not supported with --nproc 2"),
        (["--batch-size", "64", "--checkpoint-every", "1"], "--checkpoint-every is not supported with --batch-size"),
        (["--nproc", "2"], "set batch_size"),
    ],
)
def test_refusals_name_the_option(tmp_path, capsys, extra, message):
    out = tmp_path / "bad.json"
    assert main([*ARGS, "--out", str(out), *extra]) == 2
    assert message in capsys.readouterr().err
