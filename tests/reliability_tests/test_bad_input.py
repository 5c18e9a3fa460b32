"""The bad-input corpus: every user mistake costs one clear message, exit code 2, and nothing else.

Each case builds its inputs in tmp_path and runs the real CLI in-process from there. Beyond the
exit code and the message, a refusal must not print a traceback and must not create, change or
remove any file: not in tmp_path (so a refused ``s2d run`` leaves an existing run directory
byte for byte as it was, and creates none), not in the home directory (pointed into tmp_path),
not in the toy zoo, and not in the repository.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests import builders
from tests.reliability_tests.fs_snapshot import REPO, tree_diff, tree_state

PAPER_SCENARIO = yaml.safe_load((REPO / "examples" / "paper_scenario.yaml").read_text())

# Stands in for the problem files a user brings (valid JSON lines, 40 problems).
PROBLEMS = [{"problem": f"What is {i} + {i + 1}?", "answer": str(2 * i + 1)} for i in range(40)]


@dataclass
class Case:
    argv: list[str]
    message: str  # a fragment the refusal must contain
    cleanup: list[Callable[[], None]] = field(default_factory=list)


def plan_file(
    tmp: Path, edit: Callable[[dict], None] | None = None, text: str | None = None
) -> Path:
    # The tiny four-stage workflow: teacher_rl, warmup, opd, student_rl (stages[0] to stages[3]).
    data = builders.plan_dict(name="bad-input")
    if edit is not None:
        edit(data)
    path = tmp / "plan.yaml"
    path.write_text(text if text is not None else yaml.safe_dump(data, sort_keys=False))
    return path


def run_plan(
    tmp: Path, message: str, edit: Callable[[dict], None] | None = None, text: str | None = None
) -> Case:
    return Case(
        ["run", str(plan_file(tmp, edit, text)), "--run-dir", str(tmp / "run"), "--quiet"], message
    )


def plan_bytes(tmp: Path, message: str, data: bytes) -> Case:
    path = tmp / "plan.yaml"
    path.write_bytes(data)
    return Case(["run", str(path), "--run-dir", str(tmp / "run"), "--quiet"], message)


def scenario_text(tmp: Path, message: str, text: str) -> Case:
    path = tmp / "scenario.yaml"
    path.write_text(text)
    return Case(["plan", str(path), "--out", str(tmp / "plans")], message)


def empty_dir(path: Path) -> str:
    path.mkdir()
    return str(path)


def plan_scenario(tmp: Path, message: str, **changes) -> Case:
    path = tmp / "scenario.yaml"
    path.write_text(yaml.safe_dump({**PAPER_SCENARIO, **changes}))
    return Case(["plan", str(path), "--out", str(tmp / "plans"), "--trials", "2"], message)


def problems_file(tmp: Path, name: str, data: bytes | None = None) -> str:
    path = tmp / name
    path.write_bytes(
        data if data is not None else "".join(json.dumps(p) + "\n" for p in PROBLEMS).encode()
    )
    return str(path)


def other_teacher(tmp: Path, zoo, edit: Callable[[dict, dict], None]) -> str:
    """A copy of the zoo's teacher with its tokenizer (and config) edited."""
    teacher = tmp / "teacher"
    shutil.copytree(zoo.model_dir("s"), teacher)
    tok = json.loads((teacher / "tokenizer.json").read_text())
    config = json.loads((teacher / "config.json").read_text())
    edit(tok, config)
    (teacher / "tokenizer.json").write_text(json.dumps(tok))
    (teacher / "config.json").write_text(json.dumps(config))
    return str(teacher)


def grow_vocabulary(tok: dict, config: dict) -> None:
    vocab = tok["model"]["vocab"]
    for word in ("lemma", "proof", "qed"):
        vocab[word] = max(max(vocab.values()), config["vocab_size"] - 1) + 1
    config["vocab_size"] = max(vocab.values()) + 1


def swap_two_tokens(tok: dict, config: dict) -> None:
    vocab = tok["model"]["vocab"]
    vocab["7"], vocab["8"] = vocab["8"], vocab["7"]


def set_teacher(path: str) -> Callable[[dict], None]:
    return lambda d: d["teacher"].update(path=path)


def set_labeled(path: str, eval_path: str | None = None) -> Callable[[dict], None]:
    def edit(d: dict) -> None:
        d["datasets"]["labeled"] = path
        if eval_path is not None:
            d["datasets"]["eval"] = [{"name": "mine", "path": eval_path}]

    return edit


