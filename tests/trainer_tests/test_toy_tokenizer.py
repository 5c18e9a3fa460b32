import pytest

from trainer.toy.tokenizer import (
    CHARS,
    IM_END,
    IM_START,
    PAD,
    build_tokenizer,
    render_chat,
    save_tokenizer,
)

CHAT = [
    {"role": "user", "content": "What is 37+45?"},
    {"role": "assistant", "content": "7+5=12\n30+40=70\n70+12=82\n\\boxed{82}"},
]


@pytest.fixture(scope="module")
def reloaded(tmp_path_factory):
    from transformers import AutoTokenizer

    d = tmp_path_factory.mktemp("tok")
    save_tokenizer(d)
    return AutoTokenizer.from_pretrained(str(d))


def test_vocabulary_is_characters_then_specials():
    tok = build_tokenizer()
    assert len(tok) == len(CHARS) + 3 == 99
    assert tok.convert_tokens_to_ids([PAD, IM_START, IM_END]) == [96, 97, 98]
    assert tok.pad_token == PAD and tok.eos_token == IM_END and tok.bos_token is None


def test_round_trip_and_one_token_per_character(reloaded):
    text = "What is 3+4*5?\n4*5=20\n3+20=23\n\\boxed{23} {}|~"
    ids = reloaded.encode(text, add_special_tokens=False)
    assert len(ids) == len(text)
    assert reloaded.decode(ids) == text
    special = f"{IM_START}user\nhi{IM_END}"
    assert len(reloaded.encode(special, add_special_tokens=False)) == 1 + 5 + 2 + 1
    assert reloaded.decode(reloaded.encode(special), skip_special_tokens=True) == "user\nhi"


def test_characters_outside_ascii_become_question_marks(reloaded):
    assert reloaded.decode(reloaded.encode("é\t1", add_special_tokens=False)) == "??1"


def test_reload_keeps_left_padding_and_specials(reloaded):
    assert reloaded.padding_side == "left"
    assert reloaded.pad_token == PAD and reloaded.eos_token == IM_END
    batch = reloaded(["a", "abc"], padding=True)
    assert batch["input_ids"][0] == [reloaded.pad_token_id] * 2 + reloaded.encode("a")
    assert batch["attention_mask"][0] == [0, 0, 1]


def test_chat_template_matches_render_chat(reloaded):
    full = reloaded.apply_chat_template(CHAT, tokenize=False)
    prompt = reloaded.apply_chat_template(CHAT[:1], tokenize=False, add_generation_prompt=True)
    want_prompt, want_completion = render_chat(CHAT[0]["content"], CHAT[1]["content"])
    assert (
        prompt
        == want_prompt
        == "<|im_start|>user\nWhat is 37+45?<|im_end|>\n<|im_start|>assistant\n"
    )
    assert full == want_prompt + want_completion
    assert render_chat("x") == (render_chat("x")[0], "")
    system = [{"role": "system", "content": "Be brief."}, *CHAT[:1]]
    assert reloaded.apply_chat_template(system, tokenize=False).startswith(
        "<|im_start|>system\nBe brief.<|im_end|>\n"
    )


def test_assistant_mask_covers_content_and_im_end(reloaded):
    out = reloaded.apply_chat_template(
        CHAT, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids, mask = out["input_ids"], out["assistant_masks"]
    assert len(ids) == len(mask) and 0 < sum(mask) < len(mask)
    masked = [i for i, m in zip(ids, mask, strict=True) if m]
    assert reloaded.decode(masked) == CHAT[1]["content"] + IM_END
    first = mask.index(1)
    assert all(mask[first : first + sum(mask)])  # one contiguous span
