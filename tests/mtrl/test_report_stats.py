"""The report's statistics are rliable's, on the same scores; the committed records load."""

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.container import BarContainer
from torch.utils.tensorboard import SummaryWriter

from mtrl import report, results
from mtrl.experiment import load_experiment
from mtrl.finished import FINISHED
from mtrl.provenance import LEDGER, code_fingerprint

REPO = Path(__file__).resolve().parents[2]
TASKS = ["a", "b", "c"]


def rliable_interval(scores, func):
    """rliable called directly, as its README does."""
    from rliable import library, metrics

    np.random.seed(0)  # its two-sample bootstrap draws from the global generator
    point, interval = library.get_interval_estimates(
        scores, func, reps=results.BOOTSTRAP_SAMPLES, random_state=np.random.RandomState(0)
    )
    (key,) = point
    return point[key][0], interval[key][0, 0], interval[key][1, 0], metrics


@pytest.fixture
def study(tmp_path, run_record):
    rng = np.random.default_rng(3)
    runs = {}
    for method in ("mean", "dibs"):
        for transform in ([], ["task2:exp"]):
            for seed in range(4):
                success = rng.integers(0, 5, size=(2, 3)) / 4  # two evaluations, exact in float32
                name = f"{method}__{len(transform)}__s{seed}"
                run_record(tmp_path / name, method, transform, seed, TASKS, success)
                runs[method, bool(transform), seed] = success
    return tmp_path, runs


@pytest.mark.parametrize("statistic", ["final", "best"])
def test_headline_matches_rliable_on_the_same_scores(study, statistic):
    root, raw = study
    rows = {r.method: r for r in results.headline_rows(results.load_runs(root)[0], statistic)}

    def scores(method, mapped, tasks):
        out = []
        for seed in range(4):
            s = raw[method, mapped, seed]
            at = -1 if statistic == "final" else int(np.argmax(s.mean(axis=1)))
            out.append(s[at, tasks])
        return np.array(out)

    from rliable import metrics

    iqm = lambda x: np.array([metrics.aggregate_iqm(x)])  # noqa: E731
    others = [0, 1]
    mean = rows["mean"]
    value, low, high, _ = rliable_interval({"x": scores("mean", True, others)}, iqm)
    assert (mean.others_mapped.value, mean.others_mapped.low, mean.others_mapped.high) == (
        pytest.approx(value),
        pytest.approx(low),
        pytest.approx(high),
    )
    value, low, high, _ = rliable_interval({"x": scores("mean", False, others)}, iqm)
    assert mean.others_none.value == pytest.approx(value) and mean.others_none.low == pytest.approx(
        low
    )
    value, low, high, _ = rliable_interval({"x": scores("mean", True, [2])}, iqm)
    assert mean.mapped_task.value == pytest.approx(
        value
    ) and mean.mapped_task.high == pytest.approx(high)
    pair = {"d,m": (scores("dibs", True, others), scores("mean", True, others))}
    value, low, high, _ = rliable_interval(
        pair, lambda x, y: np.array([metrics.probability_of_improvement(x, y)])
    )
    got = mean.dibs_better
    assert (got.value, got.low, got.high) == (
        pytest.approx(value),
        pytest.approx(low),
        pytest.approx(high),
    )
    drop = {"n,m": (scores("mean", False, others), scores("mean", True, others))}
    value, low, high, _ = rliable_interval(
        drop, lambda x, y: np.array([metrics.aggregate_iqm(x) - metrics.aggregate_iqm(y)])
    )
    assert (mean.drop.value, mean.drop.low, mean.drop.high) == (
        pytest.approx(value),
        pytest.approx(low),
        pytest.approx(high),
    )
    assert rows["dibs"].dibs_better is None


