"""The ``s2d`` console command: composition of planner/, trainer/ and tui/."""

__version__ = "0.1.0"
