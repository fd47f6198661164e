"""The compute-path fingerprint: code changes count, docstrings do not, other methods' don't;
a behaviour ledger with equal digests then and now keeps a changed run current."""

import shutil

from mtrl.provenance import (
    COMPUTE_PATHS,
    ROOT,
    behaviour_unchanged,
    code_fingerprint,
    method_key,
    stale_modules,
)


def copy_tree(tmp_path):
    for entry in COMPUTE_PATHS:
        src, dst = ROOT / entry, tmp_path / entry
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    return tmp_path


def edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_docstrings_and_comments_are_not_a_change_code_is(tmp_path):
    root = copy_tree(tmp_path)
    before = code_fingerprint(root)
    assert set(before) >= {"agents/sac.py", "mtrl/combine/dibs.py", "mtrl/evaluate.py"}
    edit(root / "mtrl/combine/dibs.py", '"""', '"""Reworded. ')  # the module docstring
    edit(root / "agents/sac.py", "\nimport copy\n", "\n# a comment\nimport copy\n")
    assert code_fingerprint(root) == before
    assert stale_modules(before, "dibs", root) == []
    edit(root / "agents/sac.py", "gamma: float = 0.99", "gamma: float = 0.98")
    assert stale_modules(before, "dibs", root) == ["agents/sac.py"]


def test_a_change_to_another_methods_combiner_leaves_a_run_valid(tmp_path):
    root = copy_tree(tmp_path)
    before = code_fingerprint(root)
    edit(root / "mtrl/combine/famo.py", "import torch\n", "import torch\n\nX = 1\n")
    assert stale_modules(before, "dibs", root) == []
    assert stale_modules(before, "famo", root) == ["mtrl/combine/famo.py"]
    edit(root / "mtrl/combine/mgda.py", "import torch\n", "import torch\n\nX = 1\n")
    assert stale_modules(before, "mgda-ub", root) == ["mtrl/combine/mgda.py"]  # it builds on mgda
    assert stale_modules(before, "stl", root) == []  # stl uses no combiner


def test_a_ledger_with_the_same_digest_then_and_now_keeps_a_changed_run_current(tmp_path):
    root = copy_tree(tmp_path)
    then = code_fingerprint(root)
    edit(root / "agents/sac.py", "gamma: float = 0.99", "gamma: float = 0.98")
    now = code_fingerprint(root)
    ledger = [
        {"code": then, "digests": {"dibs": "aaaa"}},
        {"code": now, "digests": {"dibs": "aaaa"}},
    ]
    assert stale_modules(then, "dibs", root) == ["agents/sac.py"]
    assert behaviour_unchanged(then, "dibs", "dibs", ledger, root)
    # a different digest, a missing entry, or another key's digest: the change counts
    ledger[1]["digests"]["dibs"] = "bbbb"
    assert not behaviour_unchanged(then, "dibs", "dibs", ledger, root)
    assert not behaviour_unchanged(then, "dibs", "dibs", ledger[:1], root)
    assert not behaviour_unchanged(then, "dibs", "dibs:eps=1", ledger, root)


def test_a_ledger_entry_matches_on_the_methods_own_compute_path_only(tmp_path):
    root = copy_tree(tmp_path)
    then = code_fingerprint(root)
    edit(root / "agents/sac.py", "gamma: float = 0.99", "gamma: float = 0.98")
    now = code_fingerprint(root)
    # the entry for today's code was recorded before an unrelated combiner changed
    recorded_now = {**now, "mtrl/combine/famo.py": "0" * 16}
    ledger = [
        {"code": then, "digests": {"dibs": "a"}},
        {"code": recorded_now, "digests": {"dibs": "a"}},
    ]
    assert behaviour_unchanged(then, "dibs", "dibs", ledger, root)
    assert not behaviour_unchanged(then, "famo", "dibs", ledger, root)  # famo's own module


def test_method_key_names_options_in_a_fixed_order():
    assert method_key("nashmtl") == method_key("nashmtl", {}) == "nashmtl"
    assert method_key("nashmtl", {"solver": "ccp", "a": 1}) == "nashmtl:a=1,solver=ccp"