def test_the_report_writes_the_headline_and_its_figures(study, tmp_path):
    root, _ = study
    report.write_report(root, tmp_path / "out")
    text = (tmp_path / "out" / "results.md").read_text()
    assert "## Headline: final success (the honest statistic)" in text
    assert "## Headline: best evaluation over training (the paper's statistic)" in text
    assert "![headline.png](headline.png)" in text
    assert "## Runs and their cost" in text and "| all | 16 |" in text  # 2 methods × 2 × 4 seeds
    for name in ("headline.png", "profile_none.png", "profile_c-exp.png", "mechanism_c-exp.png"):
        assert (tmp_path / "out" / name).is_file()


def test_the_report_lists_every_run_s_final_success_per_task_in_seed_order(study, tmp_path):
    root, raw = study
    report.write_report(root, tmp_path / "out")
    text = (tmp_path / "out" / "results.md").read_text()
    assert "## Final success per run" in text
    for method in ("mean", "dibs"):
        for mapped, label in ((False, "none"), (True, "c-exp")):
            cells = [
                " ".join(f"{raw[method, mapped, seed][-1, k]:.2f}" for seed in range(4))
                for k in range(len(TASKS))
            ]
            assert f"| {method} | {label} | 0, 1, 2, 3 | " + " | ".join(cells) + " |" in text


def test_the_committed_study_records_load_and_are_finished():
    folders = [
        REPO / "experiments/results" / name for name in ("cpu_study_calibration", "cpu_study")
    ]
    markers = ("*/finished.json", "*/stopped.json")  # a run that stopped itself counts too
    records = [m.parent for f in folders if f.is_dir() for g in markers for m in f.glob(g)]
    grid = load_experiment(REPO / "experiments/cpu_study.yaml", "/tmp/unused").runs
    study = sorted(r.name for r in records if r.parent.name == "cpu_study")
    assert study == sorted(r.name for r in grid)  # the whole frozen grid, once each
    for record in records:
        runs, notes = results.load_runs(record)
        assert len(runs) == 1 and runs[0].steps[-1] > 0, record
        assert not [n for n in notes if "unfinished" in n], notes


def test_a_changed_run_is_stale_unless_the_behaviour_ledger_shows_the_same_digest(
    tmp_path, run_record
):
    run_record(tmp_path / "dibs__s0", "dibs", [], 0, TASKS, np.ones((1, 3)))
    then = {**code_fingerprint(), "agents/sac.py": "0" * 16}  # it ran on other SAC code
    (tmp_path / "dibs__s0" / FINISHED).write_text(json.dumps({"step": 100, "code": then}))
    assert results.load_runs(tmp_path)[1] == [
        "dibs__s0: stale, code changed since it ran: agents/sac.py"
    ]
    ledger = [
        {"code": then, "digests": {"dibs": "d1"}},
        {"code": code_fingerprint(), "digests": {"dibs": "d1"}},
    ]
    (tmp_path / LEDGER).write_text(json.dumps(ledger))
    assert results.load_runs(tmp_path)[1] == []
    ledger[1]["digests"]["dibs"] = "d2"  # today's code computes something else
    (tmp_path / LEDGER).write_text(json.dumps(ledger))
    assert results.load_runs(tmp_path)[1] == [
        "dibs__s0: stale, code changed since it ran: agents/sac.py"
    ]


def test_a_run_s_wall_time_sums_its_attempts_and_leaves_out_the_gap_between(tmp_path):
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.record_writer import RecordWriter

    from mtrl.events import wall_seconds

    # two attempts (a crash, then a resume an hour later), each its own event file
    for attempt, times in enumerate([(1000.0, 1030.0, 1060.0), (4600.0, 4630.0)]):
        with open(tmp_path / f"events.out.tfevents.{int(times[0])}.vm.1.{attempt}", "wb") as f:
            writer = RecordWriter(f)
            for step, t in enumerate(times):
                value = Summary.Value(tag="success/a", simple_value=0.0)
                writer.write(
                    Event(
                        wall_time=t, step=step, summary=Summary(value=[value])
                    ).SerializeToString()
                )
    assert wall_seconds(tmp_path) == 60.0 + 30.0


