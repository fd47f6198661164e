"""Experiment files: blocks of grids and named method variants expand into the right runs."""

import pytest
import yaml

from mtrl.config import ConfigError
from mtrl.experiment import load_experiment

BASE = dict(
    name="blocks",
    tasks="reach-v3,drawer-close-v3",
    total_steps=30,
    warmup_steps=10,
    batch_per_task=8,
    hidden=[16],
    eval_interval=15,
    eval_episodes=1,
    max_episode_steps=15,
    vector="sync",
    device="cpu",
)


def write(tmp_path, **data):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({**BASE, **data}))
    return path


def test_blocks_and_variants_expand_to_exactly_the_listed_runs(tmp_path):
    path = write(
        tmp_path,
        seeds=2,
        variants={"nashmtl-ccp": {"method": "nashmtl", "method_options": {"solver": "ccp"}}},
        grids=[
            {"methods": ["mean", "nashmtl", "nashmtl-ccp"], "transforms": ["none", "task1:exp"]},
            {"methods": ["mean"], "transforms": ["task1:pow4"], "seeds": [7]},
        ],
    )
    runs = {r.name: r for r in load_experiment(path, tmp_path).runs}
    expected = {
        f"{m}__{t}__s{s}"
        for m in ("mean", "nashmtl", "nashmtl-ccp")
        for t in ("none", "task1-exp")
        for s in (0, 1)
    } | {"mean__task1-pow4__s7"}
    assert set(runs) == expected
    ccp = runs["nashmtl-ccp__task1-exp__s1"].config
    assert (ccp.method, ccp.label, ccp.method_options) == (
        "nashmtl",
        "nashmtl-ccp",
        {"solver": "ccp"},
    )
    plain = runs["nashmtl__none__s0"].config
    assert (plain.label, plain.method_options) == (None, {})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (dict(grids=[{"methods": ["mean"], "seed": 1}]), "a grids block must be"),
        (dict(grids={"methods": ["mean"]}), "grids must be a list"),
        (
            dict(variants={"x": {"method": "nashmtl", "solver": "ccp"}}, methods=["x"]),
            "variant 'x'",
        ),
        (
            dict(
                variants={"x": {"method": "nashmtl", "method_options": {"bogus": 1}}}, methods=["x"]
            ),
            "bad options for method 'nashmtl'",
        ),
        (dict(variants={"a__b": {"method": "mean"}}, methods=["a__b"]), "cannot hold '__'"),
        (dict(label="x", methods=["mean"]), "'label' is set per run by the grid"),
    ],
)
def test_bad_blocks_and_variants_are_one_config_error(tmp_path, data, message):
    with pytest.raises(ConfigError, match=message):
        load_experiment(write(tmp_path, **data), tmp_path)


def test_blocks_run_in_order_each_seed_major_so_a_cut_short_sweep_covers_its_cells(tmp_path):
    path = write(
        tmp_path,
        seeds=2,
        grids=[
            {"methods": ["mean", "dibs"], "transforms": ["none", "task1:exp"]},
            {"methods": ["stl"], "transforms": ["none"]},
        ],
    )
    names = [r.name for r in load_experiment(path, tmp_path).runs]
    cells = ["mean__none", "mean__task1-exp", "dibs__none", "dibs__task1-exp"]
    assert names == [f"{c}__s{s}" for s in (0, 1) for c in cells] + [
        "stl__none__s0",
        "stl__none__s1",
    ]


def test_the_frozen_cpu_study_grid_is_the_issue_s():
    from mtrl.combine import METHODS

    runs = load_experiment("experiments/cpu_study.yaml", "/tmp/unused").runs
    cells: dict[tuple[str, tuple[str, ...]], set[int]] = {}
    for r in runs:
        cells.setdefault((r.method, r.transform), set()).add(r.seed)
    assert all(seeds == set(range(5)) for seeds in cells.values())  # 5 seeds everywhere
    exp, pow4, affine = (
        ("drawer-close-v3:exp",),
        ("drawer-close-v3:pow4",),
        ("drawer-close-v3:affine(100,0)",),
    )
    every = {*METHODS, "nashmtl-ccp"}
    expected = {(m, t) for m in every for t in ((), exp)}
    expected |= {(m, pow4) for m in ("mean", "dibs", "nashmtl", "famo")}
    expected |= {(m, affine) for m in ("mean", "dibs")} | {("stl", ())}
    assert set(cells) == expected and len(runs) == 145
    ccp = next(r for r in runs if r.method == "nashmtl-ccp").config
    assert ccp.method_options == {"solver": "ccp"} and ccp.label == "nashmtl-ccp"
    # the claim's cells run first
    first = {(r.method, r.transform) for r in runs[:40]}
    assert first == {(m, t) for m in ("mean", "dibs", "nashmtl", "famo") for t in ((), exp)}
