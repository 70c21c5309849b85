"""The README's code for using msg inside a PyG model runs as written."""

from __future__ import annotations

import re
from pathlib import Path

from msg.datasets import load_dataset

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_model_snippet_runs() -> None:
    text = README.read_text()
    section = text[text.index("## MSG inside your own PyG model") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    data = load_dataset("cora")
    model = namespace["MyModel"](data.num_features, 16, 7)
    out = model(data.x, data.edge_index)
    assert out.shape == (data.num_nodes, 7)
    out.logsumexp(-1).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
