"""mtrl: multi-task SAC on Meta-World with a gradient-combination layer."""

__version__ = "0.1.0"
