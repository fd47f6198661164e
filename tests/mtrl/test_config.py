import dataclasses
import math
import os

import numpy as np
import pytest
import yaml

import envs
from agents.replay import MultiTaskReplay
from agents.sac import MultiTaskSAC, SACHyper
from mtrl import combine, memory
from mtrl.config import ConfigError, TrainConfig, build_config, load_yaml, to_dict, validate


def test_defaults_are_the_paper_protocol():
    cfg = TrainConfig()
    assert (cfg.benchmark, cfg.total_steps, cfg.batch_per_task) == ("mt10", 2_000_000, 128)
    assert cfg.hidden == [400, 400, 400] and cfg.eval_interval == 10_000
    r = validate(TrainConfig(device="cpu"))
    assert len(r.task_names) == 10 and r.transforms == {}


def test_flags_override_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"seed": 3, "method": "dibs", "hidden": [64], "actor_lr": 1}))
    cfg = build_config(load_yaml(path), {"seed": 7})
    assert (cfg.seed, cfg.method, cfg.hidden, cfg.actor_lr) == (7, "dibs", [64], 1.0)


def test_saved_config_round_trips(tmp_path):
    cfg = TrainConfig(method="dibs", transform=["task3:pow4"], hidden=[8, 8])
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(to_dict(cfg)))
    assert build_config(load_yaml(path)) == cfg


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope: 1", "unknown key 'nope'"),
        ("seed: abc", "option seed: 'abc' is not a valid int"),
        ("hidden: [a]", "option hidden"),
        ("- 1", "must be a mapping"),
        ("seed: [", "not valid YAML"),
    ],
)
def test_bad_files(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        build_config(load_yaml(path))


def test_missing_file():
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_yaml("/nonexistent/file.yaml")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("total_steps", 0, "--total-steps must be a positive integer"),
        ("batch_per_task", -1, "--batch-per-task must be a positive"),
        ("eval_episodes", 0, "--eval-episodes"),
        ("warmup_steps", -5, "--warmup-steps must be >= 0"),
        ("actor_lr", 0.0, "--actor-lr must be > 0"),
        ("gamma", 1.0, "--gamma"),
        ("tau", 0.0, "--tau"),
        ("hidden", [], "--hidden"),
        ("hidden", [64, 0], "--hidden"),
        ("vector", "threads", "unknown --vector"),
        ("method", "nope", "unknown method 'nope'; valid methods"),
        ("benchmark", "mt11", "unknown benchmark"),
        ("tasks", "reach-v3,nope", "unknown Meta-World task 'nope'"),
        ("transform", ["task12:exp"], "out of range"),
        ("device", "tpu", "unknown device"),
    ],
)
def test_validation_errors(field, value, message):
    with pytest.raises(ConfigError, match=message):
        validate(TrainConfig(**{"device": "cpu", field: value}))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("seed: 1  # café\n".encode("latin-1"), r"not UTF-8 text \(byte 0xe9 at offset 14\)"),
        (b"\xff\xfe", r"not UTF-8 text \(byte 0xff at offset 0\)"),
        (b"seed: 2020-13-45\n", "not valid YAML: month must be in 1..12"),
        (b"seed: " + b"9" * 5000 + b"\n", "not valid YAML: Exceeds the limit"),
        (b"[" * 3000 + b"]" * 3000, "not valid YAML"),
        (b"1: 2\nseed: 3\n", "unknown key 1;"),
        (b"actor_lr: " + b"1" * 400 + b"\n", "option actor_lr: 1111"),
        (b"hidden: [true]\n", r"option hidden: \[True\] is not a valid"),
        (b"hidden: " + b"x" * 400 + b"\n", r"option hidden: \['x{77}… is not a valid"),
    ],
    ids=[
        "latin-1",
        "utf-16 BOM",
        "bad date",
        "5000 digits",
        "deep",
        "int key",
        "huge",
        "bool",
        "long",
    ],
)
def test_bad_file_bytes(tmp_path, content, message):
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        build_config(load_yaml(path))


TWO = "reach-v3,drawer-close-v3"


@pytest.mark.parametrize(
    ("tasks", "goals", "top"),
    [
        ("reach-v3", "train", 2**32 - 1),
        (TWO, "train", 2**32 - 2),
        (TWO, "heldout", 2**32 - 2 - envs.HELDOUT_SEED_OFFSET),
    ],
)
def test_seeds_are_what_numpy_and_the_envs_take(tasks, goals, top):
    base = dict(device="cpu", tasks=tasks, eval_goals=goals)
    for good in (0, top):
        validate(TrainConfig(**base, seed=good))
    for bad in (-1, top + 1):
        with pytest.raises(ConfigError, match=rf"--seed must be in \[0, {top}\] .*, got {bad}$"):
            validate(TrainConfig(**base, seed=bad))


def test_the_largest_seed_builds_the_last_task_env_and_one_more_does_not():
    """The bound is the envs' own: task 1 of 2 is seeded seed + 1, below 2**32."""
    top = 2**32 - 2
    envs.make_task_env("drawer-close-v3", 1, 2, top, 10).close()
    with pytest.raises(ValueError, match="Seed must be between 0 and 2"):
        envs.make_task_env("drawer-close-v3", 1, 2, top + 1, 10)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_episode_steps", 501, "--max-episode-steps must be at most 500"),
        ("actor_lr", math.inf, "--actor-lr must be > 0 and finite"),
        ("alpha_lr", math.nan, "--alpha-lr must be > 0 and finite"),
        ("init_temperature", math.inf, "--init-temperature must be > 0 and finite"),
        ("run_name", "a/b", "--run-name must be one folder name"),
        ("run_name", "..", "--run-name must be one folder name"),
        ("logdir", "a\0b", "NUL"),
        ("logdir", "runs/" + "x" * 256, "longer than 255 bytes"),
        ("logdir", "/" + "x/" * 2000, "--logdir is too long"),
        ("method_options", {1: 2}, "bad options for method 'mean': 1 is not one of its"),
        ("method_options", {"critic_lr": 2}, "'critic_lr' is not one of its options"),
    ],
)
def test_more_validation_errors(field, value, message):
    with pytest.raises(ConfigError, match=message):
        validate(TrainConfig(**{"device": "cpu", "tasks": "reach-v3", field: value}))


