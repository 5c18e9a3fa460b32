"""Accuracy across stages: the simulator's prediction with its band, and what evals measured."""

from __future__ import annotations

from textual.content import Content
from textual_plotext import PlotextPlot

from tui.views import AccuracyRow


class AccuracyChart(PlotextPlot):
    def show(self, rows: list[AccuracyRow], benchmark: str | None) -> None:
        plt = self.plt
        plt.clear_figure()
        self.border_title = Content(
            f"accuracy across stages{f' · {benchmark}' if benchmark else ''} (%)"
        )
        if not rows:
            plt.title("no prediction and no eval yet")
            self.refresh()
            return
        xs = [float(i) for i in range(1, len(rows) + 1)]
        pred = [(x, r) for x, r in zip(xs, rows, strict=True) if r.predicted is not None]
        for x, r in pred:  # the band as a vertical bar at each stage
            if r.low is not None and r.high is not None:
                plt.plot([x, x], [r.low * 100, r.high * 100], color="gray", marker="braille")
        if pred:
            px, py = [x for x, _ in pred], [r.predicted * 100 for _, r in pred]  # type: ignore[operator]
            plt.plot(px, py, color="blue", marker="braille")
            plt.scatter(px, py, color="blue", marker="◆", label="predicted (band)")
        meas = [
            (x, r.measured * 100) for x, r in zip(xs, rows, strict=True) if r.measured is not None
        ]
        if meas:
            mx, my = [x for x, _ in meas], [y for _, y in meas]
            plt.plot(mx, my, color="green", marker="braille")
            plt.scatter(mx, my, color="green", marker="●", label="measured")
        plt.xticks(xs, [r.stage for r in rows])
        plt.xlim(0.6, len(rows) + 0.4)
        plt.ylim(0, 100)
        self.refresh()
