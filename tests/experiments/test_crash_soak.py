"""SIGKILL at a random moment, then --resume: the run ends as if it had never been killed."""

import pytest


@pytest.mark.slow
def test_killed_and_resumed_run_equals_the_uninterrupted_one(tmp_path, load_script):
    crash_soak = load_script("crash_soak")
    report = crash_soak.soak(kills=2, out=tmp_path / "soak", steps=240, seed=1)
    assert report.kills == 2 and report.resumes >= 2, report.text()
    assert report.checkpoints_checked > 0 and not report.unreadable, report.text()
    assert report.params_equal and report.curves_equal and report.ok, report.text()
