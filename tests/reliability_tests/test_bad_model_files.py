"""Broken model directories and prompts beyond a model's context: one clear message, exit 2, no work.

The plan's models (student and teacher; local paths and ``toy:`` names) are checked before any
work: config.json whole and with sensible values, the tokenizer files loadable, the weights
whole (headers only; nothing is loaded). Every prompt the run will feed a model, with the chat
template the trainer applies, plus the max new tokens of each stage or eval that reads it, must
fit the model's context (``max_position_embeddings``). ``s2d run`` and ``s2d run --dry-run``
refuse alike, listing every problem they find, and leave every file as it was (the harness of
test_bad_input.py).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import builders
from tests.realworld_tests import conftest as realworld
from tests.reliability_tests.test_bad_input import Case, assert_refused, plan_file

qwen_world = realworld.qwen_world  # the realistic world's session fixture, here too

SIZE = {"student": "xs", "teacher": "s"}  # the tiny workflow's models in the toy zoo


def run_case(tmp: Path, message: str, edit: Callable[[dict], None], dry: bool) -> Case:
    argv = ["run", str(plan_file(tmp, edit)), "--run-dir", str(tmp / "run"), "--quiet"]
    return Case(argv + (["--dry-run"] if dry else []), message)


def broken_model(tmp: Path, zoo, role: str, damage: Callable[[Path], None]) -> Path:
    """A copy of the toy zoo's student or teacher, damaged."""
    model = tmp / f"my-{role}"
    shutil.copytree(zoo.model_dir(SIZE[role]), model)
    damage(model)
    return model


def set_model(role: str, path: Path | str) -> Callable[[dict], None]:
    return lambda d: d[role].update(path=str(path))


# ---- ways a model directory breaks -------------------------------------------------------


