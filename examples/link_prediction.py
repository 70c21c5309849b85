"""Link prediction with MSG states and a Fermi-Dirac decoder on the manifold distance.

    python examples/link_prediction.py --dataset cora --manifold lorentz --epochs 100
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from geoopt.optim import RiemannianAdam
from msg.datasets import NonEdgeSampler, link_split, load_dataset
from sklearn.metrics import roc_auc_score

from msg.models import MSG
from msg.nn import FermiDiracDecoder

parser = argparse.ArgumentParser()
parser.add_argument("--dataset", default="cora")
parser.add_argument("--root", default=None)
parser.add_argument("--manifold", default="lorentz")
parser.add_argument("--T", type=int, default=5)
parser.add_argument("--hidden", type=int, default=32)
parser.add_argument("--layers", type=int, default=1)
parser.add_argument("--step-size", type=float, default=0.1)
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--epochs", type=int, default=100)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

torch.manual_seed(args.seed)
data = load_dataset(args.dataset, root=args.root)
train_data, val_data, test_data = link_split(data, val=0.05, test=0.1, seed=args.seed)
model = MSG(
    data.num_features, args.hidden, None, manifold=args.manifold, T=args.T, num_layers=args.layers,
    step_size=args.step_size, dropout=0.0,
)
decoder = FermiDiracDecoder(model.manifold, r=2.0, t=1.0)
optimizer = RiemannianAdam(model.parameters(), lr=args.lr)
# training negatives: never a positive edge, never a validation or test negative
exclude = torch.cat([data.edge_index, val_data.neg_edge_label_index, test_data.neg_edge_label_index], dim=1)
sampler = NonEdgeSampler(data.num_nodes, exclude)
generator = torch.Generator().manual_seed(args.seed)


def train() -> float:
    model.train()
    optimizer.zero_grad()
    z = model.encode(train_data.x, train_data.edge_index)
    pos = train_data.pos_edge_label_index
    neg = sampler.sample(pos.size(1), generator)
    pos_logit, neg_logit = decoder.logits(z, pos), decoder.logits(z, neg)
    loss = F.binary_cross_entropy_with_logits(pos_logit, torch.ones_like(pos_logit))
    loss = loss + F.binary_cross_entropy_with_logits(neg_logit, torch.zeros_like(neg_logit))
    loss.backward()
    optimizer.step()
    return float(loss)


@torch.no_grad()
def test(split) -> float:
    model.eval()
    z = model.encode(split.x, split.edge_index)
    scores = torch.cat([decoder.logits(z, split.pos_edge_label_index), decoder.logits(z, split.neg_edge_label_index)])
    labels = torch.cat([split.pos_edge_label, split.neg_edge_label])
    return float(roc_auc_score(labels.numpy(), scores.numpy()))


best_val = test_at_best = 0.0
for epoch in range(1, args.epochs + 1):
    loss = train()
    val_auc, test_auc = test(val_data), test(test_data)
    if val_auc > best_val:
        best_val, test_at_best = val_auc, test_auc
    print(f"epoch={epoch:03d} loss={loss:.4f} val_auc={val_auc:.4f} test_auc={test_auc:.4f}")
print(f"best_val_auc={best_val:.4f} test_auc_at_best_val={test_at_best:.4f}")