def existing_run(tmp: Path, steps: int = 2) -> Path:
    """A run directory from an earlier attempt: frozen plan, events, a finished stage."""
    run = tmp / "run"
    (run / "stages" / "teacher_rl" / "model").mkdir(parents=True)
    stages = [
        builders.teacher_rl(),
        builders.warmup(steps=steps),
        builders.opd(),
        builders.student_rl(),
    ]
    builders.write_plan(run / "plan.yaml", name="bad-input", stages=stages)
    (run / "events.jsonl").write_text(
        '{"v":1,"seq":0,"t":1.0,"kind":"run_start","plan":"bad-input"}\n'
    )
    (run / "stages" / "teacher_rl" / "DONE.json").write_text(
        '{"stage": "teacher_rl", "status": "ok"}'
    )
    (run / "stages" / "teacher_rl" / "model" / "config.json").write_text("{}")
    (run / ".lock").write_text("4242")  # left by the earlier, finished writer
    return run


def live_writer(tmp: Path, zoo) -> Case:
    run = existing_run(tmp)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from trainer.run_guard import RunLock; from pathlib import Path\n"
            "lock = RunLock(Path(sys.argv[1])); lock.acquire(); print('held', flush=True); sys.stdin.read()",
            str(run),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"

    def release() -> None:
        holder.kill()
        holder.wait(timeout=30)

    case = run_plan(tmp, f"is being written by another live `s2d run` (pid {holder.pid})")
    case.cleanup.append(release)
    return case


def other_plan(tmp: Path, zoo) -> Case:
    existing_run(tmp, steps=3)
    return run_plan(
        tmp, "already holds a different plan (stages[1].budget.steps: 3 in the run, 2 given)"
    )


def validate_plan(tmp: Path, message: str, edit: Callable[[dict], None]) -> Case:
    return Case(["validate", str(plan_file(tmp, edit))], message)


def plan_text() -> str:
    return yaml.safe_dump(builders.plan_dict(name="bad-input"), sort_keys=False)


def line_of(text: str, fragment: str, nth: int = 0) -> int:
    """1-based line of the nth occurrence of fragment at the start of a line."""
    lines = [i + 1 for i, line in enumerate(text.splitlines()) if line.startswith(fragment)]
    return lines[nth]


def duplicate_top_level_key(tmp: Path) -> Case:
    text = plan_text() + "name: other\n"
    first, second = line_of(text, "name:"), line_of(text, "name:", 1)
    return run_plan(tmp, f"key 'name' appears twice (lines {first} and {second})", text=text)


def duplicate_nested_key(tmp: Path) -> Case:
    text = plan_text().replace("    steps: 2\n", "    steps: 2\n    steps: 3\n", 1)
    first, second = line_of(text, "    steps:"), line_of(text, "    steps:", 1)
    return run_plan(tmp, f"key 'steps' appears twice (lines {first} and {second})", text=text)


def duplicate_scenario_key(tmp: Path) -> Case:
    text = yaml.safe_dump(PAPER_SCENARIO, sort_keys=False) + "labels: 100\n"
    first, second = line_of(text, "labels:"), line_of(text, "labels:", 1)
    return scenario_text(tmp, f"key 'labels' appears twice (lines {first} and {second})", text)


def alias_bomb(tmp: Path) -> Case:
    """Nine levels of nine-fold aliases: a 2 KB plan whose seed expands to 9**6 strings."""
    rows = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    rows += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 6)]
    text = plan_text().replace("name: bad-input\n", "name: bad-input\nseed: *a5\n")
    return run_plan(
        tmp, "seed: expected a whole number, got [[[", text="\n".join(rows) + "\n" + text
    )


def scenario_named(tmp: Path, message: str, name: str) -> Case:
    """A scenario planned without --out, so its name picks the output directory."""
    path = tmp / "scenario.yaml"
    path.write_text(yaml.safe_dump({**PAPER_SCENARIO, "name": name}))
    return Case(["plan", str(path), "--trials", "2"], message)


def storage_file(tmp: Path, message: str, scheme: str, name: str, data: bytes) -> Case:
    """A user's own file handed to --storage: it must be refused and left byte for byte."""
    target = tmp / name
    target.write_bytes(data)
    url = f"journal:{target}" if scheme == "journal" else f"sqlite:///{target}"
    path = tmp / "scenario.yaml"
    path.write_text(yaml.safe_dump(PAPER_SCENARIO))
    argv = ["plan", str(path), "--out", str(tmp / "plans"), "--trials", "2", "--storage", url]
    return Case(argv, f"{target} {message}")


