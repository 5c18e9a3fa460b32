"""More of the bad-input corpus, by class of mistake: one clear message, exit code 2, nothing touched.

Each class (a device this machine lacks, a negative or absurd number on the command line or in a
file, an output path of the wrong kind or on a file system that cannot be written, a problem file
that is not what it seems, a response profile out of range) has several members. Every case runs
through the bad-input test itself (tests/reliability_tests/test_bad_input.py), so the same
promise is checked the same way: exit code 2, the message, no traceback, nothing created or
changed in the work directory, the home directory, the toy zoo or the repository.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from planner.contracts import UserError
from tests import builders
from tests.reliability_tests import test_bad_input as bad_input
from tests.reliability_tests.fs_snapshot import mount_tmpfs
from tests.reliability_tests.test_bad_calibration import BAD_ACCURACIES
from tests.reliability_tests.test_bad_input import (
    NAME_RULE,
    PAPER_SCENARIO,
    PROBLEMS,
    Case,
    optim,
    options,
    plan_file,
    plan_scenario,
    problems_file,
    run_plan,
    scenario_named,
    set_labeled,
    validate_plan,
)

HUGE = 10**30
DEEP = 200_000  # far beyond Python's recursion limit


def run_with(tmp: Path, message: str, *extra: str) -> Case:
    """``s2d run`` of the tiny plan with extra options."""
    case = run_plan(tmp, message)
    case.argv += list(extra)
    return case


def scenario_path(tmp: Path, **changes) -> Path:
    path = tmp / "scenario.yaml"
    path.write_text(yaml.safe_dump({**PAPER_SCENARIO, **changes}))
    return path


def plan_with(tmp: Path, message: str, *extra: str) -> Case:
    """``s2d plan`` of the paper scenario with extra options."""
    argv = ["plan", str(scenario_path(tmp)), "--out", str(tmp / "plans"), "--trials", "2"]
    return Case([*argv, *extra], message)


def a_file(path: Path, text: str = "mine\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def a_dir(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "keep.txt").write_text("mine\n")
    return path


# ---- numbers on the command line ----------------------------------------------------------


def whole_from(low: int, got: str) -> str:
    return f"must be {low} or more (got {got})"


SEED_RANGE = "must be between 0 and 4294967295"


# ---- files ----------------------------------------------------------------------------------


def deep_json(value: str = "1") -> str:
    return "[" * DEEP + value + "]" * DEEP


def labeled(tmp: Path, message: str, name: str, data: bytes) -> Case:
    return run_plan(tmp, message, set_labeled(problems_file(tmp, name, data)))


def lines(*records: str) -> bytes:
    good = [json.dumps(p) for p in PROBLEMS[:3]]
    return ("\n".join([*good, *records]) + "\n").encode()


def saved_dataset(tmp: Path, info: str | None = None, state: str | None = None) -> str:
    """A directory as datasets' save_to_disk writes it, with dataset_info.json/state.json replaced."""
    import datasets

    path = tmp / "saved"
    datasets.Dataset.from_list(PROBLEMS).save_to_disk(str(path))
    if info is not None:
        (path / "dataset_info.json").write_text(info)
    if state is not None:
        (path / "state.json").write_text(state)
    return str(path)


def profile_text(tmp: Path, edit: Callable[[dict], None] | None = None, text: str | None = None):
    from planner.simulator.response import DEFAULT_PROFILE

    data = yaml.safe_load(DEFAULT_PROFILE.read_text())
    if edit is not None:
        edit(data)
    path = tmp / "profile.yaml"
    path.write_text(text if text is not None else yaml.safe_dump(data, sort_keys=False))
    return path


def plan_profile(
    tmp: Path, message: str, edit: Callable[[dict], None] | None = None, text: str | None = None
) -> Case:
    return plan_with(tmp, message, "--profile", str(profile_text(tmp, edit, text)))


def param(name: str, value) -> Callable[[dict], None]:
    return lambda d: d["params"][name].update(value=value)


