"""One module per stage kind: grpo, forward_kl, opd, evaluate."""


class StageInterrupted(Exception):
    """The user asked to stop (Ctrl-C); a checkpoint was written at the step boundary."""
