"""One property suite over every registered method, driven by what each declares.

For every method and every property of ``mtrl.combine.PROPERTIES``, the claim is checked
where the method declares it and a counterexample is found where it does not (so each
cell of the table below is tested both ways). The README's method tables are checked
against the same declarations. Hand-computed cases live beside each method's own tests.
"""

import re
from pathlib import Path

import pytest
import torch

from mtrl.combine import METHODS, PROPERTIES, REGISTRY, make, property_table

F64 = torch.float64
ROOT = Path(__file__).resolve().parents[2]


def seeded(k: int, p: int, seed: int) -> torch.Tensor:
    return torch.randn(k, p, dtype=F64, generator=torch.Generator().manual_seed(seed))


def direction(combiner, grads: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
    """The update direction d (for loss-weighting methods ``Σ wᵢ gᵢ``)."""
    out = combiner(losses, grads if combiner.needs_grads else None)
    return out.direction if out.direction is not None else out.weights @ grads


def fresh(name: str, grads: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
    return direction(make(name, grads.shape[0]), grads, losses)


def cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return torch.nn.functional.cosine_similarity(a, b, dim=0).item()


def declares(name: str, prop: str) -> bool:
    return getattr(REGISTRY[name], prop)


SAME = 1 - 1e-9
"""Cosine above which two directions count as the same."""
TURNED = 1 - 1e-6
"""Cosine below which a direction counts as changed."""
LOSSES = torch.tensor([1.0, 2.0, 0.5], dtype=F64)
G = seeded(3, 8, 4)


# ---------------------------------------------------------------- every method declares all
@pytest.mark.parametrize("name", METHODS)
def test_every_method_declares_every_property(name):
    for prop in PROPERTIES:
        assert isinstance(getattr(REGISTRY[name], prop, None), bool), (name, prop)
    if declares(name, "scale_invariant"):  # the stronger claim implies the weaker one
        assert declares(name, "loss_scale_invariant")


# ---------------------------------------------------------------- needs_grads
@pytest.mark.parametrize("name", METHODS)
def test_needs_grads(name):
    c = make(name, 3)
    if declares(name, "needs_grads"):
        with pytest.raises(ValueError, match="needs grads"):
            c(LOSSES, None)
        out = c(LOSSES, G)
        assert out.direction is not None  # the method writes the update itself
    else:
        out = c(LOSSES, None)  # loss weights from the losses alone: one backward
        assert out.direction is None and out.weights.shape == (3,)


# ---------------------------------------------------------------- uses_loss_values
@pytest.mark.parametrize("name", METHODS)
def test_uses_loss_values(name):
    others = [torch.tensor(v, dtype=F64) for v in ([3.0, 0.1, 7.0], [1e-3, 1e3, 1.0])]
    plain = fresh(name, G, LOSSES)
    changed = [fresh(name, G, losses) for losses in others]
    if declares(name, "uses_loss_values"):
        assert min(cos(plain, d) for d in changed) < TURNED
    else:
        for d in changed:
            assert torch.equal(d, plain)  # bit for bit: the losses never enter


# ---------------------------------------------------------------- scale_invariant
FACTORS = [1e-4, 0.3, 7.0, 1e4]


@pytest.mark.parametrize("name", METHODS)
def test_scale_invariant(name):
    """Task 2's gradient times c > 0, its loss value changed arbitrarily (any increasing map
    of that loss moves both: to first order, only the gradient's scale is certain)."""
    plain = fresh(name, G, LOSSES)
    cosines = []
    for factor in FACTORS:
        g = G.clone()
        g[2] *= factor
        for loss in (LOSSES[2], LOSSES[2] * factor, LOSSES[2] + 5.0):
            losses = LOSSES.clone()
            losses[2] = loss
            cosines.append(cos(plain, fresh(name, g, losses)))
    if declares(name, "scale_invariant"):
        assert min(cosines) > SAME
    else:
        assert min(cosines) < TURNED


# ---------------------------------------------------------------- loss_scale_invariant
def run_sequence(name: str, task: int, factor: float, calls: int = 4) -> list[torch.Tensor]:
    """Directions of one combiner over ``calls`` updates, task ``task``'s loss (its value and
    its gradient) multiplied by ``factor`` at every call; the losses fall call by call."""
    combiner = make(name, 3)
    scale = torch.ones(3, dtype=F64)
    scale[task] = factor
    out = []
    for t in range(calls):
        losses = LOSSES * (0.8**t) * torch.tensor([1.0, 1.1**t, 0.9**t], dtype=F64) * scale
        grads = seeded(3, 8, 10 + t) * scale[:, None]
        out.append(direction(combiner, grads, losses))
        combiner.after_step(losses * 0.9)
    return out


@pytest.mark.parametrize("name", METHODS)
def test_loss_scale_invariant(name):
    cosines = []
    for task in range(3):
        plain = run_sequence(name, task, 1.0)
        for factor in (1e-3, 0.2, 5.0, 1e3):
            scaled = run_sequence(name, task, factor)
            cosines += [cos(a, b) for a, b in zip(plain, scaled, strict=True)]
    if declares(name, "loss_scale_invariant"):
        assert min(cosines) > 1 - 1e-7
    else:
        assert min(cosines) < TURNED


# ---------------------------------------------------------------- descends_every_task
CONFLICTS = [
    torch.tensor([[10.0, 0.0], [-1.0, 1.0]], dtype=F64),  # a small task against a large one
    torch.tensor([[1.0, -1.0, 0.0], [-1.0, -1.0, 0.0], [0.0, 10.0, 1.0]], dtype=F64),
    torch.tensor([[1.0, 0.0, 0.0], [-0.9, 0.3, 0.0], [-0.9, -0.3, 0.1]], dtype=F64),
    torch.tensor([[1.0, 0.0], [-3.0, 0.1]], dtype=F64),
]
"""Linearly independent gradients with strong conflicts, K ≤ P (hand-written)."""
RANDOM = [seeded(k, 8, seed) * torch.logspace(-1, 1, k, dtype=F64)[:, None]
          for k in (2, 3, 5) for seed in range(5)]  # fmt: skip


def worst_progress(name: str, grads: torch.Tensor) -> float:
    """``minᵢ ⟨d, gᵢ⟩ / (‖d‖ ‖gᵢ‖)``: below 0, d ascends some task's loss."""
    k = grads.shape[0]
    losses = torch.linspace(0.5, 2.0, k, dtype=F64)
    d = fresh(name, grads, losses)
    return ((grads @ d) / (grads.norm(dim=1) * d.norm()).clamp_min(1e-300)).min().item()


@pytest.mark.parametrize("name", METHODS)
def test_descends_every_task(name):
    worst = min(worst_progress(name, g) for g in CONFLICTS + RANDOM)
    if declares(name, "descends_every_task"):
        assert worst >= -1e-9
    else:
        assert worst < -1e-3


# ---------------------------------------------------------------- permutation_invariant
def permuted_sequence(name: str, perm: torch.Tensor, calls: int = 3) -> list[torch.Tensor]:
    """Directions over ``calls`` updates with the tasks in the order ``perm`` (the losses
    change unevenly call by call: LDC's first call sees every normalised loss equal)."""
    combiner = make(name, 4)
    out = []
    for t in range(calls):
        losses = (
            torch.tensor([1.0, 2.0, 0.5, 4.0], dtype=F64)
            * torch.tensor([1.0, 0.5, 1.5, 0.9], dtype=F64) ** t
        )
        out.append(direction(combiner, seeded(4, 6, 20 + t)[perm], losses[perm]))
        combiner.after_step(losses[perm] * 0.9)
    return out


@pytest.mark.parametrize("name", METHODS)
def test_permutation_invariant(name):
    plain = permuted_sequence(name, torch.arange(4))
    permuted = [
        permuted_sequence(name, perm)
        for perm in (torch.tensor([2, 0, 3, 1]), torch.tensor([3, 2, 1, 0]))
    ]
    if declares(name, "permutation_invariant"):
        for run in permuted:
            for a, b in zip(plain, run, strict=True):
                torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-8)
    else:
        assert min(cos(a, b) for run in permuted for a, b in zip(plain, run, strict=True)) < TURNED


# ---------------------------------------------------------------- every method, always
CASES = {
    "zero": torch.zeros(3, 4, dtype=F64),
    "tiny": seeded(3, 4, 1) * 1e-12,
    "huge": seeded(3, 4, 2) * 1e12,
    "duplicated": torch.tensor([[1.0, 2.0, 0.0, 1.0]] * 3, dtype=F64),
    "opposite": torch.tensor([[1.0, 0, 0, 0], [-1.0, 0, 0, 0], [0, 1.0, 0, 0]], dtype=F64),
    "mixed_scale": torch.tensor([[1e-8, 0, 1, 0], [0, 1e8, 0, 1], [3, 1, 0, 0]], dtype=F64),
}


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("case", CASES)
def test_finite_on_degenerate_gradients(name, case):
    g = CASES[case]
    c = make(name, 3)
    out = c(torch.tensor([1.0, 2.0, 3.0], dtype=F64), g if c.needs_grads else None)
    for t in (out.direction, out.weights, *out.info.values()):
        if t is not None:
            assert torch.isfinite(t).all(), (name, case)


@pytest.mark.parametrize("name", METHODS)
def test_state_dict_round_trip(name):
    a, b = make(name, 3), make(name, 3)
    g = torch.randn(3, 5, generator=torch.Generator().manual_seed(0))
    losses = torch.tensor([1.0, 2.0, 3.0])
    for _ in range(3):
        a(losses, g if a.needs_grads else None)
        a.after_step(losses * 0.9)
    b.load_state_dict(a.state_dict())
    oa, ob = a(losses, g if a.needs_grads else None), b(losses, g if b.needs_grads else None)
    for x, y in ((oa.direction, ob.direction), (oa.weights, ob.weights)):
        if x is not None:
            torch.testing.assert_close(x, y)


# ---------------------------------------------------------------- the README agrees
def readme() -> str:
    return (ROOT / "README.md").read_text()


def test_readme_property_table_is_the_declarations():
    text = readme()
    start = text.index("<!-- property-table -->") + len("<!-- property-table -->")
    end = text.index("<!-- /property-table -->")
    assert text[start:end].strip() == property_table()


def method_rows() -> dict[str, list[str]]:
    """The README's method table (from its header to the first blank line): name → cells."""
    lines = readme().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| `--method` | method |"))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows[cells[0].strip("`")] = cells
    return rows


def first_token(text: str) -> str:
    return re.split(r"[,:;)]| —", text, maxsplit=1)[0].strip().strip("`")


def test_readme_method_table_agrees_with_the_declarations():
    rows = method_rows()
    assert set(METHODS) <= set(rows)
    for name in METHODS:
        cls = REGISTRY[name]
        _, _, needs_g, options, invariant = rows[name][:5]
        assert needs_g.startswith("yes" if cls.needs_grads else "no"), name
        assert invariant.startswith("yes" if cls.scale_invariant else "no"), name
        listed = dict(re.findall(r"`(\w+)` \(([^()]*(?:\([^()]*\)[^()]*)*)\)", options))
        want = set(cls.options) | ({"actor"} if cls.actor_default else set())
        assert set(listed) == want, name
        defaults = make(name, 2)
        for key in cls.options:
            shown = listed[key]
            if key == "lr" and cls.lr_from_model:
                assert shown.startswith("the model's"), name
            elif cls.options[key].kind is str:
                assert first_token(shown) == getattr(defaults, key), (name, key)
            else:
                assert float(first_token(shown)) == getattr(defaults, key), (name, key)
        if cls.actor_default:
            assert first_token(listed["actor"]) == cls.actor_default
