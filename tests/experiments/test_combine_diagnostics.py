from pathlib import Path

import pytest

from mtrl.trainer import train


@pytest.mark.slow
def test_table_counts_combine_tags_and_reads_the_cosine(tiny, load_script):
    script = load_script("combine_diagnostics")
    runs = {}
    for method in ("dibs", "mean"):
        cfg = tiny(method=method, total_steps=60, warmup_steps=20, log_interval=20)
        runs[method] = train(cfg).run_dir
    rows = script.table(Path(runs["dibs"]).parent).splitlines()[2:]
    cells = {row.strip("| ").split(" | ")[0]: row.strip("| ").split(" | ") for row in rows}
    assert set(cells) == {Path(d).name for d in runs.values()}
    dibs, mean = cells[Path(runs["dibs"]).name], cells[Path(runs["mean"]).name]
    assert int(dibs[2]) > int(mean[2]) > 0  # dibs adds grad norms and the cosine to the weights
    assert -1.0 <= float(dibs[3]) <= 1.0 and mean[3] == "–"
