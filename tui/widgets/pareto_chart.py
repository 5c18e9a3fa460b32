"""The trials on a chart: the Pareto front of a two-objective study, the search history of a single one.

A Pareto study (accuracy up, cost down) plots accuracy against cost; the
front is joined up. A single-objective study maximises accuracy at full
spend, so every trial's cost is the budget within a few GPU-hours of
rounding: a cost axis would only show that noise. There the chart plots
accuracy against the trial number instead, with the best so far as a step
line (how the search converged, and where the selected trial stands), and the
span of compute the trials spend goes in the title.

Both axes are padded by a twentieth of the data's span (at least half a point
of accuracy, a unit of cost) so no point sits on the frame. The legend is the
panel's bottom border, never drawn over points; the axes are labelled with the
objectives' names when the study has them.
"""

from __future__ import annotations

from rich.markup import escape
from textual_plotext import PlotextPlot

from tui import format as fmt
from tui.study import StudyView, TrialRow


def padded(
    values: list[float], least: float, floor: float | None = None, ceiling: float | None = None
) -> tuple[float, float]:
    """(low, high) around ``values``: a twentieth of their span each side, the span at least
    ``least``, never past ``floor`` or ``ceiling`` (a cost below 0, an accuracy above 100%)."""
    low, high = min(values), max(values)
    span = max(high - low, least)
    mid = (low + high) / 2
    low, high = min(low, mid - span / 2), max(high, mid + span / 2)
    pad = (high - low) / 20
    low, high = low - pad, high + pad
    if floor is not None and min(values) >= floor:
        low = max(low, floor)
    if ceiling is not None and max(values) <= ceiling:
        high = min(high, ceiling)
    return low, high


def integer_ticks(low: float, high: float, most: int) -> list[float]:
    """At most ``most`` whole numbers in [low, high], a step of 1, 2 or 5 times a power of ten apart."""
    import math

    span = max(high - low, 1.0)
    step = 1
    for power in range(12):
        step = next((m * 10**power for m in (1, 2, 5) if span / (m * 10**power) < most), 0)
        if step:
            break
    first = math.ceil(low / step) * step
    return [float(t) for t in range(int(first), int(math.floor(high)) + 1, step)]


class ParetoChart(PlotextPlot):
    def show(self, study: StudyView, selected: int | None) -> None:
        plt = self.plt
        plt.clear_figure()
        if study.pareto:
            self._pareto(study, selected)
        else:
            self._history(study, selected)
        self.refresh()

    def _labels(self, study: StudyView, x: str) -> None:
        name, unit = study.accuracy_label
        self.plt.ylabel(f"{name} {unit}")
        self.plt.xlabel(x)

    def _pareto(self, study: StudyView, selected: int | None) -> None:
        plt = self.plt
        # (cost, accuracy %, row) of the trials that report both
        pts = [
            (r.cost, r.accuracy * 100, r)
            for r in study.trials
            if r.accuracy is not None and r.cost is not None
        ]
        front = sorted((p for p in pts if p[2].on_front), key=lambda p: p[0])
        name, unit = study.cost_label
        self.border_title = f"{study.accuracy_label[0]} vs {name}"
        if not pts:
            self.border_subtitle = ""
            plt.title("no complete trial reports accuracy and cost")
            return
        others = [p for p in pts if not p[2].on_front]
        if others:
            plt.scatter([p[0] for p in others], [p[1] for p in others], color="gray", marker="dot")
        if front:
            fx, fy = [p[0] for p in front], [p[1] for p in front]
            plt.plot(fx, fy, color="green", marker="braille")
            plt.scatter(fx, fy, color="green", marker="●")
        chosen = next((p for p in pts if p[2].number == selected), None)
        if chosen is not None:
            plt.scatter([chosen[0]], [chosen[1]], color="red", marker="◆")
        low, high = padded([p[0] for p in pts], 1.0, floor=0.0)
        plt.xlim(low, high)
        if high - low >= 5:  # whole units; plotext's own ticks below that
            plt.xticks(integer_ticks(low, high, max(2, self.size.width // 10)))
        plt.ylim(*padded([p[1] for p in pts], 0.5, 0.0, 100.0))
        self._labels(study, f"{name} ({unit})" if unit else name)
        self.border_subtitle = _legend("front", "other", chosen and chosen[2])

    def _history(self, study: StudyView, selected: int | None) -> None:
        plt = self.plt
        pts = sorted(
            (r.number, r.accuracy * 100, r) for r in study.trials if r.accuracy is not None
        )
        costs = [r.cost for r in study.trials if r.cost is not None]
        spend = f" · spend {_span(min(costs), max(costs), study.cost_unit)}" if costs else ""
        best = next((p for p in pts if p[2].on_front), None)
        self.border_title = f"{study.accuracy_label[0]} by trial{spend}"
        if not pts:
            self.border_subtitle = ""
            plt.title("no complete trial reports accuracy")
            return
        plt.scatter([p[0] for p in pts], [p[1] for p in pts], color="gray", marker="dot")
        # the best valid accuracy so far, as a step line
        sx: list[float] = []
        sy: list[float] = []
        so_far = None
        for n, acc, r in pts:
            if r.valid and (so_far is None or acc > so_far):
                if so_far is not None:
                    sx.append(n)
                    sy.append(so_far)
                so_far = acc
                sx.append(n)
                sy.append(acc)
        if so_far is not None:
            sx.append(pts[-1][0])
            sy.append(so_far)
            plt.plot(sx, sy, color="green", marker="braille")
        if best is not None:
            plt.scatter([best[0]], [best[1]], color="green", marker="●")
        chosen = next((p for p in pts if p[0] == selected), None)
        if chosen is not None:
            plt.scatter([chosen[0]], [chosen[1]], color="red", marker="◆")
        low, high = padded([float(p[0]) for p in pts], 1.0, floor=0.0)
        plt.xlim(low, high)
        plt.xticks(integer_ticks(low, high, max(2, self.size.width // 10)))
        plt.ylim(*padded([p[1] for p in pts], 0.5, 0.0, 100.0))
        self._labels(study, "trial")
        self.border_subtitle = _legend(
            f"best {fmt.pct(best[2].accuracy)}" if best else "best", "trial", chosen and chosen[2]
        )


def _span(low: float, high: float, unit: str) -> str:
    """``596–600 GPU-h``, or one amount when both round alike."""
    a, b = fmt.compute(low, unit), fmt.compute(high, unit)
    return a if a == b else f"{a.split()[0]}–{b}"


def _legend(line: str, dots: str, chosen: TrialRow | None) -> str:
    """The chart's key, as markup for the panel's bottom border."""
    key = f"[green]●[/] {escape(line)} [dim]•[/] {escape(dots)}"
    if chosen is not None:
        key += f" [red]◆[/] trial {chosen.number}"
    return key
