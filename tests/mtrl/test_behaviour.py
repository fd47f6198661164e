"""The behaviour digest: a tiny real run, the same for the same code, not for other numbers."""

import pytest

from mtrl import behaviour

pytestmark = pytest.mark.slow


def test_the_digest_repeats_and_tells_methods_and_seeds_apart(monkeypatch):
    mean = behaviour.behaviour_digest("mean")
    assert behaviour.behaviour_digest("mean") == mean  # one thread: bit-identical reruns
    assert behaviour.behaviour_digest("dibs") != mean
    monkeypatch.setitem(behaviour.TINY_RUN, "seed", 4)
    assert behaviour.behaviour_digest("mean") != mean


def test_record_adds_todays_code_once(tmp_path, monkeypatch):
    monkeypatch.setitem(behaviour.TINY_RUN, "total_steps", 300)
    monkeypatch.setitem(behaviour.TINY_RUN, "eval_interval", 300)
    monkeypatch.setitem(behaviour.TINY_RUN, "checkpoint_interval", 300)
    ledger = tmp_path / "behaviour.json"
    first = behaviour.record(ledger, [{"method": "mean"}])
    behaviour.record(ledger, [{"method": "mean"}])
    entries = behaviour.read_ledger(ledger)
    assert len(entries) == 1 and entries[0] == first
    assert set(first["digests"]) == {"mean"}
