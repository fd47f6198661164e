"""The GPU image installs what pyproject.toml declares, the README way (no engine to build it)."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def instructions(name: str) -> list[str]:
    """The arguments of every ``name`` instruction, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in text.splitlines() if line.startswith(name + " ")]


def test_pip_installs_the_project_itself_and_nothing_else():
    pips = [cmd for run in instructions("RUN") for cmd in run.split("&&") if "pip install" in cmd]
    assert len(pips) == 1
    args = [a for a in pips[0].split()[2:] if not a.startswith("--no-cache")]
    # the dependency set is exactly pyproject's (+ its ray and ccp extras)
    assert args == ["-e", '".[ray,ccp]"']
    assert "ray" in PYPROJECT["project"]["optional-dependencies"]


def test_base_image_torch_satisfies_the_package_range():
    (base,) = instructions("FROM")
    tag = re.fullmatch(r"pytorch/pytorch:(\d+\.\d+\.\d+)-cuda[\d.]+-\S+", base.strip())
    assert tag, base
    torch_req = next(
        Requirement(r) for r in PYPROJECT["project"]["dependencies"] if r.startswith("torch")
    )
    assert tag.group(1) in torch_req.specifier


def test_every_package_is_copied_in():
    copied = {c.split()[0] for c in instructions("COPY")}
    for pattern in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]:
        assert pattern.rstrip("*") in copied, pattern
    assert "pyproject.toml" in copied


def test_headless_non_root_entrypoint_and_runs_volume():
    env = " ".join(instructions("ENV"))
    assert "MUJOCO_GL=egl" in env
    (user,) = instructions("USER")
    assert user.split(":")[0] not in ("root", "0")
    assert instructions("ENTRYPOINT") == ['["mtrl"]']
    assert any("/opt/mtrl/runs" in v for v in instructions("VOLUME"))
    readme = (ROOT / "README.md").read_text()
    assert "docker run --gpus all -v" in readme and "/opt/mtrl/runs" in readme
