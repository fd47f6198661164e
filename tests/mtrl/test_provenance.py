"""The compute-path fingerprint: code changes count, docstrings do not, other methods' don't."""

import shutil

from mtrl.provenance import COMPUTE_PATHS, ROOT, code_fingerprint, stale_modules


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
