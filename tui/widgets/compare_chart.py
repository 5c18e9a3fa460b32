"""The comparison's chart: one series per run, overlaid, of a stage's metric or of accuracy."""

from __future__ import annotations

from collections.abc import Sequence

from textual.content import Content
from textual_plotext import PlotextPlot

from tui.compare import ACCURACY, ChartChoice, Series
from tui.widgets.compare_table import run_color


class CompareChart(PlotextPlot):
    def show(
        self,
        choice: ChartChoice,
        series: Sequence[Series],
        colors: dict[str, int],
        *,
        stages: Sequence[str] = (),
        steps: int | None = None,
        position: str = "",
    ) -> None:
        plt = self.plt
        plt.clear_figure()
        self.border_title = Content(f"{choice.title}{f'  ({position})' if position else ''}")
        if not series:
            plt.title(
                "no run has measured accuracy yet"
                if choice.metric == ACCURACY
                else f"no run has logged this at {choice.stage} yet"
            )
        for s in series:
            color = run_color(colors.get(s.run, 0))
            plt.plot(s.xs, s.ys, marker="braille", color=color, label=s.run)
            if choice.metric == ACCURACY:
                plt.scatter(s.xs, s.ys, marker="●", color=color)
        if choice.metric == ACCURACY:
            if stages:
                plt.xticks([float(i) for i in range(1, len(stages) + 1)], list(stages))
                plt.xlim(0.6, len(stages) + 0.4)
            plt.ylim(0, 100)
            plt.xlabel("after stage")
        else:
            if steps:
                plt.xlim(0, steps)
            plt.xlabel("step")
        self.refresh()
