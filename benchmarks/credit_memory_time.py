"""Activation memory and time per training iteration of every credit method against BPTT.

Two workloads, each measured in one process with the methods interleaved round by round (so load from other
processes hits them alike); the median over rounds is reported, with ratios to BPTT's medians.

* **Recurrent LIF network** (hidden 256, batch 32, 64 inputs, T in {100, 300, 1000}):
  :math:`z_t = \\text{LIF}(W_{in} x_t + W_{rec} z_{t-1})`, loss the cross-entropy of a linear readout of the mean
  spike :math:`\\bar z` (OTTT: of each step's spikes, online, divided by T, as in Xiao et al.). For OTTT and
  rate-based backprop the recurrent spikes are presynaptic input like :math:`x_t`: one linear map of
  :math:`[x_t, z_{t-1}]` with the trace (OTTT) or the rate (rate) of that concatenated input; rate first generates
  the spike trains without a graph and then runs :meth:`msg.credit.Rate.layer` on the known input (two forward
  passes, both timed).
* **MSG's spiking path on Photo** (7,650 nodes, 2 spiking graph convolutions of width 32, IF neurons, T in
  {5, 15, 60}): the encoder current :math:`\\hat A X W_0` for T steps, then per layer
  :math:`I_t = \\hat A S_t W_l` through the credit method's ``layer`` with ``msg.nn.ManifoldSpikingConv``'s own
  weights, neurons and cached adjacency (a wrapper here: the MSG layers call only their own dvm/bptt paths so far),
  readout of the last layer's mean spike. The ``dvm`` row is the whole MSG model (``msg.models.MSG``, Lorentz,
  credit ``dvm``, manifold path included); the ``msg_bptt`` row the same model with ``credit="bptt"``. Here the
  loss comes after the last step, so TBPTT keeps every step's graph until the one backward (truncation limits how
  far credit travels, not what is stored, :mod:`msg.credit.tbptt`) and its chunked kernels save their own buffers
  and a concatenation: it saves more than BPTT (T=5, k=1: +18%; T=15, k=5: +4%). The ``msg_bptt`` row is a
  larger computation than the ``bptt`` row (the manifold maps), so its ratio to it is not a credit method's cost.

Memory is the peak of the bytes autograd saves for the backward pass (:class:`msg.credit.SavedTensorMeter`, over
forward, backward and recomputation). Time is one forward + backward (+ the optimizer-free online loop for OTTT):
with ``--threads 1`` (the default) the CPU time of the one thread torch computes on (``time.thread_time``), which
other processes on a shared machine disturb far less than wall time; otherwise wall time.

Usage::

    python benchmarks/credit_memory_time.py [--rounds 3] [--threads 1] [--skip-photo] [--root DATA]

Writes ``benchmarks/results/credit_memory_time.json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from msg.credit import BPTT, OTTT, Checkpoint, CreditMethod, Rate, SavedTensorMeter, get_credit
from msg.neurons import LIFNode, NeuronState

RESULTS = Path(__file__).resolve().parent / "results"
HIDDEN, BATCH, INPUTS, CLASSES = 256, 32, 64, 10


class RecurrentLIF(nn.Module):
    """The recurrent network of the first workload; ``w`` maps the concatenated input ``[x_t, z_{t-1}]``."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Linear(INPUTS + HIDDEN, HIDDEN, bias=False)
        self.readout = nn.Linear(HIDDEN, CLASSES)
        self.neuron = LIFNode(tau=2.0, v_reset=None, detach_reset=True)
        with torch.no_grad():
            self.w.weight[:, :INPUTS].uniform_(-0.1, 0.3)
            self.w.weight[:, INPUTS:].normal_(0.0, 0.05)

    def step(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        v, z = state
        spike, new = self.neuron.step(self.w(torch.cat([x, z], dim=-1)), NeuronState(v))
        return spike, (new.v, spike)

    def initial_state(self) -> tuple[Tensor, Tensor]:
        zeros = torch.zeros(BATCH, HIDDEN)
        return zeros, zeros


def recurrent_iteration(model: RecurrentLIF, method: CreditMethod, x: Tensor, y: Tensor) -> Callable[[], None]:
    """One training iteration (forward + backward) of ``model`` under ``method``."""
    params = [model.w.weight]
    if isinstance(method, OTTT):

        def step(x_t: Tensor, carry: tuple[Tensor, object]) -> tuple[Tensor, tuple[Tensor, object]]:
            z_prev, inner = carry
            z, inner = method.layer_step(model.neuron, torch.cat([x_t, z_prev.detach()], -1), model.w, inner)
            return z, (z, inner)

        def loss_t(t: int, z: Tensor) -> Tensor:
            return F.cross_entropy(model.readout(z), y) / x.shape[0]

        return lambda: method.online(step, x, (torch.zeros(BATCH, HIDDEN), None), loss_t)
    if isinstance(method, Rate):

        def run() -> None:
            with torch.no_grad():
                z = BPTT().unroll(model.step, x, model.initial_state())[0]
            inputs = torch.cat([x, torch.cat([torch.zeros_like(z[:1]), z[:-1]])], dim=-1)
            spikes = method.layer(model.neuron, inputs, model.w)
            F.cross_entropy(model.readout(spikes.mean(0)), y).backward()

        return run

    def run() -> None:
        spikes = method.unroll(model.step, x, model.initial_state(), params)[0]
        F.cross_entropy(model.readout(spikes.mean(0)), y).backward()

    return run


CLOCK = time.perf_counter  # main() switches to the thread's CPU time when torch runs on one thread


def measure(runs: dict[str, Callable[[], None]], rounds: int, zero: Callable[[], None]) -> dict[str, dict]:
    """Peak saved bytes (first call) and median seconds over ``rounds`` interleaved calls of each run."""
    peaks, times = {}, {name: [] for name in runs}
    for name, run in runs.items():
        zero()
        with SavedTensorMeter() as meter:
            run()
        peaks[name] = meter.peak
    for _ in range(rounds):
        for name, run in runs.items():
            zero()
            start = CLOCK()
            run()
            times[name].append(CLOCK() - start)
    return {name: {"saved_bytes": peaks[name], "seconds": statistics.median(times[name])} for name in runs}


def with_ratios(rows: dict[str, dict]) -> dict[str, dict]:
    base = rows["bptt"]
    for row in rows.values():
        row["memory_ratio"] = row["saved_bytes"] / base["saved_bytes"]
        row["memory_saved"] = 1.0 - row["memory_ratio"]
        row["time_ratio"] = row["seconds"] / base["seconds"]
    return rows


def recurrent_benchmark(Ts: list[int], rounds: int, budget: float) -> dict:
    out = {}
    for T in Ts:
        torch.manual_seed(0)
        model = RecurrentLIF()
        x = (torch.rand(T, BATCH, INPUTS) < 0.2).float()
        y = torch.randint(0, CLASSES, (BATCH,))
        # the budget: one step's saved activations in state slots (alpha), measured on BPTT, and a slot count
        # that keeps the states under `budget` of BPTT's saved activations
        with SavedTensorMeter() as meter:
            recurrent_iteration(model, BPTT(), x, y)()
        model.zero_grad()
        state_bytes = 2 * BATCH * HIDDEN * 4
        alpha = meter.peak / T / state_bytes
        slots = max(2, int(budget * meter.peak / state_bytes))
        methods = {
            "bptt": BPTT(),
            f"tbptt:{max(T // 10, 1)}": get_credit(f"tbptt:{max(T // 10, 1)}"),
            f"checkpoint:{slots}": Checkpoint(slots),
            f"checkpoint:{slots},alpha={alpha:.2f}": Checkpoint(slots, alpha=alpha),
            "checkpoint:sqrt": Checkpoint("sqrt"),
            "ottt": OTTT(),
            "rate": Rate(),
        }
        runs = {name: recurrent_iteration(model, method, x, y) for name, method in methods.items()}
        rows = with_ratios(measure(runs, rounds, model.zero_grad))
        for name, method in methods.items():
            if isinstance(method, Checkpoint):
                method.step_evaluations = 0
                runs[name]()
                rows[name]["step_evaluations"] = method.step_evaluations
                rows[name]["predicted_step_evaluations"] = method.cost(T)
        model.zero_grad()
        out[str(T)] = {"alpha": alpha, "slots": slots, "rows": rows}
        print(f"recurrent T={T}", json.dumps({k: (round(v["memory_saved"], 4), round(v["time_ratio"], 3))
                                               for k, v in rows.items()}), flush=True)
    return out


class PhotoPath:
    """MSG's spiking path on Photo at one T: an MSG model's encoder and two convolutions, driven by a credit
    method through ``spike`` / ``layer`` (or ``layer_step`` online for OTTT), and a linear readout."""

    def __init__(self, data: object, train: Tensor, classes: int, T: int) -> None:
        from msg.models import MSG
        from msg.ops.aggregate import Adjacency

        self.data, self.train, self.classes, self.T = data, train, classes, T
        self.model = MSG(data.num_features, 32, classes, manifold="lorentz", T=T, num_layers=2, dropout=0.0)
        self.graph = Adjacency(data.edge_index, data.num_nodes)
        self.readout = nn.Linear(32, classes)

    def zero(self) -> None:
        self.model.zero_grad()
        self.readout.zero_grad()

    def transform(self, conv: nn.Module) -> Callable[[Tensor], Tensor]:
        from msg.ops.aggregate import propagate

        return lambda s: propagate(self.graph, s @ conv.lin.weight.t())

    def encoder_current(self) -> Tensor:
        from msg.ops.aggregate import propagate

        return propagate(self.graph, self.model.encoder.lin(self.data.x))

    def loss(self, spikes: Tensor) -> Tensor:
        return F.cross_entropy(self.readout(spikes[self.train]), self.data.y[self.train])

    def iteration(self, spec: str) -> Callable[[], None]:
        from msg.models import MSG

        T, data = self.T, self.data
        if spec in ("dvm", "msg_bptt"):
            credit = "dvm" if spec == "dvm" else "bptt"
            model = MSG(data.num_features, 32, self.classes, T=T, num_layers=2, dropout=0.0, credit=credit)
            return lambda: F.cross_entropy(model(data.x, data.edge_index)[self.train], data.y[self.train]).backward()
        method = get_credit(spec)
        encoder, convs = self.model.encoder, self.model.convs
        if isinstance(method, OTTT):
            from msg.ops.aggregate import propagate

            def encode(x: Tensor) -> Tensor:  # the encoder as a layer whose input x is the same at every step
                return propagate(self.graph, encoder.lin(x))

            def step(x: Tensor, carry: list) -> tuple[Tensor, list]:
                s, carry[0] = method.layer_step(encoder.neuron, x, encode, carry[0])
                for i, conv in enumerate(convs, start=1):
                    s, carry[i] = method.layer_step(conv.neuron, s, self.transform(conv), carry[i])
                return s, carry

            x_seq = data.x.unsqueeze(0).expand(T, *data.x.shape)
            return lambda: method.online(step, x_seq, [None] * (1 + len(convs)), lambda t, s: self.loss(s) / T)

        def run() -> None:
            current = self.encoder_current()
            spikes = method.spike(encoder.neuron, current.unsqueeze(0).expand(T, *current.shape))
            for conv in convs:
                spikes = method.layer(conv.neuron, spikes, self.transform(conv), params=[conv.lin.weight])
            self.loss(spikes.mean(0)).backward()

        return run


def photo_benchmark(Ts: list[int], rounds: int, slots: int, root: str | None) -> dict:
    from msg.datasets import load_dataset

    data = load_dataset("photo", root=root)
    classes = int(data.y.max()) + 1
    train = torch.arange(0, data.num_nodes, 10)  # every tenth node: the loss, not the split, is measured here
    out = {}
    for T in Ts:
        torch.manual_seed(0)
        path = PhotoPath(data, train, classes, T)
        specs = ["bptt", f"tbptt:{max(T // 3, 1)}", f"checkpoint:{slots}", "checkpoint:sqrt", "ottt", "rate", "dvm",
                 "msg_bptt"]
        rows = with_ratios(measure({spec: path.iteration(spec) for spec in specs}, rounds, path.zero))
        out[str(T)] = {"rows": rows}
        print(f"photo T={T}", json.dumps({k: (round(v["memory_saved"], 4), round(v["time_ratio"], 3))
                                           for k, v in rows.items()}), flush=True)
    return out


def family(name: str) -> str:
    """The curve a row belongs to across T (slot counts and truncation lengths scale with T)."""
    if name.startswith("tbptt"):
        return "tbptt"
    if name.startswith("checkpoint:") and name != "checkpoint:sqrt":
        return "checkpoint DP + leaves" if "alpha" in name else "checkpoint HSM"
    return name


def plot(results: dict, path: Path) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parts = [("recurrent LIF (H=256, B=32)", results["recurrent"])]
    if results.get("photo"):
        parts.append(("MSG spiking path, Photo", results["photo"]))
    fig, axes = plt.subplots(len(parts), 2, figsize=(12, 4.5 * len(parts)), squeeze=False)
    for row, (title, table) in enumerate(parts):
        Ts = sorted(int(t) for t in table)
        curves: dict[str, tuple[list[int], list[float], list[float]]] = {}
        for T in Ts:
            for name, r in table[str(T)]["rows"].items():
                ts, mem, sec = curves.setdefault(family(name), ([], [], []))
                ts.append(T)
                mem.append(r["saved_bytes"] / 2**20)
                sec.append(r["seconds"])
        for col, label in enumerate(("peak saved activations (MiB)", "seconds per iteration")):
            ax = axes[row][col]
            for name, (ts, mem, sec) in curves.items():
                ax.plot(ts, mem if col == 0 else sec, marker="o", label=name)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xticks(Ts, [str(t) for t in Ts])
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_xlabel("T")
            ax.set_ylabel(label)
            ax.set_title(title)
            ax.grid(True, which="both", alpha=0.3)
        axes[row][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--T", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--photo-T", type=int, nargs="+", default=[5, 15, 60])
    parser.add_argument("--skip-photo", action="store_true")
    parser.add_argument("--budget", type=float, default=0.045, help="checkpoint slots, as a fraction of BPTT's memory")
    parser.add_argument("--root", default=os.environ.get("MSG_SHARED_DATA"), help="data root (msg.datasets' default)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    global CLOCK
    # one thread: its CPU time, which other processes on a shared machine barely disturb; more: wall time
    CLOCK = time.thread_time if args.threads == 1 else time.perf_counter
    results = {
        "benchmark": "credit_memory_time",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "threads": args.threads},
        "clock": CLOCK.__name__,
        "rounds": args.rounds,
        "recurrent": recurrent_benchmark(args.T, args.rounds, args.budget),
    }
    if not args.skip_photo:
        results["photo"] = photo_benchmark(args.photo_T, args.rounds, slots=4, root=args.root)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "credit_memory_time.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, RESULTS / "credit_memory_time.png")


if __name__ == "__main__":
    main()
