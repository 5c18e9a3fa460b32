"""Short, fixed-width text for numbers on screen: percentages, compute, tokens, durations, bars.

Accuracy is 0..1 everywhere inside the program and shown as % only here.
"""

from __future__ import annotations

BAR_FULL = "█"
_EIGHTHS = " ▏▎▍▌▋▊▉"


def pct(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x * 100:.{digits}f}%"


def points(diff: float | None) -> str:
    """A difference of accuracies in percentage points, signed."""
    return "—" if diff is None else f"{diff * 100:+.1f} pt"


def compute(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "gpu_hours":
        return f"{value:.3g} GPU-h" if value < 100 else f"{value:,.0f} GPU-h"
    return f"{value:.1f} CPU-s" if value < 1000 else f"{value:,.0f} CPU-s"


def count(n: float | None) -> str:
    """1234 -> 1.2k, 5_600_000 -> 5.6M."""
    if n is None:
        return "—"
    n = float(n)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= limit:
            return f"{n / limit:.1f}{suffix}"
    return f"{n:.0f}"


def duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "—"
    s = int(seconds)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def bar(fraction: float, width: int) -> str:
    """A horizontal bar of ``width`` cells with eighth-cell resolution, clipped to 0..1."""
    fraction = max(0.0, min(1.0, fraction))
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    text = BAR_FULL * full
    if full < width:
        text += (_EIGHTHS[part] if part else "") + " " * (width - full - (1 if part else 0))
    return text
