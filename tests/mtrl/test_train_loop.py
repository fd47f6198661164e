"""The multi-task loop's state: what ``LoopState.to_checkpoint`` writes, ``from_checkpoint``
puts back, into a run built from another seed (the exact-resume runs: tests/test_resume.py)."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import torch

from mtrl.config import validate
from mtrl.trainer import LoopState, MultiTaskRun, build_run, sac_hyper, seed_everything, store


def _run(tiny, tmp_path, seed: int) -> MultiTaskRun:
    cfg = tiny(seed=seed, max_episode_steps=30)
    seed_everything(seed)
    return build_run(cfg, validate(cfg), tmp_path / f"run{seed}", sac_hyper(cfg), [])


def _advance(run: MultiTaskRun, state: LoopState, steps: int) -> None:
    """Random steps into the replay, one update, global RNG draws: a state unlike a fresh one."""
    obs, _ = run.env.reset()
    for _ in range(steps):
        action = run.env.action_space.sample()
        next_obs, reward, terminated, truncated, info = run.env.step(action)
        done = np.asarray(terminated) | np.asarray(truncated)
        store(run.replay, obs, action, reward, next_obs, terminated, done, info)
        state.ep_raw += info["raw_reward"]
        state.ep_transformed += reward
        obs = next_obs
    run.agent.update(run.replay.sample(8))
    random.random(), np.random.rand(), torch.rand(2)
    state.step, state.last_success = steps, 0.5


def test_a_checkpoint_restored_into_another_run_reads_back_the_same(tiny, tmp_path, same_state):
    a = _run(tiny, tmp_path, seed=0)
    state = LoopState.start(a)
    _advance(a, state, steps=30)  # an episode boundary: the returns are kept
    state.eval_rng = a.eval_env.call("get_checkpoint")
    saved = state.to_checkpoint(a)

    b = _run(tiny, tmp_path, seed=7)
    notes: list[str] = []
    restored = LoopState.from_checkpoint(saved, b, notes)
    assert notes == []
    assert dataclasses.asdict(restored).keys() == dataclasses.asdict(state).keys()
    assert same_state(dataclasses.asdict(restored), dataclasses.asdict(state))
    again = restored.to_checkpoint(b)
    for key in saved.keys() - {"config"}:  # b's config has its own seed
        assert same_state(again[key], saved[key]), key
    # the envs themselves (not only the state's copies) are back at the saved RNG states
    assert same_state(b.env.call("get_checkpoint"), saved["env_rng"])
    assert same_state(b.eval_env.call("get_checkpoint"), saved["eval_rng"])
    a.close()
    b.close()


def test_a_mid_episode_checkpoint_restarts_the_episodes(tiny, tmp_path):
    a = _run(tiny, tmp_path, seed=0)
    state = LoopState.start(a)
    _advance(a, state, steps=20)
    saved = state.to_checkpoint(a)
    assert not saved["at_boundary"] and saved["ep_raw"].any()

    b = _run(tiny, tmp_path, seed=7)
    notes: list[str] = []
    restored = LoopState.from_checkpoint(saved, b, notes)
    assert notes == ["step 20 was mid-episode: the envs restart that episode"]
    assert restored.step == 20 and not restored.ep_raw.any() and not restored.ep_transformed.any()
    a.close()
    b.close()
