"""``msg plot``: every subcommand writes one image of the stated size from a tiny run; bad inputs are clear errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch

from msg.plot.cli import add_plot

SIZE = ["--width", "4", "--height", "3", "--dpi", "40"]  # 160 x 120 pixels


def plot(argv: list[str]) -> int:
    """``msg plot ARGV`` through a parser holding only ``add_plot`` (as msg.cli builds it)."""
    parser = argparse.ArgumentParser(prog="msg")
    add_plot(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["plot", *argv])
    return args.handler(args)


@pytest.fixture
def bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bench") / "memory_time.json"
    rows = [{"T": t, "credit": c, "peak_mb": m, "epoch_s": s}
            for t, c, m, s in [(5, "dvm", 10, 0.1), (20, "dvm", 10, 0.1), (5, "bptt", 12, 0.2), (20, "bptt", 40, 0.7)]]
    path.write_text(json.dumps({"benchmark": "test", "rows": rows}))
    return path


@pytest.fixture
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("published") / "paper.json"
    path.write_text(json.dumps({"msg lorentz": {"cora": [83.1, 0.5]}, "GCN": {"cora": 81.5}}))
    return path


def _argv(command: str, tiny_run: tuple[Path, Path], bench: Path, published: Path, saved_model) -> list[str]:
    results, model = tiny_run
    return {
        "curves": ["curves", str(results)],
        "embeddings": ["embeddings", str(model)],
        "embeddings-product": ["embeddings", str(saved_model("lorentz,sphere")), "--view", "stereographic"],
        "raster": ["raster", str(model), "--nodes", "0,7,2707"],
        "compare": ["compare", str(results), "--published", str(published)],
        "scaling": ["scaling", str(bench), "--series", "credit", "--y", "peak_mb", "epoch_s", "--logy"],
    }[command]


COMMANDS = ["curves", "embeddings", "embeddings-product", "raster", "compare", "scaling"]


@pytest.mark.parametrize("command", COMMANDS)
def test_each_subcommand_writes_one_image_of_the_stated_size(
    command: str, tiny_run, bench, published, saved_model, tmp_path: Path, png_size, capsys
) -> None:
    out = tmp_path / "pictures" / f"{command}.png"
    assert plot([*_argv(command, tiny_run, bench, published, saved_model), "--out", str(out), *SIZE]) == 0
    assert [p for p in tmp_path.rglob("*")] == [out.parent, out]
    assert out.stat().st_size > 0 and png_size(out) == (160, 120)
    assert capsys.readouterr().out.strip() == f"wrote {out}"


def test_svg_and_default_sizes(tiny_run, tmp_path: Path, png_size) -> None:
    results, model = tiny_run
    plot(["curves", str(results), str(results), "--label", "{model} T={config[T]}", "--out", str(tmp_path / "c.svg")])
    assert (tmp_path / "c.svg").read_text().lstrip().startswith("<?xml")
    plot(["raster", str(model), "--out", str(tmp_path / "r.png"), "--dpi", "20"])
    assert png_size(tmp_path / "r.png") == (200, 96)  # 10 x (2.4 per layer: encoder + 1 layer) inches


def test_existing_output_is_refused_before_any_work(tiny_run, tmp_path: Path) -> None:
    out = tmp_path / "e.png"
    out.write_bytes(b"keep")
    with pytest.raises(ValueError, match="exists; pass --overwrite"):
        plot(["embeddings", str(tmp_path / "no-model.pt"), "--out", str(out)])  # not even the model is read
    assert out.read_bytes() == b"keep" and sorted(tmp_path.iterdir()) == [out]


def test_missing_and_malformed_results_files(tmp_path: Path) -> None:
    out = str(tmp_path / "out" / "x.png")
    (tmp_path / "bad.json").write_text("[1, 2")
    (tmp_path / "fields.json").write_text(json.dumps({"dataset": "cora", "metric": "accuracy"}))
    cases = [
        (["curves", str(tmp_path / "none.json")], r"results file .*none\.json does not exist"),
        (["curves", str(tmp_path / "bad.json")], r"results file .*bad\.json is not valid JSON"),
        (["compare", str(tmp_path / "fields.json")], r"fields\.json lacks the field\(s\) \['test_mean', 'test_std'\]"),
        (["curves", str(tmp_path / "fields.json")], r"fields\.json lacks the field\(s\) \['runs'\]"),
        (["scaling", str(tmp_path / "fields.json"), "--y", "ms"], r"benchmark file .*fields\.json must hold"),
    ]
    for argv, message in cases:
        with pytest.raises(ValueError, match=message):
            plot([*argv, "--out", out])
    assert not (tmp_path / "out").exists()


def test_a_file_that_is_not_a_msg_model(tiny_run, tmp_path: Path) -> None:
    results, _ = tiny_run
    tensor = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), tensor)
    for path, message in [(results, "could not be read as a msg model"), (tensor, "is not a msg model"),
                          (tmp_path / "none.pt", "does not exist")]:
        with pytest.raises(ValueError, match=rf"model file .*{path.name} {message}"):
            plot(["raster", str(path), "--out", str(tmp_path / "out" / "r.png")])
    assert not (tmp_path / "out").exists()


def test_compare_refuses_two_files_with_the_same_label(tiny_run, tmp_path: Path) -> None:
    results, _ = tiny_run
    with pytest.raises(ValueError, match=r"both give 'msg lorentz' on 'cora'; tell them apart with --label"):
        plot(["compare", str(results), str(results), "--out", str(tmp_path / "c.png")])
    assert list(tmp_path.iterdir()) == []


def test_bad_option_values_stop_argparse(tiny_run, capsys) -> None:
    results, model = tiny_run
    for argv in (["curves", str(results), "--out", "x.png", "--width", "0"],
                 ["raster", str(model), "--out", "x.png", "--nodes", "a,b"]):
        with pytest.raises(SystemExit):
            plot(argv)
    assert "expected" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["curves", "embeddings", "raster", "compare", "scaling"])
def test_help_of_every_subcommand(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        plot([command, "--help"])
    assert stop.value.code == 0 and "--out OUT" in capsys.readouterr().out
