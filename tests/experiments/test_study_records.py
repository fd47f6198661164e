"""study_records commits ended runs' records only (finished or stopped itself), and nothing
else that is staged."""

import subprocess


def git(repo, *args):
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def test_only_ended_runs_records_are_committed(load_script, tmp_path, monkeypatch):
    records = load_script("study_records")
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "t@t")
    git(repo, "config", "user.name", "t")
    (repo / "seed.txt").write_text("x")
    git(repo, "add", "seed.txt")
    git(repo, "commit", "-qm", "seed")
    root = repo / "results" / "study"
    done, running = root / "mean__none__s0", root / "mean__none__s1"
    stopped = root / "mean__exp__s0"
    for run in (done, running, stopped):
        (run / "checkpoints").mkdir(parents=True)
        (run / "config.yaml").write_text("method: mean\n")
        (run / "events.out.tfevents.1.vm.1.0").write_bytes(b"ev")
        (run / "checkpoints" / "step_1.ckpt").write_bytes(b"big")
    (done / "finished.json").write_text("{}\n")
    (stopped / "stopped.json").write_text("{}\n")  # it stopped itself: an outcome, recorded
    # the run was hidden by a local exclude while it ran (it still is): its record goes in
    (repo / ".git" / "info" / "exclude").write_text("results/study/mean__none__s0/\n")
    (repo / "staged.txt").write_text("someone else's work")
    git(repo, "add", "staged.txt")
    monkeypatch.chdir(repo)

    assert records.commit_records(root.relative_to(repo)) == ["mean__exp__s0", "mean__none__s0"]
    committed = set(git(repo, "show", "--name-only", "--format=", "HEAD").split())
    assert committed == {
        f"results/study/{run}/{f}"
        for run, marker in (("mean__none__s0", "finished.json"), ("mean__exp__s0", "stopped.json"))
        for f in ("config.yaml", marker, "events.out.tfevents.1.vm.1.0")
    }
    assert "A  staged.txt" in git(repo, "status", "--porcelain")  # still staged, not committed
    assert records.commit_records(root.relative_to(repo)) == []  # nothing new
