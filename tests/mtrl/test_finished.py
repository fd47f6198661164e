"""finished.json records the commit of the code that finished the run."""

import json
import subprocess
from pathlib import Path

import pytest

from mtrl.finished import FINISHED, is_finished, mark_finished

ROOT = Path(__file__).resolve().parents[2]


def test_the_marker_records_this_checkouts_commit(tmp_path):
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    mark_finished(tmp_path, 123)
    record = json.loads((tmp_path / FINISHED).read_text())
    assert record["step"] == 123
    assert record["commit"] == head.stdout.strip()
    assert isinstance(record["dirty"], bool)
    assert is_finished(tmp_path)
