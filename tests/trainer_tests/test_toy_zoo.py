import json
import time
from pathlib import Path

import pytest

from planner.contracts.errors import UserError
from trainer.toy.evaluate import accuracy, extract_boxed, is_correct
from trainer.toy.presets import PRESETS, ZooConfig
from trainer.toy.pretrain import lr_at, train_and_save
from trainer.toy.zoo import build_zoo, cache_root, load_zoo, resolve_toy_path, zoo_dir

MODEL_FIELDS = {
    "path",
    "params",
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "greedy_accuracy",
    "sampled_accuracy",
    "pretrain_steps",
    "pretrain_seconds",
}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_zoo_json_shape(tiny_zoo):
    meta = json.loads((tiny_zoo.root / "zoo.json").read_text())
    assert set(meta) == {"version", "key", "seed", "build_seconds", "tokenizer", "data", "models"}
    assert meta["version"] == 1 and meta["seed"] == 0 and meta["key"] == PRESETS["tiny"].key(0)
    assert meta["tokenizer"] == "tokenizer"
    assert meta["data"] == {
        "train": "data/train.jsonl",
        "prompts": "data/prompts.jsonl",
        "eval": "data/eval.jsonl",
    }
    assert list(meta["models"]) == [s.name for s in PRESETS["tiny"].models]
    for name, m in meta["models"].items():
        assert set(m) == MODEL_FIELDS
        assert m["path"] == f"models/{name}"
        assert 0.0 <= m["sampled_accuracy"] <= 1.0 and 0.0 <= m["greedy_accuracy"] <= 1.0
        assert m["vocab_size"] == 99 and m["pretrain_seconds"] > 0
    assert meta["build_seconds"] > 0


def test_models_load_offline_like_checkpoints(tiny_zoo):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    for name, m in tiny_zoo.models.items():
        path = tiny_zoo.model_dir(name)
        model = AutoModelForCausalLM.from_pretrained(str(path))
        tok = AutoTokenizer.from_pretrained(str(path))
        assert type(model).__name__ == "Qwen3ForCausalLM"
        assert sum(p.numel() for p in model.parameters()) == m["params"]
        assert model.config.hidden_size == m["hidden_size"] and model.config.vocab_size == len(tok)
        assert tok.padding_side == "left" and tok.chat_template
        prompt = tok.apply_chat_template(
            [{"role": "user", "content": "What is 3+4?"}],
            tokenize=False,
            add_generation_prompt=True,
        )
        enc = tok([prompt], return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=8, do_sample=False)
        assert out.shape[1] > enc["input_ids"].shape[1]


def test_data_files_are_disjoint_and_well_formed(tiny_zoo):
    train, prompts, evals = (read_jsonl(tiny_zoo.data[k]) for k in ("train", "prompts", "eval"))
    sizes = [sum(c[i] for c in PRESETS["tiny"].split.values()) for i in (1, 2, 0)]
    assert [len(train), len(prompts), len(evals)] == sizes
    assert all(set(r) == {"problem"} for r in prompts)
    for r in train + evals:
        assert set(r) == {"problem", "solution", "answer", "level", "id"}
        assert is_correct(r["solution"], r["answer"])  # data files carry clean solutions
    texts = [{r["problem"] for r in rows} for rows in (train, prompts, evals)]
    assert not texts[0] & texts[1] and not texts[0] & texts[2] and not texts[1] & texts[2]
    assert len({r["level"] for r in evals}) == 5


def test_second_build_reuses_the_cache(tiny_zoo):
    model_file = next(tiny_zoo.model_dir("s").glob("*.safetensors"))
    before = model_file.stat().st_mtime_ns
    started = time.perf_counter()
    again = build_zoo(cache_dir=tiny_zoo.root.parent, preset="tiny", workers=1)
    assert time.perf_counter() - started < 1.0
    assert again.reused and again.root == tiny_zoo.root and again.models == tiny_zoo.models
    assert model_file.stat().st_mtime_ns == before
    assert load_zoo(cache_dir=tiny_zoo.root.parent, preset="tiny").key == tiny_zoo.key


def test_resolve_toy_path(tiny_zoo):
    assert resolve_toy_path("toy:s", tiny_zoo) == tiny_zoo.root / "models" / "s"
    assert resolve_toy_path("toy:xs", tiny_zoo).is_dir()
    for split in ("train", "prompts", "eval"):
        assert (
            resolve_toy_path(f"toy:{split}", tiny_zoo) == tiny_zoo.root / "data" / f"{split}.jsonl"
        )
    for bad in ("toy:xl", "toy:", "s", "hf:toy:s"):
        with pytest.raises(UserError, match="toy:xs, toy:s, toy:train, toy:prompts, toy:eval"):
            resolve_toy_path(bad, tiny_zoo)


def test_load_zoo_without_a_build(tmp_path):
    with pytest.raises(UserError, match=r"toy zoo not built yet; run `s2d toy build --cache-dir"):
        load_zoo(cache_dir=tmp_path)
    with pytest.raises(UserError, match="unknown toy preset 'huge'"):
        load_zoo(cache_dir=tmp_path, preset="huge")


