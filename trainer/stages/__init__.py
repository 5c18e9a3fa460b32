"""One module per stage kind: grpo, forward_kl, opd, evaluate.

Each training kind's entry in planner.contracts.kinds names its runner here
(``trainer.stages.<kind>:run_<kind>``); evaluation is run by the executor.
"""


class StageInterrupted(Exception):
    """The user asked to stop (Ctrl-C); a checkpoint was written at the step boundary."""
