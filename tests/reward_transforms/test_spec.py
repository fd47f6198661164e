import pytest

from envs import BENCHMARKS
from reward_transforms import describe, parse_transform, parse_transforms

MT10 = list(BENCHMARKS["mt10"])


def test_index_and_name_forms():
    i, fn = parse_transform("task3:pow4", MT10)
    assert (i, fn.name) == (3, "pow4")
    i, fn = parse_transform("window-open-v3:exp", MT10)
    assert (i, fn.name) == (MT10.index("window-open-v3"), "exp")
    i, fn = parse_transform("task0:affine(1000,0)", MT10)
    assert (i, fn.name, fn.args) == (0, "affine", (1000.0, 0.0))


def test_several_and_describe_round_trip():
    parsed = parse_transforms(["task3:pow4", "task0:affine(2, 1)"], MT10)
    assert describe(parsed) == ["task0:affine(2,1)", "task3:pow4"]
    assert describe(parse_transforms(describe(parsed), MT10)) == describe(parsed)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("task10:pow4", "task index 10 is out of range"),
        ("task99:exp", "out of range"),
        ("open-door:exp", "unknown task 'open-door'"),
        ("task3:pow5", "unknown reward map 'pow5'; valid maps"),
        ("task3", "is not TASK:MAP"),
        (":pow4", "is not TASK:MAP"),
        ("task3:", "is not TASK:MAP"),
        ("task3:affine(1)", "takes 2 arguments, got 1"),
        ("task3:affine(x,1)", "'x' of affine is not a number"),
        ("task3:affine(-1,0)", "a > 0"),
        ("task3:affine(inf,0)", "not finite"),
        ("task3:pow4(", "cannot read map"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_transforms([spec], MT10)


def test_same_task_twice_is_an_error_even_by_two_names():
    with pytest.raises(ValueError, match="already has transform pow4"):
        parse_transforms(["task3:pow4", "door-open-v3:exp"], MT10)
