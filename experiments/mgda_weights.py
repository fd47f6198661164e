"""The task weights of ``mgda`` (each normalisation) and ``mgda-ub`` on one real SAC batch.

Random-init MultiTaskSAC (MT10 shapes by default: hidden 400×3, 128 transitions per
task), a replay batch from ``--env-steps`` uniformly random actions in each Meta-World
task (``--synthetic``: Gaussian observations with one-hot task ids instead, no envs),
then for the critic and the actor loss: the per-task losses, the norms of the per-task
parameter gradients ‖gᵢ‖ and representation gradients ‖∇_Z Lᵢ‖, and the weights.
Prints a markdown table per loss.

    python experiments/mgda_weights.py --env-steps 300 > weights.md
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from agents.replay import Batch
from agents.sac import MultiTaskSAC, SACHyper
from mtrl import combine
from mtrl.combine.mgda import NORMALIZATIONS
from mtrl.grads import per_task_grads, representation_sq_norms


def synthetic_batch(k: int, b: int, obs_dim: int, act_dim: int, seed: int) -> Batch:
    """Gaussian observations whose last K entries are the one-hot task id; random rewards."""
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(k, b, obs_dim, generator=g)
    obs[..., -k:] = torch.eye(k)[:, None, :]
    next_obs = obs.clone()
    next_obs[..., :-k] += 0.05 * torch.randn(k, b, obs_dim - k, generator=g)
    return Batch(
        obs,
        torch.rand(k, b, act_dim, generator=g) * 2 - 1,
        torch.rand(k, b, generator=g) * torch.logspace(-1, 1, k)[:, None],
        next_obs,
        torch.zeros(k, b),
    )


def env_batch(tasks: Sequence[str], steps: int, b: int, seed: int) -> Batch:
    """``b`` transitions per task drawn from ``steps`` uniformly random actions in each task."""
    from envs.metaworld_envs import make_vector_env

    env = make_vector_env(list(tasks), seed, vector="sync")
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    rows: list[tuple[np.ndarray, ...]] = []
    for _ in range(steps):
        act = rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
        nxt, rew, term, trunc, info = env.step(act)
        real_next = nxt.copy()
        for i in np.flatnonzero(term | trunc):
            real_next[i] = info["final_obs"][i]
        rows.append((obs, act, rew, real_next, term.astype(np.float32)))
        obs = nxt
    env.close()
    o, a, r, n, d = (np.stack(x, axis=1) for x in zip(*rows, strict=True))  # [K, steps, …]
    idx = rng.integers(0, steps, size=b)
    return Batch(*(torch.as_tensor(x[:, idx], dtype=torch.float32) for x in (o, a, r, n, d)))


def actor_rep(agent: MultiTaskSAC, batch: Batch, noise: Tensor) -> tuple[Tensor, list[Tensor]]:
    """The actor's losses and its representation Z, as ``combined_backward`` takes them."""
    losses, _, z = agent.actor_losses_with_representation(batch, noise)
    return losses, [z]


def measure(agent: MultiTaskSAC, batch: Batch) -> dict[str, dict[str, Tensor]]:
    """For ``critic`` and ``actor``: losses, gradient norms and every method's weights."""
    k = agent.num_tasks
    target = agent.td_target(batch)
    noise = torch.randn(batch.act.shape, generator=torch.Generator().manual_seed(0))
    parts = {
        "critic": (
            lambda p: agent.critic_losses(batch, p, target),
            lambda: agent.critic_losses_with_representation(batch, target),
            agent.critic_params,
        ),
        "actor": (
            lambda p: agent.actor_losses(batch, p, noise)[0],
            lambda: actor_rep(agent, batch, noise),
            agent.actor_params,
        ),
    }
    result = {}
    for key, (loss_fn, rep_fn, params) in parts.items():
        losses, grads = per_task_grads(loss_fn, params, k)
        rep_losses, reps = rep_fn()
        sq = representation_sq_norms(rep_losses, reps).detach()
        row = {"loss": losses, "‖gᵢ‖": grads.norm(dim=1), "‖∇_Z Lᵢ‖": sq.sqrt()}
        for n in NORMALIZATIONS:
            row[f"mgda {n}"] = combine.make("mgda", k, normalization=n)(losses, grads).weights
        for n in NORMALIZATIONS:
            out = combine.make("mgda-ub", k, normalization=n)(rep_losses.detach(), sq)
            row[f"mgda-ub {n}"] = out.weights
        result[key] = {name: v.detach().double() for name, v in row.items()}
    return result


def table(rows: dict[str, Tensor], tasks: Sequence[str]) -> str:
    """Markdown: one row per quantity, one column per task."""
    lines = ["| | " + " | ".join(tasks) + " |", "|---" * (len(tasks) + 1) + "|"]
    for name, v in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{x:.3g}" for x in v.tolist()) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="mt10", help="mt10 or a comma-separated list")
    parser.add_argument("--hidden", type=int, nargs="+", default=[400, 400, 400])
    parser.add_argument("--batch", type=int, default=128, help="transitions per task")
    parser.add_argument("--env-steps", type=int, default=300, help="random steps per task")
    parser.add_argument("--synthetic", action="store_true", help="no envs: Gaussian obs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    if args.synthetic:
        k = 10 if args.tasks == "mt10" else len(args.tasks.split(","))
        tasks = [f"task{i}" for i in range(k)]
        batch = synthetic_batch(k, args.batch, 39 + k, 4, args.seed)
    else:
        from envs.metaworld_envs import resolve_tasks

        tasks = resolve_tasks("mt10", None if args.tasks == "mt10" else args.tasks)
        batch = env_batch(tasks, args.env_steps, args.batch, args.seed)
    k = len(tasks)
    mean = [combine.make("mean", k) for _ in range(2)]
    obs_dim, act_dim = batch.obs.shape[-1], batch.act.shape[-1]
    agent = MultiTaskSAC(obs_dim, act_dim, k, SACHyper(hidden=tuple(args.hidden)), *mean)
    for key, rows in measure(agent, batch).items():
        print(f"\n### {key} loss\n")
        print(table(rows, tasks))


if __name__ == "__main__":
    main()
