import pytest
import yaml

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