def test_cache_root_follows_s2d_home(monkeypatch, tmp_path):
    monkeypatch.setenv("S2D_HOME", str(tmp_path))
    assert cache_root() == tmp_path / "toy"
    assert cache_root("/x/y") == Path("/x/y")
    monkeypatch.delenv("S2D_HOME")
    assert cache_root() == Path.home() / ".cache" / "sparse2dense" / "toy"
    assert zoo_dir(tmp_path, 3, "tiny").name == f"tiny-seed3-{PRESETS['tiny'].key(3)}"


def test_config_key_changes_with_any_setting():
    import dataclasses

    tiny = PRESETS["tiny"]
    keys = {
        tiny.key(0),
        tiny.key(1),
        dataclasses.replace(tiny, noise=0.4).key(0),
        dataclasses.replace(tiny, models=tiny.models[:1]).key(0),
        dataclasses.replace(
            tiny, models=(dataclasses.replace(tiny.models[0], steps=21), tiny.models[1])
        ).key(0),
    }
    assert len(keys) == 5


def test_same_seed_same_weights(tmp_path, tiny_zoo):
    import dataclasses

    from safetensors.torch import load_file

    config: ZooConfig = dataclasses.replace(PRESETS["tiny"], eval_samples=1)
    spec = dataclasses.replace(config.models[0], steps=3)
    infos, weights = [], []
    for run, seed in (("a", 0), ("b", 0), ("c", 1)):
        infos.append(train_and_save(spec, config, seed, tiny_zoo.tokenizer_dir, tmp_path / run))
        weights.append(load_file(str(tmp_path / run / "model.safetensors")))
    assert weights[0].keys() == weights[1].keys()
    assert all((weights[0][k] == weights[1][k]).all() for k in weights[0])
    assert any((weights[0][k] != weights[2][k]).any() for k in weights[0])
    assert infos[0]["greedy_accuracy"] == infos[1]["greedy_accuracy"]
    assert infos[0]["sampled_accuracy"] == infos[1]["sampled_accuracy"]


def test_lr_schedule_by_hand():
    assert lr_at(0, 100, 1.0, 10) == pytest.approx(0.1)
    assert lr_at(9, 100, 1.0, 10) == pytest.approx(1.0)
    assert lr_at(10, 100, 1.0, 10) == pytest.approx(1.0)
    assert lr_at(55, 100, 1.0, 10) == pytest.approx(0.55)  # halfway down the cosine: 0.1 + 0.9 / 2
    assert lr_at(100, 100, 1.0, 10) == pytest.approx(0.1)


def test_boxed_grading():
    assert extract_boxed("3+4=7\n\\boxed{7}") == "7"
    assert extract_boxed("\\boxed{1} then \\boxed{ 12 }") == "12"
    assert extract_boxed("no box") is None
    assert is_correct("\\boxed{082}", "82") and not is_correct("\\boxed{8x}", "82")
    assert (
        accuracy([["\\boxed{1}", "\\boxed{2}"], ["\\boxed{3}", "\\boxed{3}"]], ["1", "3"]) == 0.75
    )
    assert accuracy([], []) == 0.0


def test_default_preset_spans_thirty_x_in_parameters():
    import torch
    from transformers import Qwen3ForCausalLM

    from trainer.toy.pretrain import count_params, qwen3_config
    from trainer.toy.tokenizer import build_tokenizer

    tok = build_tokenizer()
    specs = PRESETS["default"].models
    assert [s.name for s in specs] == ["xs", "s", "m", "l"]
    with torch.device("meta"):
        params = [count_params(Qwen3ForCausalLM(qwen3_config(s, tok))) for s in specs]
    assert params == sorted(params) and len(set(params)) == len(params)
    assert params[-1] / params[0] >= 30


def test_a_build_of_some_models_is_completed_later(tmp_path, tiny_zoo):
    from safetensors.torch import load_file

    part = build_zoo(cache_dir=tmp_path, preset="tiny", workers=1, models=["xs"])
    assert list(part.models) == ["xs"] and not part.reused
    with pytest.raises(UserError, match="`--models NAME...` only some"):
        resolve_toy_path("toy:s", part)
    xs_file = next(part.model_dir("xs").glob("*.safetensors"))
    xs_mtime = xs_file.stat().st_mtime_ns

    whole = build_zoo(cache_dir=tmp_path, preset="tiny", workers=1)
    assert whole.root == part.root and list(whole.models) == ["xs", "s"]
    assert xs_file.stat().st_mtime_ns == xs_mtime  # the built model was left alone
    assert set(json.loads((whole.root / "zoo.json").read_text())["models"]) == {"xs", "s"}
    assert not list(whole.root.glob(".*tmp*"))
    # the model added later is the one a full build trains
    added = load_file(str(next(whole.model_dir("s").glob("*.safetensors"))))
    full = load_file(str(next(tiny_zoo.model_dir("s").glob("*.safetensors"))))
    assert all((added[k] == full[k]).all() for k in full)
    assert build_zoo(cache_dir=tmp_path, preset="tiny", workers=1, models=["s"]).reused


def test_unknown_model_names_are_refused(tmp_path):
    with pytest.raises(UserError, match="unknown toy model.*xl.*this zoo has xs, s"):
        build_zoo(cache_dir=tmp_path, preset="tiny", models=["xl"])
    assert not any(tmp_path.iterdir())
