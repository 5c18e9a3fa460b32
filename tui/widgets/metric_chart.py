"""The live curve of one metric for the selected stage (its kind's charts, planner.contracts.kinds).

The x axis spans the stage's planned steps, so the curve grows across the
chart as the stage runs. Points are the downsampled means kept by
:class:`tui.series.DownsampledSeries`.
"""

from __future__ import annotations

from textual.content import Content
from textual_plotext import PlotextPlot

from planner.contracts import metrics
from tui.run_state import StageView

SMOOTHING = 0.6  # TensorBoard's default weight


def ema(ys: list[float], weight: float = SMOOTHING) -> list[float]:
    """Exponential moving average, debiased at the start as TensorBoard does."""
    out, last = [], 0.0
    for i, y in enumerate(ys, 1):
        last = last * weight + (1 - weight) * y
        out.append(last / (1 - weight**i))
    return out


class MetricChart(PlotextPlot):
    def show(self, view: StageView | None, metric: str | None, *, smooth: bool = False) -> None:
        plt = self.plt
        plt.clear_figure()
        label = metrics.label(metric) if metric else "metrics"
        series = view.curves.get(metric) if view is not None and metric else None
        if view is None:
            self.border_title = Content(label)
            plt.title("no stage selected")
        elif metric is None:
            self.border_title = Content(f"{label} · {view.id}")
            plt.title(f"{view.id} ({view.kind}) trains nothing: no curves")
        elif series is None or not len(series):
            self.border_title = Content(f"{label} · {view.id}")
            plt.title(
                f"{view.id} has not recorded {label}"
                + (" yet" if view.status in ("pending", "running") else "")
            )
        else:
            xs, ys = series.points()
            assert series.last is not None
            self.border_title = Content(
                f"{label} · {view.id} · last {series.last[1]:.4g} at step {series.last[0]:.0f}"
            )
            if smooth and len(ys) > 2:
                plt.plot(xs, ys, marker="braille", color="gray")
                plt.plot(xs, ema(ys), marker="braille", color="cyan")
            else:
                plt.plot(xs, ys, marker="braille", color="cyan")
            if view.total_steps:
                plt.xlim(0, view.total_steps)
            if series.stride > 1:
                plt.title(f"mean of every {series.stride} steps")
        plt.xlabel("step")
        self.refresh()