def duplicate_profile_key(tmp: Path) -> Case:
    from planner.simulator.response import DEFAULT_PROFILE

    text = DEFAULT_PROFILE.read_text() + "name: other\n"
    first = bad_input.line_of(text, "name:")
    second = bad_input.line_of(text, "name:", 1)
    return plan_profile(tmp, f"key 'name' appears twice (lines {first} and {second})", text=text)


# ---- read-only locations ------------------------------------------------------------------

# A directory no one can create files in, even root: sysfs refuses new entries.
SYSFS = Path("/sys")


def read_only_mount(tmp: Path) -> tuple[Path, Callable[[], None]]:
    """An empty tmpfs mounted read-only at tmp/ro (skips where this process cannot mount)."""
    target = tmp / "ro"
    target.mkdir()
    try:
        return target, mount_tmpfs(target, "ro,size=64k")
    except BaseException:  # the skip: leave tmp as the case found it
        target.rmdir()
        raise


def on_read_only(tmp: Path, build: Callable[[Path], Case]) -> Case:
    ro, unmount = read_only_mount(tmp)
    try:
        case = build(ro)
    except BaseException:
        unmount()
        raise
    case.cleanup.append(unmount)
    return case


def sysfs_writable() -> bool:
    with contextlib.suppress(OSError):
        (SYSFS / "s2d-probe").mkdir()
        (SYSFS / "s2d-probe").rmdir()
        return True
    return False


CANNOT_WRITE = "cannot be written"


