"""The SB3 parity script runs end to end at a tiny budget (the study itself is not a test)."""

import csv

import pytest


@pytest.mark.slow
def test_parity_script_writes_curves_summary_and_plot(tmp_path, load_script):
    parity = load_script("sb3_parity")
    out = tmp_path / "parity"
    argv = ["--steps", "200", "--warmup", "100", "--eval-every", "100", "--eval-episodes", "1"]
    parity.main([*argv, "--seeds", "0", "--parallel", "1", "--out", str(out)])
    with open(out / "curves.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["framework"], int(r["step"])) for r in rows) == [
        ("mtrl", 100),
        ("mtrl", 200),
        ("sb3", 100),
        ("sb3", 200),
    ]
    assert all(0.0 <= float(r["success"]) <= 1.0 for r in rows)
    assert "| mtrl |" in (out / "summary.md").read_text()
    assert (out / "parity.png").stat().st_size > 10_000
