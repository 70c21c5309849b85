"""Resumable, lossless jobs: results written after every run, run checkpoints, --resume (killed for real, too)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from msg.cli import main
from msg.tasks import runner
from msg.tasks.config import TrainConfig
from msg.tasks.runner import checkpoint_path, run

TINY = dict(T=3, hidden=8, layers=1)
ARGS = ["--T", "3", "--hidden", "8", "--layers", "1", "--no-progress"]
EXACT = ("seed", "val", "test", "best_epoch", "history", "num_params")


def _same_runs(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert {k: x[k] for k in EXACT} == {k: y[k] for k in EXACT}


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_interrupted_job_resumes_mid_run_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], one_thread: None
) -> None:
    cfg = TrainConfig(epochs=8, runs=3, **TINY)
    reference = run(cfg, progress=False)
    out = tmp_path / "job.json"
    save = runner.RunCheckpoint.save

    def save_then_stop(self: runner.RunCheckpoint, state: runner.RunState, loop: dict) -> None:
        save(self, state, loop)
        if self.run == 1 and loop["epoch"] == 4:
            raise KeyboardInterrupt  # stands in for a killed job

    monkeypatch.setattr(runner.RunCheckpoint, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, progress=False, out=out, checkpoint_every=2)
    monkeypatch.setattr(runner.RunCheckpoint, "save", save)
    partial = json.loads(out.read_text())  # valid JSON after every run, marked incomplete
    assert partial["complete"] is False and len(partial["runs"]) == 1
    ckpt = torch.load(checkpoint_path(out), weights_only=True)  # plain types and tensors only
    assert (ckpt["run"], ckpt["seed"], ckpt["epoch"]) == (1, 1, 4) and ckpt["config"] == partial["config"]
    assert {"modules", "optimizer", "best", "best_state", "history", "rng", "times", "stale"} <= set(ckpt)

    capsys.readouterr()
    resumed = run(cfg, progress=False, out=out, resume=True, checkpoint_every=2)
    err = capsys.readouterr().err
    assert "1 of 3 runs done" in err and "run seed=1: resuming at epoch 5" in err
    assert resumed["complete"] is True and json.loads(out.read_text()) == resumed
    assert resumed["runs"][0] == partial["runs"][0], "a finished run is kept as it was, not redone"
    _same_runs(resumed["runs"], reference["runs"])
    assert (resumed["test_mean"], resumed["val_mean"]) == (reference["test_mean"], reference["val_mean"])
    assert not checkpoint_path(out).exists(), "the checkpoint is removed when the job completes"


def test_resume_refuses_another_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "job.json"
    base = ["train", "--epochs", "2", "--runs", "1", *ARGS, "--out", str(out)]
    assert main(base) == 0
    before = out.read_text()
    assert main([*base, "--resume", "--lr", "0.05", "--dropout", "0.3"]) == 2
    err = capsys.readouterr().err
    assert "differing keys: dropout, lr" in err and "0.05" in err and str(out) in err
    assert out.read_text() == before
    # the same config again: the job is complete, nothing is redone
    assert main([*base, "--resume"]) == 0
    assert json.loads(out.read_text())["runs"] == json.loads(before)["runs"]
    assert main([*base, "--resume", "--overwrite"]) == 2 and "pass only one" in capsys.readouterr().err


def test_resume_without_a_file_starts_fresh_and_needs_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "new.json"
    assert main(["train", "--epochs", "1", "--runs", "2", *ARGS, "--out", str(out), "--resume"]) == 0
    result = json.loads(out.read_text())
    assert result["complete"] is True and [r["seed"] for r in result["runs"]] == [0, 1]
    assert main(["train", "--epochs", "1", *ARGS, "--resume"]) == 2
    assert "--resume needs --out" in capsys.readouterr().err
    assert main(["train", "--epochs", "1", *ARGS, "--out", str(tmp_path / "x.json"), "--checkpoint-every", "0"]) == 2
    assert "--checkpoint-every must be >= 1" in capsys.readouterr().err


def test_a_left_checkpoint_is_never_silently_replaced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "job.json"
    ckpt = checkpoint_path(out)
    ckpt.write_bytes(b"an interrupted job's checkpoint")
    argv = ["train", "--epochs", "2", *ARGS, "--out", str(out), "--checkpoint-every", "1"]
    assert main(argv) == 2
    assert "job.json.ckpt exists" in capsys.readouterr().err and ckpt.read_bytes().startswith(b"an interrupted")
    assert main([*argv, "--resume"]) == 2  # not a checkpoint: refused, never unpickled
    assert "could not be read" in capsys.readouterr().err and ckpt.exists()
    assert main([*argv, "--overwrite"]) == 0
    assert not ckpt.exists() and json.loads(out.read_text())["complete"] is True


ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _job_argv(out: Path) -> list[str]:
    argv = ["train", "--epochs", "30", "--runs", "2", *ARGS, "--out", str(out), "--checkpoint-every", "2"]
    return [sys.executable, "-m", "msg.cli", *argv]


def test_killed_job_resumes_losslessly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], one_thread: None
) -> None:
    out = tmp_path / "job.json"
    ckpt = checkpoint_path(out)
    job = subprocess.Popen(_job_argv(out), env={**os.environ, **ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        # wait until the first run is in the results file and the second run has a checkpoint of its own
        while not (out.exists() and ckpt.exists() and ckpt.stat().st_mtime_ns > out.stat().st_mtime_ns):
            assert job.poll() is None, f"the job ended before it could be killed: {job.communicate()}"
            assert time.monotonic() < deadline, "no checkpoint of the second run within 120 s"
            time.sleep(0.005)
        job.send_signal(signal.SIGKILL)
    finally:
        job.kill()
        job.communicate()
    assert job.returncode == -signal.SIGKILL
    partial = json.loads(out.read_text())
    assert partial["complete"] is False and len(partial["runs"]) == 1
    assert torch.load(ckpt, weights_only=True)["run"] == 1

    # resumed in this process (one thread, as the killed job had): saves a second interpreter start (~5 s of imports)
    assert main([*_job_argv(out)[3:], "--resume"]) == 0
    err = capsys.readouterr().err
    assert "1 of 2 runs done" in err and "run seed=1: resuming at epoch" in err
    final = json.loads(out.read_text())
    assert final["complete"] is True and final["runs"][0] == partial["runs"][0], "run 0 is kept, not redone"
    assert not ckpt.exists()
    reference = run(TrainConfig(epochs=30, runs=2, **TINY), progress=False)
    _same_runs(final["runs"], reference["runs"])


def test_atomic_writes_keep_the_permissions_a_plain_write_would_give(tmp_path: Path) -> None:
    # the temporary file is created owner-only; the results must not end up unreadable to the group/others
    old = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh.json"
        runner.write_json_atomic(fresh, {"a": 1})
        assert fresh.stat().st_mode & 0o777 == 0o644
        kept = tmp_path / "kept.json"
        kept.write_text("{}")
        kept.chmod(0o640)
        runner.write_json_atomic(kept, {"a": 2})
        assert kept.stat().st_mode & 0o777 == 0o640 and json.loads(kept.read_text()) == {"a": 2}
    finally:
        os.umask(old)
