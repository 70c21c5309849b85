"""Node classification with MSG, written the way a PyG user would (see `msg train` for the full runner).

    python examples/node_classification.py --dataset cora --manifold lorentz --epochs 100
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from geoopt.optim import RiemannianAdam
from msg.datasets import load_dataset, random_node_split

from msg.models import MSG

parser = argparse.ArgumentParser()
parser.add_argument("--dataset", default="cora")
parser.add_argument("--root", default=None)
parser.add_argument("--manifold", default="lorentz")
parser.add_argument("--T", type=int, default=15)
parser.add_argument("--hidden", type=int, default=32)
parser.add_argument("--layers", type=int, default=2)
parser.add_argument("--step-size", type=float, default=0.1)
parser.add_argument("--credit", default="dvm")
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--epochs", type=int, default=100)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

torch.manual_seed(args.seed)
data = load_dataset(args.dataset, root=args.root)
if "train_mask" not in data:
    data = random_node_split(data, train=0.1, val=0.1, seed=args.seed)
model = MSG(
    data.num_features, args.hidden, int(data.y.max()) + 1, manifold=args.manifold, T=args.T,
    num_layers=args.layers, step_size=args.step_size, credit=args.credit,
)
optimizer = RiemannianAdam(model.parameters(), lr=args.lr)


def train() -> float:
    model.train()
    optimizer.zero_grad()
    out = model(data.x, data.edge_index)
    loss = F.cross_entropy(out[data.train_mask], data.y[data.train_mask])
    loss.backward()
    optimizer.step()
    return float(loss)


@torch.no_grad()
def test() -> list[float]:
    model.eval()
    pred = model(data.x, data.edge_index).argmax(-1)
    return [float((pred[m] == data.y[m]).float().mean()) for m in (data.train_mask, data.val_mask, data.test_mask)]


best_val = test_at_best = 0.0
times = []
for epoch in range(1, args.epochs + 1):
    start = time.perf_counter()
    loss = train()
    times.append(time.perf_counter() - start)
    train_acc, val_acc, test_acc = test()
    if val_acc > best_val:
        best_val, test_at_best = val_acc, test_acc
    print(f"epoch={epoch:03d} loss={loss:.4f} train={train_acc:.4f} val={val_acc:.4f} test={test_acc:.4f}")
print(f"best_val={best_val:.4f} test_at_best_val={test_at_best:.4f} median_epoch_s={statistics.median(times[1:]):.4f}")
