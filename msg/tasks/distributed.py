"""Data-parallel training over several processes: ``torch.distributed`` with ``DistributedDataParallel`` (gloo on
the CPU, NCCL when CUDA is available), on top of the mini-batch trainer (:mod:`msg.tasks.minibatch`).

Each rank draws its own seed nodes (a ``DistributedSampler`` partition of the training nodes, reshuffled every
epoch with the run's seed), DDP averages the gradients (each rank's loss is scaled so that the average is the
gradient of the mean over all ranks' seeds), evaluation splits the nodes across ranks and all-reduces the correct
counts, and only rank 0 returns (and so writes) the results.

Two ways to start it:

- :func:`launch` ``(cfg, nproc)`` from one process (``msg train --nproc N``): starts ``nproc`` local processes with
  ``torch.multiprocessing.spawn`` on a free localhost port and returns rank 0's results document;
- ``torchrun`` (several machines, or processes started by a scheduler), which sets ``RANK``, ``WORLD_SIZE``,
  ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``::

      torchrun --nproc-per-node 2 -m msg.tasks.distributed --config my_config.json --out results.json

  where every process calls :func:`run_from_env`.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

Target = Callable[..., dict]
"""What each rank runs: ``target(cfg, progress=bool) -> results dict`` (JSON-serialisable); a module-level
function, so that spawned processes can import it."""

ENV_KEYS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def default_target(cfg: Any, progress: bool = True) -> dict:
    """:func:`msg.tasks.runner.run`: the whole job (runs, results document) on every rank, in which the
    mini-batch trainer finds the process group."""
    from msg.tasks.runner import run

    return run(cfg, progress=progress)


def default_backend() -> str:
    return "nccl" if torch.cuda.is_available() else "gloo"


def free_port() -> int:
    """A TCP port on localhost that is free now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env_int(name: str) -> int:
    value = os.environ[name]
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {value!r}") from None


def run_from_env(cfg: Any, target: Target | None = None, backend: str | None = None) -> dict | None:
    """Join the process group described by the environment (as ``torchrun`` sets it), run ``target`` on this rank
    and leave the group. Returns the results on rank 0 and ``None`` on the other ranks (only rank 0 writes)."""
    missing = [key for key in ENV_KEYS if key not in os.environ]
    if missing:
        raise RuntimeError(f"run_from_env: {', '.join(missing)} not set (start the processes with torchrun or launch)")
    import torch.distributed as dist

    rank, world_size = _env_int("RANK"), _env_int("WORLD_SIZE")
    local_rank = _env_int("LOCAL_RANK") if "LOCAL_RANK" in os.environ else rank
    backend = backend or default_backend()
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend, rank=rank, world_size=world_size)
    try:
        result = (target or default_target)(cfg, progress=rank == 0)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return result if rank == 0 else None


def _worker(
    local_rank: int, nproc: int, port: int, cfg: Any, target: Target, out: str, backend: str | None
) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(local_rank), LOCAL_RANK=str(local_rank),
        WORLD_SIZE=str(nproc),
    )
    if "OMP_NUM_THREADS" not in os.environ:  # share the cores instead of oversubscribing them
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // nproc))
    result = run_from_env(cfg, target, backend)
    if result is not None:
        from msg.tasks.runner import write_json_atomic

        write_json_atomic(Path(out), result)


def launch(cfg: Any, nproc: int, target: Target | None = None, backend: str | None = None) -> dict:
    """Train with ``nproc`` local data-parallel processes and return rank 0's results.

    Args:
        cfg: the :class:`~msg.tasks.config.TrainConfig`; ``nproc > 1`` needs ``cfg.batch_size`` (mini-batches).
        nproc: processes (1 runs ``target`` in this process).
        target: what each rank runs (default :func:`default_target`: :func:`msg.tasks.runner.run`).
        backend: ``"gloo"`` or ``"nccl"`` (default: NCCL when CUDA is available, else gloo).
    """
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"nproc must be an integer >= 1, got {nproc!r}")
    target = target or default_target
    if nproc == 1:
        return target(cfg, progress=True)
    if getattr(cfg, "batch_size", None) is None:
        raise ValueError(f"nproc={nproc} trains data-parallel on mini-batches: set batch_size (got None)")
    if backend == "nccl" and torch.cuda.device_count() < nproc:
        raise ValueError(f"nproc={nproc} with NCCL needs a GPU per process, found {torch.cuda.device_count()}")
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory(prefix="msg-launch-") as tmp:
        out = Path(tmp) / "results.json"
        mp.spawn(_worker, args=(nproc, free_port(), cfg, target, str(out), backend), nprocs=nproc, join=True)
        return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> None:
    """``torchrun ... -m msg.tasks.distributed --config FILE [--out PATH]``: every rank trains, rank 0 writes."""
    from msg.tasks.config import resolve_config
    from msg.tasks.runner import write_json_atomic

    parser = argparse.ArgumentParser(prog="python -m msg.tasks.distributed", description=main.__doc__)
    parser.add_argument("--config", required=True, help="a config file (msg train's keys) or a shipped config name")
    parser.add_argument("--out", default="results.json", help="results JSON (written by rank 0)")
    args = parser.parse_args(argv)
    result = run_from_env(resolve_config({"config": args.config}))
    if result is not None:
        write_json_atomic(Path(args.out), result)


if __name__ == "__main__":
    main()
