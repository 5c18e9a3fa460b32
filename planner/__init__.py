"""The planner and the contracts every package shares (no torch, no textual).

The data path, one sub-package per step:

- :mod:`planner.contracts`: what crosses package lines: the plan, the run
  directory, the run log and its event payloads, the stage kinds, errors.
- :mod:`planner.scenario`: what the user plans for: models, data sizes,
  hardware and budget, read from a scenario YAML.
- :mod:`planner.simulator`: predicted accuracy and cost of allocations and of
  written plans (the cost and response models).
- :mod:`planner.search`: ``s2d plan``: the Optuna search over allocations,
  the emitted plans, their storage.
- :mod:`planner.calibrate`: ``s2d calibrate``: refit the simulator to measured
  runs, and check it out of sample.

trainer/ and tui/ import these packages' public names (their ``__all__``),
never a module inside them.
"""
