"""Accuracy against cost for every trial, the Pareto front joined up, the selected trial marked."""

from __future__ import annotations

from textual_plotext import PlotextPlot

from tui.study import TrialRow

UNIT_LABEL = {"gpu_hours": "GPU-hours", "cpu_seconds": "CPU-seconds"}


class ParetoChart(PlotextPlot):
    def show(self, rows: list[TrialRow], selected: int | None, cost_unit: str) -> None:
        plt = self.plt
        plt.clear_figure()
        # (cost, accuracy %, row) of the trials that report both
        pts = [
            (r.cost, r.accuracy * 100, r)
            for r in rows
            if r.accuracy is not None and r.cost is not None
        ]
        front = sorted((p for p in pts if p[2].on_front), key=lambda p: p[0])
        self.border_title = f"accuracy vs cost · {len(pts)} trials · {len(front)} on the front"
        if not pts:
            plt.title("no complete trial reports accuracy and cost")
            self.refresh()
            return
        others = [p for p in pts if not p[2].on_front]
        if others:
            plt.scatter(
                [p[0] for p in others],
                [p[1] for p in others],
                color="gray",
                marker="dot",
                label="trials",
            )
        if front:
            fx, fy = [p[0] for p in front], [p[1] for p in front]
            plt.plot(fx, fy, color="green", marker="braille")
            plt.scatter(fx, fy, color="green", marker="●", label="Pareto front")
        chosen = next((p for p in pts if p[2].number == selected), None)
        if chosen is not None:
            plt.scatter(
                [chosen[0]], [chosen[1]], color="red", marker="◆", label=f"trial {selected}"
            )
        plt.xlabel(UNIT_LABEL.get(cost_unit, cost_unit))
        plt.ylabel("accuracy %")
        self.refresh()
