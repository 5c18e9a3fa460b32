"""The TRL config class of each stage, and a stage's ``trl:`` block checked against it.

The plan side (planner.contracts.trl_block) refuses names the plan's own
fields set; here, before any work, every other name must be a field of the
stage's real TRL config class (an unknown one gets a did-you-mean), the class
must accept the values (its own ``__post_init__`` checks run), and every
``report_to`` integration must be installed. Stages build their config with
:func:`trl_config`, which merges the block last.
"""

from __future__ import annotations

import dataclasses
import difflib
import tempfile
from typing import Any

from planner.contracts import OPDOptions, Plan, Stage, UserError


def config_class(stage: Stage) -> type | None:
    """The TRL config class ``stage`` trains with; None for stages that train nothing."""
    import trl

    if stage.kind == "grpo":
        return trl.GRPOConfig
    if stage.kind == "forward_kl":
        return trl.SFTConfig
    if stage.kind == "opd":
        sampled = stage.options_as(OPDOptions).estimator == "sampled"
        return trl.GRPOConfig if sampled else trl.DistillationConfig
    return None


def trl_config(stage: Stage, cls: type, kwargs: dict[str, Any]) -> Any:
    """``cls(**kwargs)`` with the stage's ``trl:`` block merged over ``kwargs``."""
    expected = config_class(stage)
    if cls is not expected:  # the check before the run looked at ``expected``'s fields
        raise TypeError(f"stage {stage.id} builds a {cls.__name__}, not its {expected}")
    return cls(**{**kwargs, **stage.trl})


def _reporting_problems(block: dict[str, Any]) -> list[str]:
    from transformers.integrations import get_available_reporting_integrations

    wanted = block.get("report_to")
    names = [wanted] if isinstance(wanted, str) else wanted if isinstance(wanted, list) else []
    available = set(get_available_reporting_integrations())
    missing = [n for n in names if n not in ("none", "all") and n not in available]
    return [
        f"report_to {n!r} needs its package installed (`pip install {n}`)"
        + ("" if n in _KNOWN_REPORTERS else f"; known integrations: {', '.join(_KNOWN_REPORTERS)}")
        for n in missing
    ]


_KNOWN_REPORTERS = ("tensorboard", "wandb", "trackio", "mlflow", "comet_ml", "clearml", "none")


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def trl_problems(plan: Plan) -> list[str]:
    """Every problem of every stage's ``trl:`` block, each naming the field and the fix."""
    problems: list[str] = []
    for i, stage in enumerate(plan.stages):
        if not stage.trl:
            continue
        cls = config_class(stage)
        if cls is None:
            continue  # refused when the plan was loaded
        at = f"stages[{i}].trl"
        known = [f.name for f in dataclasses.fields(cls) if f.init]
        unknown = [name for name in stage.trl if name not in known]
        for name in unknown:
            close = difflib.get_close_matches(name[:200], known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(
                f"{at}.{_short(name, 80)}: {cls.__name__} has no such setting; {hint}"
                f"see the {cls.__name__} reference in TRL's documentation"
            )
        if unknown:
            continue
        problems += [f"{at}: {p}" for p in _reporting_problems(stage.trl)]
        with tempfile.TemporaryDirectory() as scratch:
            try:
                cls(output_dir=scratch, use_cpu=True, **stage.trl)
            except (TypeError, ValueError) as e:
                problems.append(f"{at}: {cls.__name__} refused it: {_short(str(e), 300)}")
    return problems


def check_trl(plan: Plan) -> None:
    problems = trl_problems(plan)
    if problems:
        raise UserError("the plan's TRL settings cannot be used:\n  " + "\n  ".join(problems))
