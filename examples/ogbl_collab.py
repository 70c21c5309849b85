"""MSG link prediction on ogbl-collab under OGB's rules: the official time split, ogb's Evaluator (Hits@50), 10 runs
with seeds 0-9, test Hits@50 at each run's best validation epoch, mean +- std.

    python examples/ogbl_collab.py --root /data/ogb --runs 10 --epochs 200 --out results/collab.json

Setting: messages pass over the training edges only, for validation and for test (OGB allows adding the validation
edges to the input graph at test time if declared; this script does not). Training negatives are node pairs drawn
uniformly each epoch among those that are not training edges. The data must already be under ROOT/ogbl_collab;
nothing is downloaded.
"""

from __future__ import annotations

import argparse
import sys

from msg.datasets import DatasetNotFoundError

from msg.tasks.config import TrainConfig
from msg.tasks.runner import run

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--root", required=True, help="folder holding ogbl_collab/ (RELEASE_v1.txt, raw/, split/)")
parser.add_argument("--runs", type=int, default=10, help="runs, seeds 0..runs-1 [10, OGB's rule]")
parser.add_argument("--epochs", type=int, default=200)
parser.add_argument("--T", type=int, default=5, help="time steps")
parser.add_argument("--hidden", type=int, default=64)
parser.add_argument("--out", default=None, help="results JSON, written after every run")
parser.add_argument("--resume", action="store_true", help="continue the job recorded in --out")
args = parser.parse_args()

cfg = TrainConfig(
    task="lp", dataset="ogbl-collab", root=args.root, model="msg", manifold="lorentz", T=args.T, hidden=args.hidden,
    layers=2, lr=0.01, dropout=0.0, epochs=args.epochs, runs=args.runs, seed=0,
)
try:
    results = run(cfg, out=args.out, resume=args.resume, checkpoint_every=10 if args.out else None)
except (DatasetNotFoundError, ValueError) as err:  # missing data; a --resume of another config
    sys.exit(f"ogbl_collab.py: {err}")
print(f"ogbl-collab {results['metric']}: test {100 * results['test_mean']:.2f} +- {100 * results['test_std']:.2f}, "
      f"validation {100 * results['val_mean']:.2f} +- {100 * results['val_std']:.2f} "
      f"({len(results['runs'])} runs, {results['num_params']} parameters)")
