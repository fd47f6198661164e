"""How far Nash-MTL's practical settings drift from its scale-invariant bargaining direction.

Solved exactly, Nash-MTL's direction does not change when one task's gradient is
multiplied by a positive factor s (its weight becomes αᵢ/s). Two practical settings
break that: reusing weights for several steps (``update_weights_every > 1``: a factor that
appears between solves is not compensated), and the paper's CCP solver with few
iterations (``solver="ccp"``, ``optim_niter``). For random gradients (K tasks, 64
dimensions), task 0 scaled by s, this prints the cosine between each setting's direction
and the exact direction, mean and minimum over the draws.

    python experiments/nash_drift.py [--tasks 3 10] [--draws 20]
"""

from __future__ import annotations

import argparse

import torch

from mtrl.combine import make

SCALES = (1.0, 1e1, 1e2, 1e3, 1e5)


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine similarity of two vectors."""
    return float(a @ b / (a.norm() * b.norm()))


def stale_cosines(k: int, scale: float, draws: int) -> list[float]:
    """Weights solved on G, reused after task 0's gradient is scaled by ``scale``."""
    out = []
    for seed in range(draws):
        g = torch.randn(k, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        stale = make("nashmtl", k, update_weights_every=10)
        stale(torch.ones(k, dtype=torch.float64), g)
        scaled = g.clone()
        scaled[0] *= scale
        reused = stale(torch.ones(k, dtype=torch.float64), scaled).direction
        exact = make("nashmtl", k)(torch.ones(k, dtype=torch.float64), scaled).direction
        out.append(cosine(reused, exact))
    return out


def ccp_cosines(k: int, scale: float, iters: int, draws: int) -> list[float]:
    """The CCP solver with ``iters`` iterations against the exact solver, task 0 scaled."""
    out = []
    for seed in range(draws):
        g = torch.randn(k, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        g[0] *= scale
        ones = torch.ones(k, dtype=torch.float64)
        ccp = make("nashmtl", k, solver="ccp", optim_niter=iters)(ones, g).direction
        exact = make("nashmtl", k)(ones, g).direction
        out.append(cosine(ccp, exact))
    return out


def main(argv: list[str] | None = None) -> None:
    """Print the two tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, nargs="+", default=[3, 10])
    parser.add_argument("--draws", type=int, default=20)
    a = parser.parse_args(argv)
    head = "| K | setting | " + " | ".join(f"s = {s:g}" for s in SCALES) + " |"
    print(head)
    print("|" + "---|" * (len(SCALES) + 2))
    for k in a.tasks:
        rows = [("update_weights_every=10", lambda s, k=k: stale_cosines(k, s, a.draws))]
        for iters in (1, 5, 20):
            rows.append(
                (f"ccp, optim_niter={iters}", lambda s, k=k, i=iters: ccp_cosines(k, s, i, a.draws))
            )
        for name, fn in rows:
            cells = []
            for s in SCALES:
                c = fn(s)
                cells.append(f"{sum(c) / len(c):.3f} (min {min(c):.3f})")
            print(f"| {k} | {name} | " + " | ".join(cells) + " |")
    print(f"\ncosine to the exact direction, mean (min) over {a.draws} draws")


if __name__ == "__main__":
    main()
