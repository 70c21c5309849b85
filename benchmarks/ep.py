"""Equilibrium propagation benchmark -> benchmarks/results/ep.{json,png}.

1. GDU property (Ernoult et al., NeurIPS 2019): per-step EP updates against minus the per-step BPTT gradients on
   the same trajectory, for linear symmetric dynamics (float64, beta = 1e-5) and the tanh prototypical network.
2. Sequential-free digits (scikit-learn 8x8, static input): the same layered network trained by EP and by BPTT
   from the same initialisation.
3. Beyond the paper: the equilibrium graph layer on Cora (public split), EP against BPTT, test accuracy at the
   best validation epoch.

Usage: python benchmarks/ep.py [--epochs 15] [--cora-epochs 100] [--cora-lr 0.01] [--parts gdu,digits,cora]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import tempfile
import time

import torch

from msg.credit.ep import bptt_gradients, ep_gradient, ep_updates, free_phase, gdu_agreement
from msg.models.equilibrium import GraphEnergyRNN, LayeredEnergyRNN
from msg.tasks.sequence import sequential_digits


def gdu(activation: str, gain: float, beta: float, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    model = LayeredEnergyRNN([64, 32, 10], activation=activation, gain=gain).double()
    data = sequential_digits("train", seed=seed)
    x = data.inputs[..., 0].t()[:20].double()
    y = torch.nn.functional.one_hot(data.targets[-1, :20], 10).double()
    ep = ep_updates(model, x, y, beta, free_steps=300, nudged_steps=20, tol=1e-9)
    bptt = bptt_gradients(model, x, y, free_steps=300, steps=20, tol=1e-9)
    agreement = gdu_agreement(ep, bptt)
    return {
        "activation": activation,
        "gain": gain,
        "beta": beta,
        "dtype": "float64",
        "cosine_per_step": agreement["cosine"].tolist(),
        "sign_per_step": agreement["sign"].tolist(),
        "min_cosine": float(agreement["cosine"].min()),
        "min_sign_agreement": float(agreement["sign"].min()),
    }


def run(model, method: str, train_fn, eval_fn, epochs: int, lr: float = 1e-3) -> dict:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    curve, start = [], time.perf_counter()
    for _ in range(epochs):
        train_fn(model, opt, method)
        curve.append(eval_fn(model))
    return {"curve": curve, "seconds": time.perf_counter() - start}


def digits(epochs: int, beta: float, free_steps: int, nudged_steps: int, seed: int = 0) -> dict:
    train, test = sequential_digits("train", seed=seed), sequential_digits("test", seed=seed)
    xtr, ytr = train.inputs[..., 0].t(), train.targets[-1]
    xte, yte = test.inputs[..., 0].t(), test.targets[-1]
    torch.manual_seed(seed)
    init = LayeredEnergyRNN([64, 128, 10], activation="tanh").state_dict()

    def train_epoch(model, opt, method):
        perm = torch.randperm(len(ytr))
        for i in range(0, len(ytr), 32):
            idx = perm[i : i + 32]
            x, y = xtr[idx], torch.nn.functional.one_hot(ytr[idx], 10).float()
            opt.zero_grad()
            if method == "ep":
                ep_gradient(model, x, y, beta, free_steps, nudged_steps, symmetric=True)
            else:
                state = model.init_state(x)
                for _ in range(free_steps):
                    state = model.step(x, state, create_graph=True)
                model.cost(state, y).backward()
            opt.step()

    def evaluate(model):
        state = free_phase(model, xte, free_steps, tol=None)
        return float((state[-1].argmax(1) == yte).float().mean())

    out = {
        "hidden": 128,
        "activation": "tanh",
        "beta": beta,
        "symmetric_nudging": True,
        "free_steps": free_steps,
        "nudged_steps": nudged_steps,
        "epochs": epochs,
        "n_test": len(yte),
    }
    for method in ("ep", "bptt"):
        model = LayeredEnergyRNN([64, 128, 10], activation="tanh")
        model.load_state_dict(init)
        torch.manual_seed(seed + 1)
        result = run(model, method, train_epoch, evaluate, epochs)
        out[method] = {"test_accuracy": result["curve"][-1], "curve": result["curve"], "seconds": result["seconds"]}
    return out


def cora(epochs: int, beta: float, free_steps: int, nudged_steps: int, lr: float, seed: int = 0) -> dict:
    from torch_geometric.datasets import Planetoid

    root = pathlib.Path(tempfile.mkdtemp())
    shutil.copytree("/work/shared/data/Cora", root / "Cora")
    data = Planetoid(str(root), "Cora")[0]
    x = (data.x / data.x.sum(1, keepdim=True).clamp_min(1)).to_sparse()
    y = torch.nn.functional.one_hot(data.y, 7).float()
    mask = data.train_mask.float()
    torch.manual_seed(seed)
    init = GraphEnergyRNN(x.shape[1], 64, 7, data.edge_index, data.num_nodes, activation="tanh").state_dict()

    def train_epoch(model, opt, method):
        opt.zero_grad()
        if method == "ep":
            ep_gradient(model, x, y, beta, free_steps, nudged_steps, mask=mask, symmetric=True)
        else:
            state = model.init_state(x)
            for _ in range(free_steps):
                state = model.step(x, state, create_graph=True)
            model.cost(state, y, mask).backward()
        opt.step()

    def evaluate(model):
        pred = free_phase(model, x, free_steps, tol=None)[-1].argmax(1)
        return [float((pred[m] == data.y[m]).float().mean()) for m in (data.val_mask, data.test_mask)]

    out = {
        "hidden": 64,
        "activation": "tanh",
        "beta": beta,
        "lr": lr,
        "free_steps": free_steps,
        "nudged_steps": nudged_steps,
        "epochs": epochs,
        "split": "public (140/500/1000)",
    }
    for method in ("ep", "bptt"):
        model = GraphEnergyRNN(x.shape[1], 64, 7, data.edge_index, data.num_nodes, activation="tanh")
        model.load_state_dict(init)
        result = run(model, method, train_epoch, evaluate, epochs, lr)
        best = max(range(epochs), key=lambda e: result["curve"][e][0])
        out[method] = {
            "best_epoch": best,
            "val_accuracy": result["curve"][best][0],
            "test_accuracy": result["curve"][best][1],
            "seconds": result["seconds"],
            "curve": result["curve"],
        }
    return out


def plot(results: dict, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for item in results["gdu"]:
        axes[0].plot(item["cosine_per_step"], marker="o", label=f"{item['activation']} (gain {item['gain']})")
    axes[0].set(xlabel="step t", ylabel="cos(EP(t), -BPTT(t))", title="GDU property")
    axes[0].legend()
    for method in ("ep", "bptt"):
        axes[1].plot(results["digits"][method]["curve"], label=method.upper())
        axes[2].plot([c[1] for c in results["cora"][method]["curve"]], label=method.upper())
    axes[1].set(xlabel="epoch", ylabel="test accuracy", title="digits, layered RNN")
    axes[2].set(xlabel="epoch", ylabel="test accuracy", title="Cora, equilibrium graph layer")
    axes[1].legend()
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--cora-epochs", type=int, default=100)
    parser.add_argument("--cora-lr", type=float, default=1e-2)
    parser.add_argument("--parts", default="gdu,digits,cora", help="parts to (re)run; the others are kept")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path(__file__).parent / "results")
    args = parser.parse_args()
    torch.set_num_threads(1)
    parts = args.parts.split(",")
    path = args.out / "ep.json"
    results = json.loads(path.read_text()) if path.exists() and len(parts) < 3 else {}
    if "gdu" in parts:
        results["gdu"] = [gdu("linear", 0.5, 1e-5), gdu("tanh", 0.7, 1e-3), gdu("tanh", 1.0, 1e-3)]
    if "digits" in parts:
        results["digits"] = digits(args.epochs, beta=0.5, free_steps=20, nudged_steps=6)
    if "cora" in parts:
        results["cora"] = cora(args.cora_epochs, beta=0.5, free_steps=30, nudged_steps=10, lr=args.cora_lr)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ep.json").write_text(json.dumps(results, indent=1))
    plot(results, args.out / "ep.png")
    for item in results["gdu"]:
        print(
            f"gdu activation={item['activation']} gain={item['gain']} min_cosine={item['min_cosine']:.6f} "
            f"min_sign={item['min_sign_agreement']:.3f}"
        )
    for task in ("digits", "cora"):
        print(f"{task} ep={results[task]['ep']['test_accuracy']:.4f} bptt={results[task]['bptt']['test_accuracy']:.4f}")


if __name__ == "__main__":
    main()