def truncated(name: str) -> Callable[[Path], None]:
    def damage(model: Path) -> None:
        data = (model / name).read_bytes()
        (model / name).write_bytes(data[: len(data) // 2])

    return damage


def random_bytes(name: str) -> Callable[[Path], None]:
    def damage(model: Path) -> None:
        (model / name).write_bytes(os.urandom(3000).replace(b"{", b"x"))

    return damage


def config_value(key: str, value: object) -> Callable[[Path], None]:
    def damage(model: Path) -> None:
        config = json.loads((model / "config.json").read_text())
        if value is KeyError:
            config.pop(key)
        else:
            config[key] = value
        (model / "config.json").write_text(json.dumps(config, indent=2))

    return damage


def missing_shard(model: Path) -> None:
    """A sharded save whose index names a second shard that is not there."""
    (model / "model.safetensors").rename(model / "model-00001-of-00002.safetensors")
    header = json.loads(
        (model / "model-00001-of-00002.safetensors").read_bytes()[8:].split(b"}}", 1)[0] + b"}}"
    )
    names = [k for k in header if k != "__metadata__"]
    weight_map = {n: "model-00001-of-00002.safetensors" for n in names}
    weight_map["lm_head.extra"] = "model-00002-of-00002.safetensors"
    index = {"metadata": {"total_size": 1}, "weight_map": weight_map}
    (model / "model.safetensors.index.json").write_text(json.dumps(index))


def no_weights(model: Path) -> None:
    (model / "model.safetensors").unlink()


MODEL_DAMAGE: dict[str, tuple[str, Callable[[Path], None], str]] = {
    # name: (role, damage, what the message says after "<role> model <dir> cannot be used: ")
    "config-truncated": ("teacher", truncated("config.json"), "config.json is not valid JSON"),
    "config-vocab-size-a-word": (
        "student",
        config_value("vocab_size", "ninety-nine"),
        'config.json: vocab_size must be a whole number of 1 or more (got "ninety-nine")',
    ),
    "config-hidden-size-negative": (
        "teacher",
        config_value("hidden_size", -4),
        "config.json: hidden_size must be a whole number of 1 or more (got -4)",
    ),
    "config-layers-null": (
        "student",
        config_value("num_hidden_layers", None),
        "config.json: num_hidden_layers must be a whole number of 1 or more (got null)",
    ),
    "config-without-model-type": (
        "teacher",
        config_value("model_type", KeyError),
        "config.json has no model_type",
    ),
    "config-unknown-model-type": (
        "student",
        config_value("model_type", "qwen9"),
        "config.json: model_type 'qwen9' is not an architecture this transformers",
    ),
    "tokenizer-random-bytes": (
        "student",
        random_bytes("tokenizer.json"),
        "tokenizer.json is not valid JSON",
    ),
    "tokenizer-config-truncated": (
        "teacher",
        truncated("tokenizer_config.json"),
        "tokenizer_config.json is not valid JSON",
    ),
    "weights-cut-in-half": (
        "student",
        truncated("model.safetensors"),
        "model.safetensors is damaged: truncated",
    ),
    "shard-missing": (
        "teacher",
        missing_shard,
        "model-00002-of-00002.safetensors is missing (named by model.safetensors.index.json)",
    ),
    "no-weights": ("student", no_weights, "holds no weights"),
    "no-chat-template": (
        "teacher",
        lambda m: (m / "chat_template.jinja").unlink(),
        "its tokenizer has no chat template",
    ),
}


@pytest.mark.parametrize("dry", [False, True], ids=["run", "dry-run"])
@pytest.mark.parametrize("name", list(MODEL_DAMAGE))
def test_a_broken_model_directory_is_refused_before_any_work(
    name, dry, zoo_env, tmp_path, monkeypatch, cli
):
    role, damage, what = MODEL_DAMAGE[name]

    def make(tmp: Path, zoo) -> Case:
        model = broken_model(tmp, zoo, role, damage)
        return run_case(
            tmp, f"{role} model {model} cannot be used: {what}", set_model(role, model), dry
        )

    result = assert_refused(make, zoo_env, tmp_path, monkeypatch, cli)
    assert "re-save it with save_pretrained" in result.err


@pytest.mark.parametrize("dry", [False, True], ids=["run", "dry-run"])
@pytest.mark.parametrize("name", ["config-layers-null", "tokenizer-random-bytes", "no-weights"])
def test_a_broken_student_is_refused_in_a_plan_without_teacher(
    name, dry, zoo_env, tmp_path, monkeypatch, cli
):
    """No teacher, so no compatibility check: the student's own preflight refuses it."""
    _, damage, what = MODEL_DAMAGE[name]

    def make(tmp: Path, zoo) -> Case:
        model = broken_model(tmp, zoo, "student", damage)

        def edit(d: dict) -> None:
            d.update(teacher=None, stages=[builders.student_rl()])
            set_model("student", model)(d)

        return run_case(tmp, f"student model {model} cannot be used: {what}", edit, dry)

    assert_refused(make, zoo_env, tmp_path, monkeypatch, cli)


@pytest.mark.parametrize("dry", [False, True], ids=["run", "dry-run"])
def test_a_broken_toy_model_names_the_zoo_to_rebuild(dry, zoo_env, tmp_path, monkeypatch, cli):
    """toy: names resolve in a zoo; a damaged zoo model is refused with the rebuild command."""

    def make(tmp: Path, zoo) -> Case:
        copy = tmp / "zoo"
        shutil.copytree(zoo.root, copy)
        truncated("model.safetensors")(copy / "models" / "xs")
        monkeypatch.setenv("S2D_TOY_ZOO", str(copy))
        return run_case(
            tmp,
            f"student model {copy / 'models' / 'xs'} cannot be used: model.safetensors is damaged",
            lambda d: None,
            dry,
        )

    result = assert_refused(make, zoo_env, tmp_path, monkeypatch, cli)
    assert "rebuild the toy zoo" in result.err


@pytest.mark.parametrize("dry", [False, True], ids=["run", "dry-run"])
def test_every_broken_model_is_listed_at_once(dry, zoo_env, tmp_path, monkeypatch, cli):
    def make(tmp: Path, zoo) -> Case:
        student = broken_model(tmp, zoo, "student", random_bytes("tokenizer.json"))
        teacher = broken_model(tmp, zoo, "teacher", config_value("hidden_size", -4))
        no_weights(teacher)

        def edit(d: dict) -> None:
            set_model("student", student)(d)
            set_model("teacher", teacher)(d)

        return run_case(tmp, "tokenizer.json is not valid JSON", edit, dry)

    err = assert_refused(make, zoo_env, tmp_path, monkeypatch, cli).err
    assert "hidden_size must be a whole number of 1 or more (got -4)" in err
    assert "holds no weights" in err
    assert "teacher model" in err and "student model" in err


# ---- prompts beyond the context ---------------------------------------------------------


def toy_long(prefix: str) -> str:
    """310 characters, 310 tokens: the toy tokenizer reads one character per token."""
    return "What is " + "1+" * 148 + f"1 ({prefix})?"


def chat_tokens(model_dir: Path, text: str) -> int:
    """Tokens of ``text`` as the model's chat template formats a user turn (generation prompt on)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    ids = tok.apply_chat_template(
        [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=True
    )
    return len(ids if isinstance(ids, list) else ids["input_ids"])


def problems(n: int, long_at: int | None = None, prefix: str = "p") -> list[dict]:
    rows = [
        {
            "id": f"{prefix}{i}",
            "problem": f"Add {i} and {i + 1} ({prefix}).",
            "answer": str(2 * i + 1),
        }
        for i in range(n)
    ]
    if long_at is not None:
        rows[long_at] = {"id": f"{prefix}-long", "problem": toy_long(prefix), "answer": "1"}
    return rows


def jsonl(tmp: Path, name: str, rows: list[dict]) -> str:
    path = tmp / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def eval_set(tmp: Path) -> Callable[[dict], None]:
    path = jsonl(tmp, "mine.jsonl", problems(10, long_at=3, prefix="e"))
    return lambda d: d["datasets"].update(eval=[{"name": "mine", "path": path}])


def labeled_pool(tmp: Path) -> Callable[[dict], None]:
    # every problem of the pool is allocated, so the long one is read by stage 1 or stage 3
    path = jsonl(tmp, "pool.jsonl", problems(32, long_at=5, prefix="l"))

    def edit(d: dict) -> None:
        d["datasets"]["labeled"] = path
        d["labels"].update(pool=32, stage1=16, stage3=16)

    return edit


def prompt_pool(tmp: Path) -> Callable[[dict], None]:
    path = jsonl(tmp, "prompts.jsonl", problems(32, long_at=0, prefix="u"))
    return lambda d: d["datasets"].update(prompts=path)


def stage_tokens(index: int, tokens: int) -> Callable[[dict], None]:
    return lambda d: d["stages"][index]["budget"].update(max_new_tokens=tokens)


def eval_tokens(tokens: int) -> Callable[[dict], None]:
    return lambda d: d["evaluation"].update(max_new_tokens=tokens)


def eval_stage_tokens(tokens: int) -> Callable[[dict], None]:
    def edit(d: dict) -> None:
        d["stages"].append({"id": "final", "kind": "eval", "options": {"max_new_tokens": tokens}})

    return edit


LONG_PROMPTS: dict[str, tuple[Callable[[Path], Callable[[dict], None]], list[str]]] = {
    # name: (plan edit, fragments of the message)
    "eval-set-problem": (
        eval_set,
        ["datasets.eval 'mine'", "problem id e-long (line 4) is {n} tokens", "context of 256"],
    ),
    "labeled-pool-problem": (
        labeled_pool,
        ["datasets.labeled", "problem id l-long (line 6) is {n} tokens", "grpo"],
    ),
    "prompt-pool-problem": (
        prompt_pool,
        ["datasets.prompts", "problem id u-long (line 1) is {n} tokens", "forward_kl"],
    ),
    "stage-max-new-tokens": (
        lambda t: stage_tokens(2, 300),
        ["stages[2].budget.max_new_tokens 300", "context of 256"],
    ),
    "eval-max-new-tokens": (
        lambda t: eval_tokens(400),
        ["evaluation.max_new_tokens 400", "datasets.eval 'toy'"],
    ),
    "eval-stage-max-new-tokens": (
        lambda t: eval_stage_tokens(500),
        ["stages[4].options.max_new_tokens 500", "datasets.eval 'toy'"],
    ),
}


@pytest.mark.parametrize("dry", [False, True], ids=["run", "dry-run"])
@pytest.mark.parametrize("name", list(LONG_PROMPTS))
def test_a_prompt_beyond_the_context_is_refused_before_any_work(
    name, dry, zoo_env, tmp_path, monkeypatch, cli
):
    edit, fragments = LONG_PROMPTS[name]

    def make(tmp: Path, zoo) -> Case:
        return run_case(tmp, "do not fit the model's context", edit(tmp), dry)

    err = assert_refused(make, zoo_env, tmp_path, monkeypatch, cli).err
    n = chat_tokens(zoo_env.model_dir("xs"), toy_long("p"))
    for fragment in fragments:
        assert fragment.format(n=n) in err, err
    assert "drop the problems longer than" in err or "lower " in err


@pytest.mark.parametrize("dry", [False, True], ids=["run", "dry-run"])
def test_every_prompt_set_beyond_the_context_is_listed_at_once(
    dry, zoo_env, tmp_path, monkeypatch, cli
):
    def make(tmp: Path, zoo) -> Case:
        edits = [eval_set(tmp), prompt_pool(tmp), stage_tokens(0, 300)]
        return run_case(tmp, "do not fit the model's context", lambda d: [e(d) for e in edits], dry)

    err = assert_refused(make, zoo_env, tmp_path, monkeypatch, cli).err
    for fragment in ("problem id e-long", "problem id u-long", "stages[0].budget.max_new_tokens"):
        assert fragment in err, err


# ---- the realistic world: Qwen's vocabulary and Qwen3's chat template --------------------


def qwen_plan(world, eval_path: str, max_new_tokens: int = 12) -> Callable[[dict], None]:
    def edit(d: dict) -> None:
        d["student"] = {"name": "qwen-student", "path": str(world.student)}
        d["teacher"] = {"name": "qwen-teacher", "path": str(world.teacher)}
        d["datasets"] = {
            "labeled": str(world.data["dapo"]),
            "prompts": str(world.data["gsm8k"]),
            "eval": [{"name": "aime-long", "path": eval_path}],
        }
        d["labels"] = {"pool": 160, "stage1": 8, "stage3": 8, "prompts": 16, "seed": 0}
        d["evaluation"]["max_new_tokens"] = max_new_tokens

    return edit


def sum_of_digits(terms: int) -> str:
    return "Compute " + " + ".join(str(i % 10) for i in range(terms)) + "."


QWEN_LONG = sum_of_digits(1400)  # beyond the realistic models' 4096 positions on its own
QWEN_NEAR = sum_of_digits(1320)  # within them, by fewer than 200 tokens


@pytest.mark.parametrize("dry", [False, True], ids=["run", "dry-run"])
def test_the_realistic_world_counts_prompts_with_qwen3s_template(
    dry, qwen_world, zoo_env, tmp_path, monkeypatch, cli
):
    tokens = chat_tokens(qwen_world.student, QWEN_LONG)

    def make(tmp: Path, zoo) -> Case:
        rows = [{"id": "2024-I-1", "problem": "What is $1+1$?", "answer": "2"}]
        rows.append({"id": "2024-I-2", "problem": QWEN_LONG, "answer": "1"})
        path = jsonl(tmp, "aime-long.jsonl", rows)
        return run_case(
            tmp,
            f"problem id 2024-I-2 (line 2) is {tokens} tokens",
            qwen_plan(qwen_world, path),
            dry,
        )

    err = assert_refused(make, zoo_env, tmp_path, monkeypatch, cli).err
    assert "context of 4096" in err and "datasets.eval 'aime-long'" in err


def test_the_realistic_limit_is_exact_to_the_token(qwen_world, tmp_path):
    """A prompt that fills the context to the last position passes; one more new token does not."""
    from planner.contracts import UserError
    from planner.contracts.plan import plan_from_dict
    from trainer.executor import Executor

    tokens = chat_tokens(qwen_world.student, QWEN_NEAR)
    assert 4096 - 200 < tokens < 4096
    rows = [{"id": "x1", "problem": QWEN_NEAR, "answer": "1"}]
    path = jsonl(tmp_path, "one.jsonl", rows)

    def plan(max_new: int):
        data = builders.plan_dict(name="exact")
        qwen_plan(qwen_world, path, max_new_tokens=max_new)(data)
        return plan_from_dict(data, "exact")

    Executor(plan(4096 - tokens), tmp_path / "run").load_data()
    with pytest.raises(UserError, match=f"is {tokens} tokens"):
        Executor(plan(4096 - tokens + 1), tmp_path / "run").load_data()


@pytest.mark.parametrize("dry", [False, True], ids=["run", "dry-run"])
def test_a_cut_realistic_tokenizer_is_refused_without_parsing_it_whole(
    dry, qwen_world, zoo_env, tmp_path, monkeypatch, cli
):
    """Qwen's 18 MB tokenizer.json is checked at its ends (parsing it takes a second)."""

    def make(tmp: Path, zoo) -> Case:
        teacher = tmp / "qwen-teacher"
        shutil.copytree(qwen_world.teacher, teacher)
        truncated("tokenizer.json")(teacher)
        path = jsonl(tmp, "aime.jsonl", [{"id": "1", "problem": "What is $1+1$?", "answer": "2"}])

        def edit(d: dict) -> None:
            qwen_plan(qwen_world, path)(d)
            set_model("teacher", teacher)(d)

        message = (
            f"teacher model {teacher} cannot be used: tokenizer.json is not valid JSON (truncated?"
        )
        return run_case(tmp, message, edit, dry)

    assert_refused(make, zoo_env, tmp_path, monkeypatch, cli)
