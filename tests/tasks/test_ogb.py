"""OGB leaderboard runs: `msg train` on tiny OGB-format folders through ogb's own loaders and evaluators."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from msg.datasets.ogb import ogb_task
from ogb_fake import FAKES

from msg.cli import main
from msg.tasks.config import TrainConfig, resolve_config
from msg.tasks.runner import load_task_data, train_link_prediction, train_node_classification

FIELDS = {
    "task", "dataset", "model", "manifold", "credit", "metric", "test_mean", "test_std", "val_mean", "runs",
    "epoch_time_s", "peak_rss_mb", "num_params", "energy", "config", "complete", "ogb",
}
TINY = ["--epochs", "1", "--T", "2", "--hidden", "8", "--layers", "1", "--no-progress"]


def _train(tmp_path: Path, name: str, *extra: str) -> dict:
    FAKES[name](tmp_path)
    out = tmp_path / f"{name}.json"
    task = "lp" if name.startswith("ogbl") else "nc"
    argv = ["train", "--task", task, "--dataset", name, "--root", str(tmp_path), "--out", str(out), *TINY, *extra]
    assert main(argv) == 0
    return json.loads(out.read_text())


@pytest.mark.parametrize(
    "name,metric", [("ogbn-arxiv", "acc"), ("ogbl-collab", "hits@50"), ("ogbl-ddi", "hits@20")]
)
def test_msg_train_ogb_defaults_to_ten_seeded_runs(tmp_path: Path, name: str, metric: str) -> None:
    result = _train(tmp_path, name)
    assert FIELDS <= set(result) and result["complete"] is True
    assert result["metric"] == metric and result["ogb"]["evaluator"] == name
    assert [r["seed"] for r in result["runs"]] == list(range(10)) and result["config"]["runs"] == 10
    for r in result["runs"]:  # test at the best-validation evaluation, validation reported too
        best = r["history"]["val"].index(max(r["history"]["val"]))
        assert r["test"] == r["history"]["test"][best] and 0.0 <= r["val"] <= 1.0
    assert result["val_mean"] == pytest.approx(sum(r["val"] for r in result["runs"]) / 10)
    assert result["num_params"] > 0 and result["test_std"] >= 0.0


def test_msg_train_ogbn_proteins_is_multi_label(tmp_path: Path) -> None:
    # ogb's ROC-AUC runs sklearn once per task (112): ~0.7 s an evaluation here, so two runs instead of ten
    result = _train(tmp_path, "ogbn-proteins", "--runs", "2", "--model", "gcn", "--save-model", str(tmp_path / "m"))
    assert result["metric"] == "rocauc" and [r["seed"] for r in result["runs"]] == [0, 1]
    assert 0.0 <= result["test_mean"] <= 1.0
    payload = torch.load(tmp_path / "m", weights_only=True)
    assert payload["out_channels"] == 112  # one logit per binary task


def test_runner_scores_are_ogbs_evaluator_on_the_best_model(tmp_path: Path) -> None:
    from ogb.linkproppred import Evaluator as LinkEvaluator
    from ogb.nodeproppred import Evaluator

    FAKES["ogbn-arxiv"](tmp_path)
    cfg = TrainConfig(dataset="ogbn-arxiv", root=str(tmp_path), epochs=3, T=2, hidden=8, layers=1)
    data, ogb = load_task_data(cfg)
    assert data.edge_index.size(1) > 200  # arxiv's directed citations made undirected
    result = train_node_classification(cfg, data, 0, ogb=ogb)
    model = result["model"].eval()
    with torch.no_grad():
        pred = model(data.x, data.edge_index).argmax(-1, keepdim=True)
    mask = data.test_mask
    expected = Evaluator("ogbn-arxiv").eval({"y_true": data.y[mask].view(-1, 1), "y_pred": pred[mask]})["acc"]
    assert result["test"] == expected

    FAKES["ogbl-ddi"](tmp_path)
    cfg = TrainConfig(task="lp", dataset="ogbl-ddi", root=str(tmp_path), epochs=2, T=2, hidden=8, layers=1)
    data, ogb = load_task_data(cfg)
    assert data.x.shape == (50, 50) and torch.equal(data.x, torch.eye(50))  # one-hot identities
    result = train_link_prediction(cfg, data, 0, ogb=ogb)
    from msg.tasks.runner import link_decoder

    model = result["model"].eval()
    decoder = link_decoder(cfg, model)
    with torch.no_grad():
        z = model.encode(data.x, data.edge_index)
        pos, neg = decoder.logits(z, data.test_pos_edge_index), decoder.logits(z, data.test_neg_edge_index)
    assert result["test"] == LinkEvaluator("ogbl-ddi").eval({"y_pred_pos": pos, "y_pred_neg": neg})["hits@20"]


def test_evaluators_match_hand_computation() -> None:
    arxiv, proteins = ogb_task("ogbn-arxiv"), ogb_task("ogbn-proteins")
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 1.0], [5.0, 0.0, 0.0]])
    logits = torch.cat([logits, torch.zeros(4, 37)], dim=1)  # 40 classes
    y = torch.tensor([0, 1, 1, 2])  # argmax 0, 1, 2, 0: two of four right
    assert arxiv.score_nodes(arxiv.evaluator(), logits, y) == 0.5

    # 112 tasks: 56 with positives scored (0.9, 0.3) against negatives (0.8, 0.1) -> AUC 3/4, 55 separated
    # perfectly -> AUC 1, one task without positives (skipped by ogb)
    y = torch.zeros(4, 112, dtype=torch.long)
    scores = torch.zeros(4, 112)
    y[:, :56] = torch.tensor([1, 0, 1, 0]).view(4, 1)
    scores[:, :56] = torch.tensor([0.9, 0.8, 0.3, 0.1]).view(4, 1)
    y[:, 56:111] = torch.tensor([1, 1, 0, 0]).view(4, 1)
    scores[:, 56:111] = torch.tensor([0.7, 0.6, 0.5, 0.4]).view(4, 1)
    expected = (56 * 0.75 + 55 * 1.0) / 111
    assert proteins.score_nodes(proteins.evaluator(), scores, y) == pytest.approx(expected, abs=1e-12)

    negatives = torch.arange(60, dtype=torch.float)  # 50th best negative: 10; 20th best: 40
    collab, ddi = ogb_task("ogbl-collab"), ogb_task("ogbl-ddi")
    pos = torch.tensor([5.0, 10.0, 10.5, 70.0])  # strictly above 10: two of four
    assert collab.score_links(collab.evaluator(), pos, negatives) == 0.5
    pos = torch.tensor([39.0, 40.0, 41.0, 100.0, 45.0])  # strictly above 40: three of five
    assert ddi.score_links(ddi.evaluator(), pos, negatives) == 0.6


def test_ogb_runs_default_and_override(tmp_path: Path) -> None:
    assert resolve_config({"dataset": "ogbn-arxiv"}).runs == 10
    assert resolve_config({"dataset": "ogbl-ddi", "task": "lp"}).runs == 10
    assert resolve_config({"dataset": "ogbn-arxiv", "runs": 3}).runs == 3
    assert resolve_config({"dataset": "cora"}).runs == 1
    assert resolve_config({"dataset": "ogbn-arxiv", "task": "lp"}).runs == 1  # not an OGB leaderboard task
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"dataset": "ogbn-products", "runs": 4}))
    assert resolve_config({"config": str(path)}).runs == 4


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--dataset", "ogbl-collab"], "OGB link-prediction dataset (no node labels): use --task lp"),
        (["--dataset", "ogbn-arxiv", "--split", "random"], "official OGB split"),
        (["--dataset", "ogbn-products"], "dataset 'ogbn-products': missing file(s) RELEASE_v1.txt"),
        (["--task", "lp", "--dataset", "ogbl-ddi"], "dataset 'ogbl-ddi': missing file(s) RELEASE_v1.txt"),
    ],
)
def test_ogb_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], match: str) -> None:
    FAKES["ogbl-collab"](tmp_path)
    FAKES["ogbn-arxiv"](tmp_path)
    out = tmp_path / "r.json"
    assert main(["train", "--root", str(tmp_path), "--out", str(out), *TINY, *argv]) == 2
    assert match in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("script,name", [("ogbn_arxiv.py", "ogbn-arxiv"), ("ogbl_collab.py", "ogbl-collab")])
def test_examples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], script: str, name: str
) -> None:
    import runpy

    path = Path(__file__).resolve().parents[2] / "examples" / script
    argv = [str(path), "--root", str(tmp_path), "--runs", "2", "--epochs", "1", "--T", "2", "--hidden", "8"]
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit) as exit_info:  # no data, no download: one clear line
        runpy.run_path(str(path), run_name="__main__")
    assert f"dataset {name!r}: missing file(s) RELEASE_v1.txt" in str(exit_info.value.code)
    FAKES[name](tmp_path)
    runpy.run_path(str(path), run_name="__main__")
    assert f"{name} {ogb_task(name).metric}: test" in capsys.readouterr().out
