"""benchmarks/manifold_ops.py on a few points: every case is timed for both libraries and reported as ratios."""

import pytest
import torch


def test_manifold_ops_benchmark_reports_both_ratios_for_every_case(load_benchmark):
    bench = load_benchmark("manifold_ops")
    result = bench.run(300, 4, [torch.float64], torch.device("cpu"), warmup=1, repeat=3, seed=0)
    rows = result["results"]
    assert {(r["manifold"], r["op"]) for r in rows} == {(m, op) for m in ("lorentz", "sphere") for op in bench.OPS}
    for r in rows:
        assert r["msg_ms"] > 0 and r["geoopt_ms"] > 0
        assert r["ratio_msg_over_geoopt"] == pytest.approx(r["msg_ms"] / r["geoopt_ms"], rel=0.05)
        assert r["ratio_median_of_pairs"] > 0
        assert r["max_abs_output_difference"] < 1e-6  # float64: the two libraries agree
    assert result["slowest_ratio"] == max(r["ratio_msg_over_geoopt"] for r in rows)
