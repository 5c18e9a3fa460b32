"""Peak memory of a sampled-OPD scoring step against an SFT step at Qwen3's 151,936-entry vocabulary.

The scoring step is what sampled OPD adds to a GRPO step: the student's and
the teacher's log-probs of every sampled token
(trainer.stages.opd.completion_logprobs) on ``--batch`` rows of a short prompt
plus ``--tokens`` completion tokens. The SFT step is the forward_kl stage in
``mode: hard`` on rollouts of the same shape, as in forward_kl_memory.py
beside this file. ``--full`` adds scoring from whole (rows x tokens x
vocabulary) logits, for comparison. Each runs in a fresh process; the figure
is the growth of peak RSS over the process's RSS before the models load
(CPU), or peak CUDA memory (GPU).

    python examples/benchmarks/opd_memory.py [--batch 8] [--tokens 256] [--full]
"""

from __future__ import annotations

import json
import resource
import tempfile
from pathlib import Path

from forward_kl_memory import VOCAB, arguments, in_fresh_process, make_models, one_mode

PROMPT_TOKENS = 32  # about what the SFT rows' chat-formatted question takes


def one_scoring(root: Path, batch: int, tokens: int, chunk: int, full: bool) -> dict:
    import torch
    import torch.nn.functional as F

    from trainer.hf import quiet_libraries
    from trainer.models import load_model
    from trainer.stages.opd import completion_logprobs

    quiet_libraries()
    torch.set_num_threads(1)
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    student = load_model(root / "student", device)
    teacher = load_model(root / "teacher", device, trainable=False)
    g = torch.Generator().manual_seed(0)
    prompt_ids = torch.randint(VOCAB, (batch, PROMPT_TOKENS), generator=g).to(device)
    completion_ids = torch.randint(VOCAB, (batch, tokens), generator=g).to(device)
    prompt_mask, completion_mask = torch.ones_like(prompt_ids), torch.ones_like(completion_ids)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    for model in (student, teacher):
        if full:  # whole logits for the batch, then log-softmax in float32
            ids = torch.cat([prompt_ids, completion_ids], dim=1)
            with torch.no_grad():
                logits = model(
                    input_ids=ids, attention_mask=torch.ones_like(ids), logits_to_keep=tokens + 1
                ).logits[:, :-1]
                logp = F.log_softmax(logits.float(), dim=-1)
                logp.gather(-1, completion_ids.unsqueeze(-1))
            del logits, logp
        else:
            completion_logprobs(
                model, prompt_ids, prompt_mask, completion_ids, completion_mask, 1.0, chunk
            )
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {"mode": "full" if full else "opd", "rss_growth_mb": (peak_kb - base) / 1024}
    if cuda:
        result["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def main() -> None:
    ap = arguments(__doc__)
    ap.add_argument("--full", action="store_true", help="also score from whole logits")
    args = ap.parse_args()
    if args.mode:
        root = Path(args.root)
        if args.mode == "hard":
            result = one_mode("hard", root, args.batch, args.tokens, args.chunk)
        else:
            result = one_scoring(root, args.batch, args.tokens, args.chunk, args.mode == "full")
        print(json.dumps(result))
        return
    modes = ("hard", "opd", "full") if args.full else ("hard", "opd")
    with tempfile.TemporaryDirectory() as tmp:
        make_models(Path(tmp), args.hidden)
        results = {mode: in_fresh_process(__file__, mode, tmp, args) for mode in modes}
    key = "cuda_peak_mb" if "cuda_peak_mb" in results["opd"] else "rss_growth_mb"
    sft, opd = results["hard"][key], results["opd"][key]
    print(
        f"vocabulary {VOCAB:,}, batch {args.batch} x {args.tokens} tokens, chunk {args.chunk} tokens"
    )
    print(f"SFT step (forward_kl mode: hard)       peak {key}: {sft:,.0f} MB")
    print(f"sampled-OPD scoring (student+teacher)  peak {key}: {opd:,.0f} MB")
    if "full" in results:
        print(f"  the same from whole logits           peak {key}: {results['full'][key]:,.0f} MB")
    print(f"ratio OPD scoring / SFT: {opd / sft:.2f}x (goal: at most 1.5x)")


if __name__ == "__main__":
    main()
