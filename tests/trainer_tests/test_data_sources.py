"""Data as users have it: hub ids from the local cache, built-in record maps, field maps,
the prompt template, and the scenario check of labels + prompts against deduplicated data.

Every file is written here in the public sets' real schemas (no downloads). A hub dataset is
laid out in a private Hugging Face cache the way ``hf download --repo-type dataset`` leaves it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from planner.contracts import UserError
from planner.contracts.data import BOXED_INSTRUCTION, DataRef, FieldMap, PromptTemplate
from planner.contracts.errors import ValidationError
from planner.contracts.plan import dump_plan, loads_plan, plan_from_dict
from tests import builders
from trainer.data import load_problems, locate
from trainer.data_report import scenario_fit
from trainer.formats import DAPO_PREFIX, DAPO_SUFFIX


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def dapo_row(problem: str, answer: str, index: int) -> dict:
    return {
        "data_source": "math_dapo",
        "prompt": [{"content": DAPO_PREFIX + problem + DAPO_SUFFIX, "role": "user"}],
        "ability": "MATH",
        "reward_model": {"ground_truth": answer, "style": "rule-lighteval/MAJ_DAPO"},
        "extra_info": {"index": f"{index:08x}"},
    }


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """A private Hugging Face cache; ``put(repo_id, files)`` lays a dataset snapshot into it."""
    import datasets
    import huggingface_hub.constants as hub

    cache = tmp_path / "hf"
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(cache / "hub"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache / "datasets")

    def put(repo_id: str, files: dict[str, list[dict]], commit: str = "0" * 40) -> Path:
        repo = cache / "hub" / f"datasets--{repo_id.replace('/', '--')}"
        snapshot = repo / "snapshots" / commit
        for name, rows in files.items():
            write_jsonl(snapshot / name, rows)
        (snapshot / "README.md").write_text("---\nlicense: mit\n---\n", encoding="utf-8")
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(commit, encoding="utf-8")
        return snapshot

    return put


MATH500 = [
    {
        "problem": f"What is {i}+{i}?",
        "solution": f"Add: $\\boxed{{{2 * i}}}$.",
        "answer": str(2 * i),
        "subject": "Prealgebra",
        "level": 1,
        "unique_id": f"test/prealgebra/{i}.json",
    }
    for i in range(6)
]


def test_a_hub_id_reads_from_the_local_cache_offline(hub_cache):
    hub_cache("HuggingFaceH4/MATH-500", {"test.jsonl": MATH500})
    problems = load_problems("HuggingFaceH4/MATH-500")  # its only split, test
    assert [p.id for p in problems] == [r["unique_id"] for r in MATH500]
    assert problems[3].answer == "6" and problems[3].problem == "What is 3+3?"
    assert locate(DataRef("HuggingFaceH4/MATH-500")) is not None


def test_a_hub_dataset_with_splits_takes_train_or_the_named_split(hub_cache):
    rows = [dapo_row(f"Find {i}*3.", str(3 * i), i) for i in range(4)]
    hub_cache("acme/math", {"data/train.jsonl": rows, "data/test.jsonl": rows[:2]})
    assert len(load_problems("acme/math")) == 4
    assert len(load_problems(DataRef("acme/math", split="test"))) == 2
    with pytest.raises(UserError, match="no split 'dev'.*it has"):
        load_problems("acme/math::dev")


def test_a_hub_id_not_in_the_cache_says_how_to_fetch_it(hub_cache):
    with pytest.raises(UserError) as e:
        load_problems("nobody/no-such-set")
    assert "hf download --repo-type dataset nobody/no-such-set" in str(e.value)
    assert locate(DataRef("nobody/no-such-set")) is None


def test_dapo_records_lose_their_instruction_so_the_eval_overlap_check_sees_them(tmp_path):
    """DAPO wraps each problem in "end with Answer: $Answer"; MATH-500 holds it bare. Read as
    written, a MATH-500 problem inside DAPO would pass the leak check unseen."""
    from trainer.data import split_pool

    shared = "What is 2+2?"
    dapo = write_jsonl(
        tmp_path / "dapo.jsonl", [dapo_row(shared, "4", 0), dapo_row("What is 5+5?", "10", 1)]
    )
    labeled = load_problems(dapo)
    assert labeled[0].problem == shared and labeled[0].id == "00000000"
    math500 = load_problems(write_jsonl(tmp_path / "m.jsonl", [MATH500[0] | {"problem": shared}]))
    split = split_pool(labeled, 1, 0, 0, seed=0, eval_sets=[math500])
    assert [p.problem for p in split.stage1] == ["What is 5+5?"]  # the shared one left the pool
    with pytest.raises(UserError, match="1 usable problems"):
        split_pool(labeled, 2, 0, 0, seed=0, eval_sets=[math500])


def test_a_field_map_reads_any_schema_with_nested_paths_and_chat_prompts(tmp_path):
    rows = [
        {
            "q": {"text": "Compute 7-2.", "meta": {"key": "k1"}},
            "gold": {"value": 5},
            "chat": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "7-2?"},
            ],
        }
    ]
    path = write_jsonl(tmp_path / "mine.jsonl", rows)
    fields = FieldMap(problem="q.text", answer="gold.value", id="q.meta.key")
    (p,) = load_problems(DataRef(str(path), fields=fields))
    assert (p.id, p.problem, p.answer) == ("k1", "Compute 7-2.", "5")
    (chat,) = load_problems(
        DataRef(str(path), fields=FieldMap(problem="chat", answer="gold.value"))
    )
    assert chat.problem == "7-2?"  # the last user message
    with pytest.raises(UserError, match="no 'gold.missing' field|no answer"):
        load_problems(DataRef(str(path), fields=FieldMap(problem="q.text", answer="gold.missing")))


def test_a_named_format_reads_gsm8k_answers_after_the_hashes(tmp_path):
    rows = [{"query": "Sam has 1,200 apples...", "answer": "Reasoning <<1+1=2>>\n#### 1,234"}]
    path = write_jsonl(tmp_path / "g.jsonl", rows)
    (p,) = load_problems(DataRef(str(path), format="gsm8k", fields=FieldMap(problem="query")))
    assert p.answer == "1234" and p.problem.startswith("Sam has")
    with pytest.raises(UserError, match="no 'question' field"):
        load_problems(DataRef(str(path), format="gsm8k"))


def test_the_plan_takes_data_mappings_and_writes_them_back_compactly():
    data = builders.plan_dict(
        datasets={
            "labeled": {"path": "acme/dapo", "format": "dapo"},
            "prompts": "acme/dapo::train",
            "eval": [
                {"name": "toy", "path": "openai/gsm8k", "config": "main", "split": "test"},
                {"name": "mine", "path": "m.jsonl", "fields": {"problem": "q.text"}},
            ],
        },
        prompt={"instruction": BOXED_INSTRUCTION, "enable_thinking": False},
    )
    plan = plan_from_dict(data, "plan")
    assert plan.datasets.labeled == DataRef("acme/dapo", format="dapo")
    assert plan.prompt.template_kwargs == {"enable_thinking": False}
    again = loads_plan(dump_plan(plan))
    assert again.datasets == plan.datasets and again.prompt == plan.prompt
    text = dump_plan(plan)
    assert "prompts: acme/dapo::train" in text and "solution" not in text  # defaults left out


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"prompt": {"instruction": "Solve it."}}, "prompt.instruction: holds {problem} 0 times"),
        ({"prompt": {"instruction": "{problem} {problem}"}}, "holds {problem} 2 times"),
        ({"datasets": {"labeled": {"path": "x.jsonl", "format": "mathh"}}}, "did you mean 'math'"),
        (
            {"datasets": {"labeled": {"path": "x.jsonl", "fields": {"answer": "a..b"}}}},
            "datasets.labeled.fields.answer",
        ),
    ],
)
def test_a_bad_prompt_template_or_data_mapping_is_refused_on_load(block, message):
    data = builders.plan_dict()
    for key, value in block.items():
        data[key] = value if key != "datasets" else data["datasets"] | value
    with pytest.raises(ValidationError, match=message.replace("{", r"\{").replace("}", r"\}")):
        plan_from_dict(data, "plan")


def test_the_prompt_template_reaches_the_chat_template_as_trl_renders_it(tiny_zoo):
    from trainer.models import load_tokenizer
    from trainer.rollouts import chat_prompts

    tok = load_tokenizer(tiny_zoo.model_dir("xs"))
    template = PromptTemplate("Q: {problem} A:", system="sys")
    (text,) = chat_prompts(tok, ["1+1"], template)
    assert text == tok.apply_chat_template(
        [{"role": "system", "content": "sys"}, {"role": "user", "content": "Q: 1+1 A:"}],
        add_generation_prompt=True,
        tokenize=False,
    )


def test_scenario_fit_counts_labels_and_prompts_after_duplicates_and_eval_problems(tmp_path):
    rows = [dapo_row(f"What is {i}*7?", str(7 * i), i) for i in range(10)]
    labeled = load_problems(write_jsonl(tmp_path / "d.jsonl", rows * 5))  # DAPO repeats rows
    evals = {"math": load_problems(write_jsonl(tmp_path / "e.jsonl", MATH500))}
    assert not scenario_fit(10, 0, labeled, None, {}).problems
    fit = scenario_fit(10, 0, labeled, None, {"math": [labeled[0]]})
    assert fit.labeled_unique == 9 and fit.in_eval == 1
    assert "labels 10 > 9" in fit.problems[0] and "50 rows, 10 unique" in fit.problems[0]
    (over,) = scenario_fit(6, 5, labeled, labeled, evals).problems
    assert "6 + 5 = 11" in over and "leaves 4" in over


def test_path_split_works_in_mappings_and_eval_sets_too(tmp_path):
    import datasets

    from planner.contracts.data import EvalSet, as_ref

    ds = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list(MATH500[:2]),
            "test": datasets.Dataset.from_list(MATH500[2:5]),
        }
    )
    ds.save_to_disk(str(tmp_path / "ds"))
    where = str(tmp_path / "ds")
    assert len(load_problems(EvalSet("m", f"{where}::test").ref)) == 3
    assert len(load_problems(DataRef(f"{where}::test", format="math"))) == 3
    assert as_ref(DataRef("a/b::dev")) == DataRef("a/b", "dev")


def test_a_missing_file_in_a_folder_is_named_as_a_missing_file_not_a_hub_id(tmp_path, hub_cache):
    with pytest.raises(UserError, match="does not exist") as e:
        load_problems("data/train.jsonl")
    assert "hf download" not in str(e.value)
