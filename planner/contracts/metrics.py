"""The metric names a run logs and the UI charts: one table, read by both sides.

A ``metrics`` event's ``values`` are what the stage's TRL trainer logged at that
step, plus the throughput the trainer derives from its spend meter. Each stage
kind names the metrics its charts show (``charts`` in
planner/contracts/kinds/); every name a stage may log is either in
:data:`METRICS` (chartable, with its label) or in :data:`NOT_CHARTED` with the
reason, and a contract test runs a real plan to hold both sides to it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    key: str  # the name in a metrics event's values
    label: str  # the chart's title
    about: str


METRICS: dict[str, Metric] = {
    m.key: m
    for m in (
        Metric("reward", "reward", "mean verifier reward of the step's samples (weighted sum)"),
        Metric("loss", "loss", "the stage's training loss (forward KL in the soft warmup)"),
        Metric("kl", "KL to reference", "GRPO's KL to the reference model, logged when beta > 0"),
        Metric("opd/reverse_kl", "reverse KL", "KL(student || teacher) on the student's samples"),
        Metric("entropy", "entropy", "mean per-token entropy of the policy on its samples"),
        Metric("completions/mean_length", "completion length", "mean generated tokens"),
        Metric(
            "completions/clipped_ratio",
            "truncated",
            "share of completions cut at max_new_tokens",
        ),
        Metric("clip_ratio/region_mean", "clip ratio", "share of tokens the PPO clip bounded"),
        Metric("grad_norm", "grad norm", "gradient norm before clipping"),
        Metric(
            "throughput/generated_tokens_per_s",
            "generated tokens/s",
            "tokens sampled per wall second since the previous log",
        ),
        Metric(
            "throughput/trained_tokens_per_s",
            "trained tokens/s",
            "tokens trained on per wall second since the previous log",
        ),
    )
}

# Logged, and deliberately not charted.
NOT_CHARTED: dict[str, str] = {
    "train/examples_per_step": "the plan's batch, constant by design: a check, read from the log",
    "epoch": "a step counter in another unit; the x axis already is the step",
    "learning_rate": "set by the plan's schedule, not measured",
    "num_tokens": "cumulative; the stage's spend bars show tokens against plan",
    "step_time": "the throughput charts show the same per token",
    "reward_std": "the spread of rewards; the group-level signal is frac_reward_zero_std",
    "frac_reward_zero_std": "diagnostic of GRPO groups, read from the log when needed",
    "completions/min_length": "the mean length is charted",
    "completions/max_length": "the mean length is charted",
    "completions/mean_terminated_length": "the mean length is charted",
    "completions/min_terminated_length": "the mean length is charted",
    "completions/max_terminated_length": "the mean length is charted",
    "clip_ratio/low_mean": "the region mean is charted",
    "clip_ratio/low_min": "the region mean is charted",
    "clip_ratio/high_mean": "the region mean is charted",
    "clip_ratio/high_max": "the region mean is charted",
    "rollout_prompts": "the warmup's teacher-rollout progress, shown as the stage's progress",
    "rollout_total": "the warmup's teacher-rollout progress, shown as the stage's progress",
}
# Progress of a phase that is not training steps, logged as metrics values: (done, total)
# value names -> the phase. (An eval's progress has its own event kind, ``progress``.)
PROGRESS: dict[tuple[str, str], str] = {
    ("rollout_prompts", "rollout_total"): "teacher rollouts",
}
# Families named per reward function (``rewards/<function>/mean`` and ``/std``).
NOT_CHARTED_PREFIXES: dict[str, str] = {
    "rewards/": "one per reward function; their weighted sum is charted as reward",
}


def label(key: str) -> str:
    return METRICS[key].label if key in METRICS else key


def why_not_charted(key: str) -> str | None:
    """The reason a logged metric has no chart, or None when it is chartable or unknown."""
    if key in NOT_CHARTED:
        return NOT_CHARTED[key]
    return next((why for p, why in NOT_CHARTED_PREFIXES.items() if key.startswith(p)), None)
