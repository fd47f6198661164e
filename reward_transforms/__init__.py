"""Monotonic reward maps, the ``TASK:MAP`` spec parser and the per-task reward wrapper."""

from reward_transforms.maps import MAP_NAMES, RewardMap, make_map
from reward_transforms.spec import describe, label, parse_transform, parse_transforms
from reward_transforms.wrapper import NonFiniteReward, RewardTransform, TaskRewardTransform

__all__ = [
    "MAP_NAMES",
    "NonFiniteReward",
    "RewardMap",
    "RewardTransform",
    "TaskRewardTransform",
    "describe",
    "label",
    "make_map",
    "parse_transform",
    "parse_transforms",
]