MISTAKES: dict[str, Callable[[Path, object], Case]] = {
    # ---- 1. a device this machine does not have
    "device-tpu": lambda t, z: run_with(
        t, "--device tpu:7: not a device (use one of: cpu", "--device", "tpu:7"
    ),
    "device-empty-index": lambda t, z: run_with(
        t, "--device cuda:: not a device (use one of: cpu", "--device", "cuda:"
    ),
    "device-cuda-index-beyond": lambda t, z: run_with(
        t, "--device cuda:99: ", "--device", "cuda:99"
    ),
    # ---- 2. numbers on the command line
    "save-every-negative": lambda t, z: run_with(
        t, f"argument --save-every: {whole_from(0, '-1')}", "--save-every", "-1"
    ),
    "save-every-fraction": lambda t, z: run_with(
        t, "argument --save-every: expected a whole number, got '1.5'", "--save-every", "1.5"
    ),
    "plan-seed-negative": lambda t, z: plan_with(
        t, f"argument --seed: {SEED_RANGE} (got -1)", "--seed", "-1"
    ),
    "plan-seed-beyond-32-bits": lambda t, z: plan_with(
        t, f"argument --seed: {SEED_RANGE} (got 4294967296)", "--seed", "4294967296"
    ),
    "plan-trials-zero": lambda t, z: plan_with(
        t, "argument --trials: must be between 1 and 100000000 (got 0)", "--trials", "0"
    ),
    "plan-trials-absurd": lambda t, z: plan_with(
        t, "argument --trials: must be between 1 and", "--trials", str(HUGE)
    ),
    "plan-workers-negative": lambda t, z: plan_with(
        t, "argument --workers: must be between 1 and", "--workers", "-2"
    ),
    "plan-workers-absurd": lambda t, z: plan_with(
        t, "argument --workers: must be between 1 and", "--workers", "100000"
    ),
    "toy-build-workers-zero": lambda t, z: Case(
        ["toy", "build", "--preset", "tiny", "--cache-dir", str(t / "c"), "--workers", "0"],
        "argument --workers: must be between 1 and",
    ),
    "toy-build-seed-negative": lambda t, z: Case(
        ["toy", "build", "--preset", "tiny", "--cache-dir", str(t / "c"), "--seed", "-3"],
        f"argument --seed: {SEED_RANGE} (got -3)",
    ),
    "toy-info-seed-negative": lambda t, z: Case(
        ["toy", "info", "--preset", "tiny", "--cache-dir", str(t / "c"), "--seed", "-3"],
        f"argument --seed: {SEED_RANGE} (got -3)",
    ),
    "demo-labels-negative": lambda t, z: Case(
        ["demo", "--preset", "tiny", "--no-tui", "--labels", "-5"],
        "argument --labels: must be between 1 and",
    ),
    "demo-seed-negative": lambda t, z: Case(
        ["demo", "--preset", "tiny", "--no-tui", "--seed", "-1"],
        f"argument --seed: {SEED_RANGE} (got -1)",
    ),
    "demo-budget-nan": lambda t, z: Case(
        ["demo", "--preset", "tiny", "--no-tui", "--budget", "nan"],
        "argument --budget: must be a positive, finite number (got 'nan')",
    ),
    "demo-budget-negative": lambda t, z: Case(
        ["demo", "--preset", "tiny", "--no-tui", "--budget", "-1"],
        "argument --budget: must be a positive, finite number (got '-1')",
    ),
    "watch-interval-nan": lambda t, z: Case(
        ["watch", str(t / "run"), "--no-follow", "--interval", "nan"],
        "argument --interval: must be a positive, finite number (got 'nan')",
    ),
    # ---- 3. an output path of the wrong kind
    "calibrate-out-is-a-directory": lambda t, z: Case(
        [
            "calibrate",
            str(a_dir(t / "runs" / "r1")),
            "--scenario",
            str(scenario_path(t)),
            "--out",
            str(a_dir(t / "profiles")),
        ],
        f"--out {t / 'profiles'} is a directory",
    ),
    "calibrate-out-under-a-file": lambda t, z: Case(
        [
            "calibrate",
            str(a_dir(t / "runs" / "r1")),
            "--scenario",
            str(scenario_path(t)),
            "--out",
            str(a_file(t / "notes") / "profile.yaml"),
        ],
        f"--out {t / 'notes' / 'profile.yaml'}: {t / 'notes'} is a file, not a directory",
    ),
    "toy-build-cache-dir-is-a-file": lambda t, z: Case(
        ["toy", "build", "--preset", "tiny", "--cache-dir", str(a_file(t / "cache"))],
        f"--cache-dir {t / 'cache'} is a file, not a directory",
    ),
    "toy-info-cache-dir-is-a-file": lambda t, z: Case(
        ["toy", "info", "--preset", "tiny", "--cache-dir", str(a_file(t / "cache"))],
        f"--cache-dir {t / 'cache'} is a file, not a directory",
    ),
    "plan-out-is-a-file": lambda t, z: Case(
        ["plan", str(scenario_path(t)), "--trials", "2", "--out", str(a_file(t / "plans"))],
        f"--out {t / 'plans'} is a file, not a directory",
    ),
    "plan-storage-is-a-directory": lambda t, z: plan_with(
        t,
        f"storage file {t / 'store'} is a directory",
        "--storage",
        f"journal:{a_dir(t / 'store')}",
    ),
    "run-dir-is-a-file": lambda t, z: run_with(
        t,
        f"--run-dir {t / 'taken'} is a file, not a directory",
        "--run-dir",
        str(a_file(t / "taken")),
    ),
    "run-dir-under-a-file": lambda t, z: run_with(
        t,
        f"{t / 'taken'} is a file, not a directory",
        "--run-dir",
        str(a_file(t / "taken") / "run"),
    ),
    "demo-out-is-a-file": lambda t, z: Case(
        ["demo", "--preset", "tiny", "--no-tui", "--out", str(a_file(t / "demo"))],
        f"--out {t / 'demo'} is a file, not a directory",
    ),
    "demo-cache-dir-is-a-file": lambda t, z: Case(
        ["demo", "--preset", "tiny", "--no-tui", "--cache-dir", str(a_file(t / "cache"))],
        f"--cache-dir {t / 'cache'} is a file, not a directory",
    ),
    "watch-screenshot-is-a-directory": lambda t, z: Case(
        ["watch", str(a_dir(t / "run")), "--screenshot", str(a_dir(t / "shot.svg"))],
        f"--screenshot {t / 'shot.svg'} is a directory",
    ),
    "explore-out-is-a-file": lambda t, z: Case(
        ["explore", str(t / "plans"), "--out", str(a_file(t / "chosen"))],
        f"--out {t / 'chosen'} is a file, not a directory",
    ),
    # ---- 4. integers far beyond any real run
    "plan-labels-10**30": lambda t, z: run_plan(
        t,
        f"labels.pool: must be between 0 and 1000000000 (got {HUGE})",
        lambda d: d["labels"].update(pool=HUGE, stage1=HUGE),
    ),
    "plan-steps-10**30": lambda t, z: run_plan(
        t,
        f"stages[0].budget.steps: must be between 1 and 10000000 (got {HUGE})",
        lambda d: d["stages"][0]["budget"].update(steps=HUGE),
    ),
    "plan-max-new-tokens-10**30": lambda t, z: run_plan(
        t,
        "stages[2].budget.max_new_tokens: must be between 1 and 10000000",
        lambda d: d["stages"][2]["budget"].update(max_new_tokens=HUGE),
    ),
    "plan-samples-10**30": lambda t, z: run_plan(
        t,
        "stages[0].budget.samples_per_prompt: must be between 1 and",
        lambda d: d["stages"][0]["budget"].update(samples_per_prompt=HUGE),
    ),
    "plan-eval-k-10**30": lambda t, z: run_plan(
        t, "evaluation.k: must be between 1 and", lambda d: d["evaluation"].update(k=HUGE)
    ),
    "plan-chunk-tokens-10**30": lambda t, z: run_plan(
        t, "stages[1].options.chunk_tokens: must be between 1 and", options(1, chunk_tokens=HUGE)
    ),
    "plan-accumulation-10**30": lambda t, z: run_plan(
        t,
        "stages[3].optim.gradient_accumulation_steps: must be between 1 and",
        optim(3, gradient_accumulation_steps=HUGE),
    ),
    "plan-labels-5000-digits": lambda t, z: run_plan(
        t,
        "a number of 5000 digits",
        text=yaml.safe_dump(builders.plan_dict(name="bad-input"), sort_keys=False).replace(
            "pool: 40", "pool: " + "9" * 5000
        ),
    ),
    "scenario-labels-10**30": lambda t, z: plan_scenario(
        t, f"labels: must be between 0 and 1000000000 (got {HUGE})", labels=HUGE
    ),
    "scenario-prompts-10**30": lambda t, z: plan_scenario(
        t, "prompts: must be between 0 and 1000000000", prompts=HUGE
    ),
    "scenario-device-count-10**30": lambda t, z: plan_scenario(
        t,
        "hardware.count: must be between 1 and",
        hardware={**PAPER_SCENARIO["hardware"], "count": HUGE},
    ),
    "scenario-max-new-tokens-10**30": lambda t, z: plan_scenario(
        t,
        "settings.teacher_rl.max_new_tokens: must be between 1 and 10000000",
        settings={"teacher_rl": {"max_new_tokens": HUGE}},
    ),
    # ---- 5. names beyond 128 characters, and path names beyond the file system's
    "plan-name-300-chars": lambda t, z: validate_plan(
        t, f"name: {NAME_RULE} (got 'aaaa", lambda d: d.update(name="a" * 300)
    ),
    "plan-name-300-chars-run": lambda t, z: run_plan(
        t, "use up to 128 letters", lambda d: d.update(name="a" * 300)
    ),
    "scenario-name-300-chars": lambda t, z: scenario_named(t, "use up to 128 letters", "s" * 300),
    "run-dir-name-300-chars": lambda t, z: run_with(
        t, "is 300 characters long; names can be at most 255", "--run-dir", str(t / ("r" * 300))
    ),
    "plan-out-name-300-chars": lambda t, z: plan_with(
        t, "is 300 characters long; names can be at most 255", "--out", str(t / ("p" * 300))
    ),
    # ---- 6. problem files that are not what they seem
    "data-nested-200000-deep": lambda t, z: labeled(
        t, "line 4: nested too deeply", "deep.jsonl", lines(deep_json())
    ),
    "data-answer-nested-200000-deep": lambda t, z: labeled(
        t,
        "line 4: nested too deeply",
        "deep.jsonl",
        lines('{"problem": "1+1?", "answer": ' + deep_json() + "}"),
    ),
    "data-json-array-nested-200000-deep": lambda t, z: labeled(
        t, "nested too deeply", "deep.json", ("[" + deep_json() + "]").encode()
    ),
    "plan-json-nested-200000-deep": lambda t, z: run_plan(
        t, "nested too deeply", text='{"name": "x", "seed": ' + deep_json() + "}"
    ),
    "scenario-json-nested-200000-deep": lambda t, z: bad_input.scenario_text(
        t, "nested too deeply", '{"kind": "scenario", "labels": ' + deep_json() + "}"
    ),
    "data-lone-surrogate-in-problem": lambda t, z: labeled(
        t,
        "line 4: 'problem' holds a lone surrogate (\\ud800)",
        "surrogate.jsonl",
        lines('{"problem": "\\ud800 what is 1+1?", "answer": "1"}'),
    ),
    "data-lone-surrogate-in-answer": lambda t, z: labeled(
        t,
        "line 4: 'answer' holds a lone surrogate (\\udfff)",
        "surrogate.jsonl",
        lines('{"problem": "what is 1+1?", "answer": "2\\udfff"}'),
    ),
    "data-answer-list": lambda t, z: labeled(
        t,
        "line 4: 'answer' must be text or a number, got a list ([1, 2])",
        "answers.jsonl",
        lines('{"problem": "Name two numbers.", "answer": [1, 2]}'),
    ),
    "data-answer-dict": lambda t, z: labeled(
        t,
        "line 4: 'answer' must be text or a number, got a mapping ({'a': 1})",
        "answers.jsonl",
        lines('{"problem": "Name a number.", "answer": {"a": 1}}'),
    ),
    "data-answer-bool": lambda t, z: labeled(
        t,
        "line 4: 'answer' must be text or a number, got true or false (True)",
        "answers.jsonl",
        lines('{"problem": "Is 2 prime?", "answer": true}'),
    ),
    "data-answer-nan": lambda t, z: labeled(
        t,
        "line 4: 'answer' must be text or a number, got nan",
        "answers.jsonl",
        lines('{"problem": "What is 0/0?", "answer": NaN}'),
    ),
    "data-answer-null": lambda t, z: labeled(
        t, "line 4: no answer", "answers.jsonl", lines('{"problem": "What?", "answer": null}')
    ),
    "data-answer-5000-digits": lambda t, z: labeled(
        t,
        "line 4: a number of 5000 digits",
        "answers.jsonl",
        lines('{"problem": "Count.", "answer": ' + "7" * 5000 + "}"),
    ),
    "data-ground-truth-list": lambda t, z: labeled(
        t,
        "line 4: 'reward_model.ground_truth' must be text or a number, got a list",
        "chat.jsonl",
        lines(
            '{"prompt": [{"role": "user", "content": "Two numbers?"}], '
            '"reward_model": {"ground_truth": ["1", "2"]}}'
        ),
    ),
    "data-conflicting-duplicate": lambda t, z: labeled(
        t,
        "lines 2 and 4 hold the same problem with different answers ('3' and '4')",
        "dup.jsonl",
        lines('{"problem": "What is  1 + 2?", "answer": "4"}'),
    ),
    "data-conflicting-duplicate-json-array": lambda t, z: labeled(
        t,
        "records 1 and 2 hold the same problem with different answers ('1' and '2')",
        "dup.json",
        b'[{"problem": "x?", "answer": "1"}, {"problem": "X?", "answer": "2"}]',
    ),
    "dataset-dir-garbage-info": lambda t, z: run_plan(
        t,
        "is not a readable saved dataset (dataset_info.json: ",
        set_labeled(saved_dataset(t, info="garbage{")),
    ),
    "dataset-dir-info-a-list": lambda t, z: run_plan(
        t, "is not a readable saved dataset", set_labeled(saved_dataset(t, info="[1, 2]"))
    ),
    "dataset-dir-garbage-state": lambda t, z: run_plan(
        t, "is not a readable saved dataset", set_labeled(saved_dataset(t, state='{"x": 1}'))
    ),
    # ---- 8. response profiles
    "profile-duplicate-key": lambda t, z: duplicate_profile_key(t),
    "profile-nan": lambda t, z: plan_profile(
        t,
        "params.teacher_rl_gain.value: must be a finite number (got nan)",
        param("teacher_rl_gain", float("nan")),
    ),
    "profile-negative-label-half": lambda t, z: plan_profile(
        t,
        "params.teacher_label_half.value: must be positive (got -5.0)",
        param("teacher_label_half", -5),
    ),
    "profile-fraction-above-one": lambda t, z: plan_profile(
        t,
        "params.replay_fraction.value: must be between 0 and 1 (got 5.0)",
        param("replay_fraction", 5),
    ),
    "profile-value-text": lambda t, z: plan_profile(
        t, "params.rl_exponent.value: expected a number, got 'steep'", param("rl_exponent", "steep")
    ),
    "profile-infinite-hardware-override": lambda t, z: plan_profile(
        t,
        "hardware_overrides.train_mfu: must be a finite number (got inf)",
        lambda d: d.update(hardware_overrides={"train_mfu": float("inf")}),
    ),
    "profile-zero-benchmark-scale": lambda t, z: plan_profile(
        t,
        "benchmark_rl_scale.math: must be positive (got 0.0)",
        lambda d: d.update(benchmark_rl_scale={"math": 0}),
    ),
    "profile-nested-200000-deep": lambda t, z: plan_profile(
        t, "nested too deeply", text='{"name": ' + deep_json() + "}"
    ),
    "simulate-profile-nan": lambda t, z: Case(
        [
            "simulate",
            str(plan_file(t)),
            "--scenario",
            str(scenario_path(t)),
            "--profile",
            str(profile_text(t, param("sd_base", float("nan")))),
        ],
        "params.sd_base.value: must be a finite number (got nan)",
    ),
    # ---- 9. storage and outputs where nothing can be written
    "journal-in-sysfs": lambda t, z: plan_with(
        t,
        f"{SYSFS / 's2d.journal'}: {SYSFS} {CANNOT_WRITE}",
        "--storage",
        "journal:/sys/s2d.journal",
    ),
    "journal-under-sysfs": lambda t, z: plan_with(
        t, f"{SYSFS} {CANNOT_WRITE}", "--storage", "journal:/sys/s2d/study.journal"
    ),
    "sqlite-in-sysfs": lambda t, z: plan_with(
        t, f"{SYSFS} {CANNOT_WRITE}", "--storage", "sqlite:////sys/s2d.db"
    ),
    "journal-on-read-only-mount": lambda t, z: on_read_only(
        t,
        lambda ro: plan_with(
            t,
            f"{ro} {CANNOT_WRITE} (Read-only file system)",
            "--storage",
            f"journal:{ro / 'study.journal'}",
        ),
    ),
    "plan-out-on-read-only-mount": lambda t, z: on_read_only(
        t,
        lambda ro: Case(
            ["plan", str(scenario_path(t)), "--trials", "2", "--out", str(ro / "plans")],
            f"{ro} {CANNOT_WRITE} (Read-only file system)",
        ),
    ),
    "calibrate-out-on-read-only-mount": lambda t, z: on_read_only(
        t,
        lambda ro: Case(
            [
                "calibrate",
                str(a_dir(t / "runs" / "r1")),
                "--scenario",
                str(scenario_path(t)),
                "--out",
                str(ro / "profile.yaml"),
            ],
            f"{ro} {CANNOT_WRITE} (Read-only file system)",
        ),
    ),
    "run-dir-on-read-only-mount": lambda t, z: on_read_only(
        t,
        lambda ro: run_with(
            t, f"{ro} {CANNOT_WRITE} (Read-only file system)", "--run-dir", str(ro / "run")
        ),
    ),
    "toy-cache-on-read-only-mount": lambda t, z: on_read_only(
        t,
        lambda ro: Case(
            ["toy", "build", "--preset", "tiny", "--cache-dir", str(ro / "cache")],
            f"{ro} {CANNOT_WRITE} (Read-only file system)",
        ),
    ),
}