def test_the_mechanism_figure_plots_each_task_s_logged_curves_averaged_over_seeds(
    tmp_path, run_record, monkeypatch
):
    from mtrl import figures

    logged = {  # per seed: tag -> per-task values at steps 100 and 200
        0: {"loss/critic": [[1.0, 4.0], [2.0, 8.0]], "loss/actor": [[-3.0, -1e4], [5.0, -2e4]]},
        1: {"loss/critic": [[3.0, 4.0], [4.0, 8.0]], "loss/actor": [[-5.0, -3e4], [-7.0, -4e4]]},
    }
    for seed, tags in logged.items():
        folder = tmp_path / f"dibs__s{seed}"
        run_record(folder, "dibs", ["b:exp"], seed, ["a", "b"], [[0.0, 1.0], [0.0, 1.0]])
        writer = SummaryWriter(str(folder))
        for tag, rows in tags.items():
            for i, row in enumerate(rows):
                for task, value in zip(["a", "b"], row, strict=True):
                    writer.add_scalar(f"{tag}/{task}", value, (i + 1) * 100)
        for i, weights in enumerate([[3.0, 1.0], [1.0, 1.0]]):
            for task, value in zip(["a", "b"], weights, strict=True):
                writer.add_scalar(f"combine/critic/weight/{task}", value, (i + 1) * 100)
        writer.close()
    runs, _ = results.load_runs(tmp_path)
    kept = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: kept.append(fig))
    assert figures.plot_mechanism(runs, "b-exp", tmp_path / "m.png")
    (fig,) = kept
    panels = {ax.get_title(): [line.get_ydata() for line in ax.lines] for ax in fig.axes}

    def mean(tag):
        return np.mean([logged[s][tag] for s in logged], axis=0).T  # [task, step]

    np.testing.assert_allclose(panels["dibs: critic loss"], mean("loss/critic"))
    np.testing.assert_allclose(panels["dibs: value estimate (−actor loss)"], -mean("loss/actor"))
    shares = [[0.75, 0.5], [0.25, 0.5]]  # each step's weights over their sum
    np.testing.assert_allclose(panels["dibs: critic weight share"], shares)
    assert panels["dibs: temperature α"] == []  # not logged: the panel says so
    # the unmapped task (a) drawn over the mapped one (b): equal shares show both lines
    for ax in fig.axes:
        if ax.lines:
            drawn = {line.get_label(): line.get_zorder() for line in ax.lines}
            assert drawn["a"] > drawn["b"]


def test_the_report_reads_each_run_s_event_files_once(tmp_path, run_record, monkeypatch):
    """The mechanism figure draws on the scalars ``load_runs`` already read, not a second
    pass over the event files (the slow part of a report over a whole grid)."""
    from mtrl import events
    from mtrl.report import write_report

    for method in ("mean", "dibs"):
        for seed in (0, 1):
            run_record(
                tmp_path / "runs" / f"{method}__s{seed}",
                method,
                ["b:exp"],
                seed,
                ["a", "b"],
                [[0.0, 1.0], [0.5, 1.0]],
            )
    loads: list[str] = []
    loader = events.LegacyEventFileLoader

    def counting_loader(path):
        loads.append(Path(path).parent.name)
        return loader(path)

    monkeypatch.setattr(events, "LegacyEventFileLoader", counting_loader)
    write_report(tmp_path / "runs", tmp_path / "out")
    assert (tmp_path / "out" / "mechanism_b-exp.png").exists()
    assert sorted(loads) == ["dibs__s0", "dibs__s1", "mean__s0", "mean__s1"]


@pytest.fixture
def drawn(monkeypatch):
    """Write a report and keep its figures, by file name, instead of saving them; the
    figures are closed when the test ends."""
    import matplotlib.pyplot as plt

    from mtrl import figures

    def write(root, out):
        kept = {}
        monkeypatch.setattr(figures, "_save", lambda fig, path: kept.setdefault(path.name, fig))
        report.write_report(root, out)
        return kept

    yield write
    plt.close("all")


