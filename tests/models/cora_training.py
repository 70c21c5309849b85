"""Full-batch training on Cora's public split, shared by the model tests."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def train_cora(model, data, epochs: int, lr: float, weight_decay: float = 5e-4) -> float:
    """Adam on the training nodes' cross-entropy (plus the model's ``auxiliary_loss``, as the runner adds it), test
    accuracy at the best validation accuracy (evaluated every 5 epochs)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    auxiliary = getattr(model, "auxiliary_loss", None)
    best_val, best_test = -1.0, 0.0
    for epoch in range(epochs):
        model.train()
        optimizer.zero_grad()
        loss = F.cross_entropy(model(data.x, data.edge_index)[data.train_mask], data.y[data.train_mask])
        if auxiliary is not None:
            loss = loss + auxiliary(data.x, data.edge_index)
        loss.backward()
        optimizer.step()
        if epoch % 5 == 4:
            model.eval()
            with torch.no_grad():
                pred = model(data.x, data.edge_index).argmax(1)
            val, test = ((pred[m] == data.y[m]).float().mean().item() for m in (data.val_mask, data.test_mask))
            if val > best_val:
                best_val, best_test = val, test
    return best_test