@pytest.mark.parametrize("name", list(MISTAKES))
def test_a_user_mistake_is_refused_with_one_message_and_touches_nothing(
    name, zoo_env, tmp_path, monkeypatch, cli
):
    if "sysfs" in name and sysfs_writable():
        pytest.skip("this machine lets /sys take new files")
    monkeypatch.setitem(bad_input.CASES, name, MISTAKES[name])
    bad_input.test_bad_input_is_refused_with_one_message_and_touches_nothing(
        name, zoo_env, tmp_path, monkeypatch, cli
    )


def test_cuda_without_a_gpu_is_refused_before_any_work(zoo_env, tmp_path, monkeypatch, cli):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    monkeypatch.setitem(
        bad_input.CASES,
        "device-cuda",
        lambda t, z: run_with(t, "--device cuda: no CUDA GPU is visible here", "--device", "cuda"),
    )
    bad_input.test_bad_input_is_refused_with_one_message_and_touches_nothing(
        "device-cuda", zoo_env, tmp_path, monkeypatch, cli
    )


def test_device_check_names_the_devices_there_are(monkeypatch):
    import torch

    from s2d.commands.run import check_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    for ok in ("cpu", "cuda", "cuda:0", "cuda:1"):
        assert check_device(ok) == ok
    with pytest.raises(
        UserError, match=r"--device cuda:2: .*use one of: cpu, cuda, cuda:0, cuda:1"
    ):
        check_device("cuda:2")
    with pytest.raises(UserError, match=r"use one of: cpu, cuda, cuda:0, cuda:1"):
        check_device("tpu:7")