def test_a_method_has_one_colour_in_every_figure_and_no_two_share_one(
    study, tmp_path, run_record, drawn
):
    from mtrl import figures

    root, _ = study
    # a method with no mapped runs, sorting first: a figure that coloured only its own
    # methods would shift every other method's colour between the two maps' figures
    # and one with mapped runs only: a legend taken from a single panel would miss one
    for seed in range(2):
        run_record(root / f"cagrad__0__s{seed}", "cagrad", [], seed, TASKS, [[1.0, 1.0, 1.0]])
        run_record(
            root / f"famo__1__s{seed}", "famo", ["task2:exp"], seed, TASKS, [[0.0, 0.0, 1.0]]
        )
    kept = drawn(root, tmp_path / "out")
    seen: dict[str, set] = {}
    for name in ("curves.png", "per_task_none.png", "per_task_c-exp.png", "profile_c-exp.png"):
        for line in (line for ax in kept[name].axes for line in ax.lines):
            seen.setdefault(line.get_label().split(" (n=")[0], set()).add(line.get_color())
    assert set(seen) == {"cagrad", "dibs", "famo", "mean"}
    assert all(len(c) == 1 for c in seen.values()), seen
    assert len({next(iter(c)) for c in seen.values()}) == 4
    (legend,) = kept["curves.png"].legends
    assert [t.get_text() for t in legend.get_texts()] == ["cagrad", "dibs", "famo", "mean"]
    twelve = figures.method_colors(f"method{i}" for i in range(12))
    assert len(set(twelve.values())) == 12  # matplotlib's default cycle repeats after 10


def test_the_robustness_figure_draws_each_map_s_drop_with_its_interval(
    study, tmp_path, run_record, drawn
):
    root, _ = study
    kept = drawn(root, tmp_path / "out")
    (ax,) = kept["robustness.png"].axes
    rows = sorted(results.headline_rows(results.load_runs(root)[0]), key=lambda r: r.method)
    np.testing.assert_allclose([p.get_height() for p in ax.patches], [r.drop.value for r in rows])
    (bars,) = [c for c in ax.containers if isinstance(c, BarContainer)]
    segments = bars.errorbar.lines[2][0].get_segments()  # per bar: [[x, low], [x, high]]
    low, high = ([s[k, 1] for s in segments] for k in (0, 1))
    np.testing.assert_allclose(low, [r.drop.low for r in rows])
    np.testing.assert_allclose(high, [r.drop.high for r in rows])
    assert "![robustness.png](robustness.png)" in (tmp_path / "out" / "results.md").read_text()

    # no map, no drop to draw: the report neither writes nor links the figure
    bare = tmp_path / "bare"
    for seed in range(2):
        run_record(bare / f"mean__s{seed}", "mean", [], seed, TASKS, [[1.0, 0.5, 0.0]])
    assert "robustness.png" not in drawn(bare, tmp_path / "bare_out")
    assert "robustness" not in (tmp_path / "bare_out" / "results.md").read_text()