def test_stl_takes_no_method_options():
    with pytest.raises(ConfigError, match="--method stl takes no method options, got 'eps'"):
        validate(TrainConfig(method="stl", method_options={"eps": 1}, device="cpu"))


def _need(cfg: TrainConfig) -> int:
    """The memory check's total for ``cfg`` (mean: no G)."""
    k = len(validate(dataclasses.replace(cfg, device="cpu")).task_names)
    capacity = min(cfg.buffer_size, cfg.total_steps)
    return memory.multitask_need(k, capacity, cfg.batch_per_task, cfg.hidden, False, False).total


@pytest.mark.parametrize(
    ("change", "option"),
    [
        (dict(buffer_size=10**7, total_steps=10**7), "--buffer-size"),
        (dict(batch_per_task=10**6), "--batch-per-task"),
        (dict(hidden=[20_000, 20_000]), "--hidden"),
    ],
)
def test_memory_check_names_the_option_to_lower(monkeypatch, change, option):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 2**30)
    cfg = TrainConfig(device="cpu", tasks="reach-v3", **change)
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    message = str(err.value)
    assert message.startswith("not enough memory on this machine: the run needs about ")
    assert message.endswith(f"1.0 GiB is available; lower {option}")


def test_memory_check_accepts_exactly_what_fits(monkeypatch):
    cfg = TrainConfig(device="cpu", tasks="reach-v3", batch_per_task=4096)
    need = _need(cfg)
    monkeypatch.setattr(memory, "available_bytes", lambda device: need)
    validate(cfg)
    monkeypatch.setattr(memory, "available_bytes", lambda device: need - 1)
    with pytest.raises(ConfigError, match="not enough memory"):
        validate(cfg)


def test_memory_check_counts_g_for_methods_that_need_it(monkeypatch):
    """dibs needs G [K, P] for actor and critic; mean does not: dibs is refused first."""
    cfg = TrainConfig(device="cpu", tasks=TWO, hidden=[1000, 1000], buffer_size=1000)
    need = _need(cfg)
    monkeypatch.setattr(memory, "available_bytes", lambda device: need)
    validate(cfg)
    with pytest.raises(ConfigError, match="lower --hidden"):
        validate(dataclasses.replace(cfg, method="dibs"))


def test_memory_estimates_match_the_real_buffers_and_networks():
    k, capacity, batch, hidden = 2, 50, 8, [16, 8]
    obs, act = envs.STATE_DIM + k, envs.ACTION_DIM
    replay = MultiTaskReplay(k, capacity, obs, act, "cpu")
    plain = memory.multitask_need(k, capacity, batch, hidden, False, False)
    tensors = (replay.obs, replay.next_obs, replay.act, replay.rew, replay.done)
    assert plain.replay == sum(t.nbytes for t in tensors)
    replay.add(
        *(np.zeros((k, n)) for n in (obs, act)), np.zeros(k), np.zeros((k, obs)), np.zeros(k)
    )
    sampled = sum(t.nbytes for t in replay.sample(batch))
    assert sampled < plain.batch
    agent = MultiTaskSAC(obs, act, k, SACHyper(hidden=tuple(hidden)), *combine.make_pair("mean", k))
    p_actor = sum(p.numel() for p in agent.actor.parameters())
    p_critic = sum(p.numel() for p in agent.critic.parameters())
    assert memory.mlp_params(obs, 2 * act, hidden) == p_actor
    assert 2 * memory.mlp_params(obs + act, 1, hidden) == p_critic
    # params, target critic, gradients, Adam's two moments
    assert plain.networks == 4 * (p_actor + 2 * p_critic + 3 * (p_actor + p_critic))
    both = memory.multitask_need(k, capacity, batch, hidden, True, True)
    assert both.networks - plain.networks == 4 * 2 * k * (p_actor + p_critic)


def test_stl_estimate_matches_a_stable_baselines3_buffer():
    from agents.stl import make_single_task_sac

    env = envs.make_task_env("reach-v3", 0, 1, 0, 10)
    model = make_single_task_sac(env, SACHyper(hidden=(8,)), 4, 30, 10, 1, 0, "cpu")
    buf = model.replay_buffer
    arrays = (buf.observations, buf.next_observations, buf.actions, buf.rewards, buf.dones)
    assert memory.stl_need(1, 30, 4, [8]).replay == sum(a.nbytes for a in (*arrays, buf.timeouts))
    env.close()


def test_host_memory_is_read_from_proc_meminfo():
    """In bytes (MemAvailable is in kB): more than a thousandth of the RAM, at most all of it."""
    free = memory.host_available_bytes()
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert free is None or physical / 1000 < free <= physical


def test_a_container_limit_caps_the_host_memory(monkeypatch):
    monkeypatch.setattr(memory, "_cgroup_free", lambda: 12345)
    assert memory.host_available_bytes() == 12345