def optim(stage: int, **values) -> Callable[[dict], None]:
    return lambda d: d["stages"][stage].setdefault("optim", {}).update(values)


def options(stage: int, **values) -> Callable[[dict], None]:
    return lambda d: d["stages"][stage].setdefault("options", {}).update(values)


NAME_RULE = "not a usable name"
NOT_JOURNAL = "exists and is not an Optuna journal"
NOT_SQLITE = "exists and is not an SQLite database"


CASES: dict[str, Callable[[Path, object], Case]] = {
    "malformed-yaml": lambda t, z: run_plan(
        t, "is not valid YAML at line 3, column 5", text="name: x\nstages: [unclosed\n    {id: a\n"
    ),
    "plan-not-a-mapping": lambda t, z: run_plan(
        t, "expected a mapping at the top level", text="- just\n- a list\n"
    ),
    "plan-file-missing": lambda t, z: Case(
        ["run", str(t / "nope.yaml"), "--quiet"],
        "plan file " + str(t / "nope.yaml") + " does not exist",
    ),
    "plan-not-utf8": lambda t, z: plan_bytes(t, "is not UTF-8 text", b"name: caf\xe9\n"),
    "unknown-stage-kind": lambda t, z: run_plan(
        t,
        "stages[1].kind: unknown value 'distill' (use one of: grpo, forward_kl, opd, eval)",
        lambda d: d["stages"][1].update(kind="distill"),
    ),
    "unknown-extraction-rule": lambda t, z: run_plan(
        t,
        "verifier.extraction: unknown value 'first_boxed' (did you mean 'last_boxed'? use one of: last_boxed, all_boxed)",
        lambda d: d.update(verifier={"extraction": "first_boxed"}),
    ),
    "labels-beyond-pool": lambda t, z: run_plan(
        t,
        "stage1 (30) + stage3 (20) = 50 labels, beyond the pool of 40",
        lambda d: d["labels"].update(stage1=30, stage3=20),
    ),
    "labels-beyond-data": lambda t, z: run_plan(
        t,
        "the plan asks for stage1 + stage3 = 30 + 20 = 50",
        lambda d: (
            d["labels"].update(pool=50, stage1=30, stage3=20),
            set_labeled(problems_file(t, "p.jsonl"))(d),
        ),
    ),
    "stage-reads-labels-not-given": lambda t, z: run_plan(
        t,
        "stages[3].data: reads labels.stage3, but labels.stage3 allocates no labels",
        lambda d: d["labels"].update(stage3=0),
    ),
    "negative-labels": lambda t, z: run_plan(
        t, "labels.stage1: must not be negative (got -3)", lambda d: d["labels"].update(stage1=-3)
    ),
    "zero-step-budget": lambda t, z: run_plan(
        t,
        "stages[0].budget.steps: must be positive (got 0)",
        lambda d: d["stages"][0]["budget"].update(steps=0),
    ),
    "negative-token-budget": lambda t, z: run_plan(
        t,
        "stages[2].budget.max_new_tokens: must be positive (got -12)",
        lambda d: d["stages"][2]["budget"].update(max_new_tokens=-12),
    ),
    "teacher-other-vocabulary": lambda t, z: run_plan(
        t, "vocabulary sizes differ", set_teacher(other_teacher(t, z, grow_vocabulary))
    ),
    "teacher-same-size-other-tokens": lambda t, z: run_plan(
        t, "token tables differ at 2 id(s)", set_teacher(other_teacher(t, z, swap_two_tokens))
    ),
    "missing-model-directory": lambda t, z: run_plan(
        t,
        f"model directory {t / 'no-such-model'} does not exist",
        set_teacher(str(t / "no-such-model")),
    ),
    "model-directory-without-config": lambda t, z: run_plan(
        t, "has no config.json", set_teacher(empty_dir(t / "empty-model"))
    ),
    "data-not-utf8": lambda t, z: run_plan(
        t,
        "line 2: not UTF-8 (byte 0xe9",
        set_labeled(
            problems_file(
                t,
                "latin1.jsonl",
                b'{"problem": "1+1?", "answer": "2"}\n{"problem": "caf\xe9?", "answer": "1"}\n',
            )
        ),
    ),
    "data-empty": lambda t, z: run_plan(
        t, "empty.jsonl is empty", set_labeled(problems_file(t, "empty.jsonl", b""))
    ),
    "data-missing": lambda t, z: run_plan(
        t,
        "Problem file " + str(t / "gone.jsonl") + " does not exist",
        set_labeled(str(t / "gone.jsonl")),
    ),
    "data-not-json": lambda t, z: run_plan(
        t,
        "line 2: not a JSON object",
        set_labeled(
            problems_file(t, "broken.jsonl", b'{"problem": "1+1?", "answer": "2"}\n{"problem": \n')
        ),
    ),
    "eval-overlaps-training-labels": lambda t, z: run_plan(
        t,
        "(40 loaded, 40 also in an eval set",
        set_labeled(problems_file(t, "pool.jsonl"), eval_path=problems_file(t, "eval.jsonl")),
    ),
    "scenario-malformed-yaml": lambda t, z: scenario_text(
        t, "is not valid YAML at line 3", "kind: scenario\nbudget: {gpu_hours: 1\n"
    ),
    "infeasible-budget": lambda t, z: plan_scenario(
        t, "is below the cheapest feasible plan", budget={"gpu_hours": 0.001}
    ),
    "zero-budget": lambda t, z: plan_scenario(
        t, "budget.gpu_hours: must be positive (got 0", budget={"gpu_hours": 0}
    ),
    "negative-budget": lambda t, z: plan_scenario(
        t, "budget.gpu_hours: must be positive (got -5", budget={"gpu_hours": -5}
    ),
    "negative-labels-in-scenario": lambda t, z: plan_scenario(
        t, "labels: must not be negative (got -1)", labels=-1
    ),
    "duplicate-key-in-plan": lambda t, z: duplicate_top_level_key(t),
    "duplicate-nested-key-in-plan": lambda t, z: duplicate_nested_key(t),
    "duplicate-key-in-scenario": lambda t, z: duplicate_scenario_key(t),
    "nan-learning-rate": lambda t, z: run_plan(
        t,
        "stages[0].optim.learning_rate: must be a finite number (got nan)",
        optim(0, learning_rate=float("nan")),
    ),
    "infinite-temperature": lambda t, z: run_plan(
        t,
        "stages[0].options.temperature: must be a finite number (got inf)",
        options(0, temperature=float("inf")),
    ),
    "zero-temperature": lambda t, z: run_plan(
        t,
        "stages[2].options.temperature: must be positive (got 0.0)",
        options(2, temperature=0),
    ),
    "zero-eval-k": lambda t, z: run_plan(
        t, "evaluation.k: must be positive (got 0)", lambda d: d["evaluation"].update(k=0)
    ),
    "zero-chunk-tokens": lambda t, z: run_plan(
        t, "stages[1].options.chunk_tokens: must be positive (got 0)", options(1, chunk_tokens=0)
    ),
    "zero-gradient-accumulation": lambda t, z: run_plan(
        t,
        "stages[3].optim.gradient_accumulation_steps: must be positive (got 0)",
        optim(3, gradient_accumulation_steps=0),
    ),
    "unknown-lr-scheduler": lambda t, z: run_plan(
        t,
        "stages[0].optim.lr_scheduler: unknown value 'cosine_decay'",
        optim(0, lr_scheduler="cosine_decay"),
    ),
    "seed-beyond-32-bits": lambda t, z: run_plan(
        t, "seed: must be between 0 and 4294967295 (got 4294967296)", lambda d: d.update(seed=2**32)
    ),
    "negative-split-seed": lambda t, z: run_plan(
        t,
        "labels.seed: must be between 0 and 4294967295 (got -1)",
        lambda d: d["labels"].update(seed=-1),
    ),
    "alias-bomb-in-plan": lambda t, z: alias_bomb(t),
    "huge-stage-kind": lambda t, z: run_plan(
        t,
        "stages[1].kind: unknown value 'xxxxx",
        lambda d: d["stages"][1].update(kind="x" * 1_000_000),
    ),
    "nan-budget": lambda t, z: plan_scenario(
        t, "budget.gpu_hours: must be a finite number (got nan)", budget={"gpu_hours": float("nan")}
    ),
    "infinite-budget": lambda t, z: plan_scenario(
        t, "budget.gpu_hours: must be a finite number (got inf)", budget={"gpu_hours": float("inf")}
    ),
    "negative-scenario-seed": lambda t, z: plan_scenario(
        t, "seed: must be between 0 and 4294967295 (got -1)", seed=-1
    ),
    "negative-scenario-learning-rate": lambda t, z: plan_scenario(
        t,
        "settings.teacher_rl.learning_rate: must be positive (got -1e-06)",
        settings={"teacher_rl": {"learning_rate": -1e-6}},
    ),
    "scenario-name-absolute-path": lambda t, z: scenario_named(t, NAME_RULE, str(t / "elsewhere")),
    "scenario-name-dot-dot": lambda t, z: scenario_named(t, f"name: {NAME_RULE} (got '..')", ".."),
    "scenario-name-with-separator": lambda t, z: scenario_named(t, NAME_RULE, "team/study"),
    "scenario-name-empty": lambda t, z: scenario_named(t, f"name: {NAME_RULE} (got '')", ""),
    "plan-name-dot-dot": lambda t, z: validate_plan(
        t, f"name: {NAME_RULE} (got '..')", lambda d: d.update(name="..")
    ),
    "plan-name-absolute-path": lambda t, z: validate_plan(
        t, NAME_RULE, lambda d: d.update(name=str(t / "elsewhere"))
    ),
    "journal-storage-is-a-text-file": lambda t, z: storage_file(
        t, NOT_JOURNAL, "journal", "notes.txt", b"remember the milk"
    ),
    "journal-storage-is-one-json-line": lambda t, z: storage_file(
        t, NOT_JOURNAL, "journal", "settings.json", b'{"theme": "dark"}'
    ),
    "journal-storage-is-a-json-document": lambda t, z: storage_file(
        t, NOT_JOURNAL, "journal", "settings.json", b'{\n  "theme": "dark"\n}\n'
    ),
    "sqlite-storage-is-a-json-file": lambda t, z: storage_file(
        t, NOT_SQLITE, "sqlite", "settings.json", b'{"theme": "dark"}\n'
    ),
    "sqlite-storage-is-a-text-line": lambda t, z: storage_file(
        t, NOT_SQLITE, "sqlite", "notes.txt", b"remember the milk"
    ),
    "run-dir-held-by-a-live-run": live_writer,
    "run-dir-holds-another-plan": other_plan,
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_refused_with_one_message_and_touches_nothing(
    name, zoo_env, tmp_path, monkeypatch, cli
):
    assert_refused(CASES[name], zoo_env, tmp_path, monkeypatch, cli)


def assert_refused(make: Callable[[Path, object], Case], zoo_env, tmp_path, monkeypatch, cli):
    """Build the case in tmp_path/work, run it, and check the refusal: exit 2, its one message,
    no traceback, and no file created, changed or removed anywhere it could write. Returns
    what the command printed."""
    work = tmp_path / "work"
    work.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("HF_HOME", str(home / ".cache" / "huggingface"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    case = make(work, zoo_env)
    try:
        mine, zoo = tree_state(tmp_path), tree_state(zoo_env.root)
        data_dirs = {d: tree_state(REPO / d) for d in ("examples", "planner/profiles")}
        repo = tree_state(REPO, contents=False)

        result = cli(*case.argv)

        assert result.code == 2, result.out + result.err
        assert case.message in result.err, result.err
        assert "Traceback" not in result.err + result.out
        assert len(result.err) < 4000  # quoted values are excerpts, never whole
        assert result.err.startswith(f"s2d {case.argv[0]}: error: ")
        assert tree_diff(mine, tree_state(tmp_path)) == []
        assert tree_diff(zoo, tree_state(zoo_env.root)) == []
        assert {d: tree_diff(s, tree_state(REPO / d)) for d, s in data_dirs.items()} == {
            d: [] for d in data_dirs
        }
        assert tree_diff(repo, tree_state(REPO, contents=False)) == []
        return result
    finally:
        for release in case.cleanup:
            release()


def test_the_scheduler_names_are_the_ones_transformers_knows():
    import typing

    from transformers.trainer_utils import SchedulerType

    from planner.contracts.plan import LRScheduler

    assert set(typing.get_args(LRScheduler)) == {s.value for s in SchedulerType}


def test_an_empty_or_journal_file_is_accepted_as_storage(tmp_path):
    from planner.search.storage import open_storage

    empty = tmp_path / "empty.journal"
    empty.write_bytes(b"")
    open_storage(f"journal:{empty}")
    open_storage(f"journal:{tmp_path / 'new.journal'}")
    fresh = tmp_path / "fresh.db"
    open_storage(f"sqlite:///{fresh}")
    open_storage(f"sqlite:///{fresh}")  # an SQLite database it made: opened again
