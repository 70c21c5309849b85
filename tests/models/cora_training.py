"""Full-batch training on Cora's public split, shared by the model tests."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def train_cora(
    model, data, epochs: int, lr: float, weight_decay: float = 5e-4, eval_every: int = 5, eval_seed: int | None = None
) -> float:
    """Adam on the training nodes' cross-entropy (plus the model's ``auxiliary_loss``, as the runner adds it; a model
    with ``computes_node_subset`` computes the training nodes only, as the runner asks), test accuracy at the best
    validation accuracy (evaluated every ``eval_every`` epochs, after ``torch.manual_seed(eval_seed)`` if given: the
    same spike draws for every evaluation of a stochastic model)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    auxiliary = getattr(model, "auxiliary_loss", None)
    train = data.train_mask.nonzero().squeeze(1) if getattr(model, "computes_node_subset", False) else None
    best_val, best_test = -1.0, 0.0
    for epoch in range(epochs):
        model.train()
        optimizer.zero_grad()
        if train is None:
            out = model(data.x, data.edge_index)[data.train_mask]
        else:
            out = model(data.x, data.edge_index, train)
        loss = F.cross_entropy(out, data.y[data.train_mask])
        if auxiliary is not None:
            loss = loss + auxiliary(data.x, data.edge_index)
        loss.backward()
        optimizer.step()
        if epoch % eval_every == eval_every - 1:
            model.eval()
            if eval_seed is not None:
                torch.manual_seed(eval_seed)
            with torch.no_grad():
                pred = model(data.x, data.edge_index).argmax(1)
            val, test = ((pred[m] == data.y[m]).float().mean().item() for m in (data.val_mask, data.test_mask))
            if val > best_val:
                best_val, best_test = val, test
    return best_test