def test_zero_save_every_keeps_its_meaning():
    from s2d.cli import build_parser

    args = build_parser().parse_args(["run", "plan.yaml", "--save-every", "0"])
    assert args.save_every == 0


def test_identical_duplicates_are_still_dropped_silently(tmp_path):
    from trainer.data import load_problems, split_pool

    path = tmp_path / "dup.jsonl"
    path.write_text(lines('{"problem": "What is  1 + 2?", "answer": " 3 "}').decode())
    problems = load_problems(path)
    assert len(problems) == 4
    assert len(split_pool(problems, 3, 0, 0, seed=0).stage1) == 3


def test_a_prompt_pool_may_carry_any_answers(tmp_path):
    from trainer.data import load_problems

    path = tmp_path / "prompts.jsonl"
    path.write_text(lines('{"problem": "Two numbers?", "answer": [1, 2]}').decode())
    assert load_problems(path, require_answers=False)[-1].answer is None


@pytest.mark.parametrize(
    ("name", "raw", "shown"), BAD_ACCURACIES, ids=[b[0] for b in BAD_ACCURACIES]
)
def test_cross_validation_refuses_an_accuracy_outside_0_to_1(name, raw, shown, tmp_path):
    from planner.calibrate.crossval import measured_rows
    from tests.planner_tests.plans_for_tests import comparison

    comparison(tmp_path / "c0")
    events = tmp_path / "c0" / "workflow" / "events.jsonl"
    rows = events.read_text().splitlines()
    for i, line in enumerate(rows):
        e = json.loads(line)
        if e["kind"] == "eval" and e.get("stage") == "opd":
            e["accuracy"] = "@"
            rows[i] = json.dumps(e).replace('"@"', raw)
    events.write_text("\n".join(rows) + "\n")
    with pytest.raises(UserError) as caught:
        measured_rows(tmp_path / "c0", "toy")
    for part in (str(tmp_path / "c0" / "workflow"), "'opd'", "'toy'", f"accuracy {shown}"):
        assert part in str(caught.value)


def test_a_dry_run_checks_a_plan_meant_for_another_machine(zoo_env, tmp_path, cli):
    """No GPU here and a run directory that cannot be written: a dry run writes and runs nothing."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    plan = builders.write_plan(tmp_path / "plan.yaml", name="elsewhere")
    result = cli("run", str(plan), "--dry-run", "--device", "cuda", "--run-dir", "/sys/s2d-run")
    assert result.code == 0, result.err
    assert "dry run: nothing was loaded or trained" in result.out