def test_the_mechanism_table_reads_the_other_tasks_late_logs_median_over_seeds(
    tmp_path, run_record
):
    steps = [100 * (i + 1) for i in range(8)]  # the last eighth: steps 700 and 800

    def log(folder, seed, transform, tags):
        run_record(folder, "dibs", transform, seed, ["a", "b"], [[0.0, 1.0]] * 8)
        writer = SummaryWriter(str(folder))
        for tag, per_task_values in tags.items():
            for task, values in per_task_values.items():
                for step, value in zip(steps, values, strict=True):
                    writer.add_scalar(f"{tag}/{task}", value, step)
        writer.close()

    for seed, scale in enumerate([1.0, 2.0, 6.0]):  # median over seeds 2, mean 3
        late = [-1.0] * 6 + [-1e5 * scale, -3e5 * scale]  # the whole run's median: -1
        log(
            tmp_path / f"dibs__exp__s{seed}",
            seed,
            ["b:exp"],
            {
                "loss/actor": {"a": late, "b": [-1e7] * 8},
                "loss/critic": {"a": [5.0] * 6 + [4e3 * scale] * 2, "b": [1e9] * 8},
                "combine/critic/weight": {"a": [1.0] * 8, "b": [1.0] * 6 + [3.0] * 2},
                "alpha": {"a": [0.1] * 6 + [scale] * 2, "b": [300.0] * 8},
            },
        )
        log(
            tmp_path / f"dibs__none__s{seed}",
            seed,
            [],
            {
                "loss/actor": {"a": [-10.0] * 8, "b": [-1e3] * 8},
                "loss/critic": {"a": [2.0] * 8, "b": [999.0] * 8},
                "alpha": {"a": [1.0] * 6 + [0.1] * 2, "b": [0.5] * 8},
            },
        )
    (row,) = results.scale_rows(results.load_runs(tmp_path)[0])
    assert (row.method, row.transform) == ("dibs", "b-exp")
    assert row.value_none == pytest.approx(10.0)
    assert row.value_mapped == pytest.approx(4e5)  # seeds' late medians 2e5, 4e5, 1.2e6
    assert row.critic_loss_none == pytest.approx(2.0)
    assert row.critic_loss_mapped == pytest.approx(8e3)
    assert row.alpha_none == pytest.approx(0.1)  # task a's late logs, not b's nor early
    assert row.alpha_mapped == pytest.approx(2.0)
    assert row.mapped_share == pytest.approx(0.75)  # late weights 1 and 3
    report.write_report(tmp_path, tmp_path / "out")
    text = (tmp_path / "out" / "results.md").read_text()
    assert "## Mechanism: the other tasks' value scale" in text
    assert "| dibs | b-exp | 10 | 4e+05 | 2 | 8e+03 | 0.1 | 2 | 0.75 |" in text


def test_the_mechanism_table_takes_the_median_of_a_run_s_late_logs_not_their_mean(
    tmp_path, run_record
):
    # 16 logs: the last eighth (steps ≥ 1400) holds three, one of them a spike, so a mean
    # over the late window (1e9 / 3) and its median (5) differ
    steps = [100 * (i + 1) for i in range(16)]
    for transform, critic in (([], [2.0] * 16), (["b:exp"], [7.0] * 13 + [5.0, 1e9, 5.0])):
        folder = tmp_path / f"dibs__{len(transform)}__s0"
        run_record(folder, "dibs", transform, 0, ["a", "b"], [[0.0, 1.0]] * 16)
        writer = SummaryWriter(str(folder))
        for step, value in zip(steps, critic, strict=True):
            writer.add_scalar("loss/critic/a", value, step)
            writer.add_scalar("loss/critic/b", 1e9, step)
        writer.close()
    (row,) = results.scale_rows(results.load_runs(tmp_path)[0])
    assert row.critic_loss_none == pytest.approx(2.0)
    assert row.critic_loss_mapped == pytest.approx(5.0)


def test_the_performance_profile_s_bands_do_not_depend_on_numpy_s_global_state():
    from mtrl import stats

    rng = np.random.default_rng(0)
    scores = {m: rng.integers(0, 5, size=(5, 2)) / 4 for m in ("a", "b")}
    taus = np.linspace(0.0, 1.0, 21)
    bands = []
    for global_seed in (1, 2):
        np.random.seed(global_seed)
        bands.append(stats.performance_profile(scores, taus, reps=200)[1])
        after = np.random.get_state()[1].copy()
        np.random.seed(global_seed)
        assert np.array_equal(after, np.random.get_state()[1])  # the global state restored
    assert all(np.array_equal(bands[0][m], bands[1][m]) for m in scores)
