"""Hostile model output: answers (and gold answers) made to hang, crash or exploit a math parser.

One corpus for every verifier test. tests/trainer_tests/test_verifier.py checks the
``ONE_AT_A_TIME`` answers each alone; tests/reliability_tests/test_hostile_output.py sends the
``ALL_AT_ONCE`` answers and the hostile golds in one interleaved batch, as a GRPO step would.
No hostile answer holds a plain 7 or 8, the golds those tests compare against.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# python-injection touches this file if anything ever runs an answer as code.
CANARY = Path(tempfile.gettempdir()) / f"s2d-verifier-canary-{os.getpid()}"

HOSTILE_ANSWERS = {
    "power-tower": "\\boxed{9^{9^{9^{9}}}}",
    "factorial-tower": "\\boxed{(10^{10})!!}",
    "one-megabyte": "blah " * 200_000,
    "one-megabyte-boxed": "\\boxed{" + "7" * 1_000_000 + "}",
    "nested-10k-braces": "\\boxed{" + "{" * 10_000 + "1" + "}" * 10_000 + "}",
    "nested-900-braces": "\\boxed{" + "{" * 900 + "1" + "}" * 900 + "}",
    "nested-fractions": "\\boxed{" + "\\frac{1}{" * 400 + "2" + "}" * 400 + "}",
    "sympy-chokes": "\\boxed{\\frac{\\frac{}{}{}}\\left(\\right]\\begin{matrix}&&\\\\}",
    "hard-integral": "\\boxed{\\int_0^1 e^{x^2} \\sin(x^{100}) dx}",
    "lone-surrogates": "\\boxed{\ud800\udfff \udc00}",
    "lone-surrogates-around-5": "\\boxed{\ud800\udfff 5 \udc00}",
    "only-surrogates": "\udc80" * 5_000,
    "nul-and-controls": "\\boxed{\x00\x01\x1b[2J\x7f}",
    "bidi-override": "\\boxed{\u202e8\u202c}",
    "zero-width": "\\boxed{\u200b\u200d\ufeff}",
    "emoji-and-combining": "\\boxed{\U0001f600\u0301\u0301\u0301}",
    "python-injection": f"\\boxed{{__import__('os').system('touch {CANARY}')}}",
    "latex-define": "\\def\\x{\\x\\x}\\boxed{\\x}",
}
# Gold answers read from a data file can be hostile too; a GRPO group shares one gold.
HOSTILE_GOLDS = {
    "gold-power-tower": "9^{9^{9^{9}}}",
    "gold-surrogates": "\ud800 5",
    "gold-nested": "{" * 5_000 + "1" + "}" * 5_000,
}

ONE_AT_A_TIME = (
    "power-tower",
    "one-megabyte",
    "one-megabyte-boxed",
    "nested-10k-braces",
    "nested-900-braces",
    "lone-surrogates-around-5",
    "sympy-chokes",
    "hard-integral",
)
ALL_AT_ONCE = tuple(
    name
    for name in HOSTILE_ANSWERS
    if name not in ("nested-900-braces", "lone-surrogates-around-5")
)
