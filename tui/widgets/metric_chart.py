"""The live curve of one metric for the selected stage (its kind's charts, planner.contracts.kinds),
or the run's budget burn-down.

The x axis of a metric spans the stage's planned steps, so the curve grows across the
chart as the stage runs. Points are the downsampled means kept by
:class:`tui.series.DownsampledSeries`. The burn-down plots what is left of the planned
compute against the run's running time, with a line toward where it runs out at the pace so far.
"""

from __future__ import annotations

from textual.content import Content
from textual_plotext import PlotextPlot

from planner.contracts import metrics
from tui import format as fmt
from tui.run_state import StageView
from tui.views import BurnDown

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

    def show_burn_down(self, burn: BurnDown) -> None:
        plt = self.plt
        plt.clear_figure()
        unit = "GPU-h" if burn.unit == "gpu_hours" else "CPU-s"
        eta = burn.runs_out_in
        # The projection is drawn for at most three times the time run so far, so that the
        # measured line keeps the width of the chart
        horizon = min(eta, PROJECTION_SPAN * burn.elapsed) if eta else 0.0
        last_x = burn.seconds[-1] if burn.seconds else 0.0
        scale, xlabel = _time_axis(max(burn.elapsed, last_x) + horizon)
        if not burn.spent:
            self.border_title = Content("budget burn-down")
            plt.title("nothing spent yet")
        elif burn.remaining is None:
            self.border_title = Content(
                f"compute spent · {fmt.compute(burn.spent[-1], burn.unit)} (no planned budget for every stage)"
            )
            plt.plot([x / scale for x in burn.seconds], burn.spent, marker="braille", color="cyan")
        else:
            assert burn.planned is not None
            left = burn.remaining[-1]
            planned = fmt.compute(burn.planned, burn.unit)
            if left < 0:
                title = (
                    f"budget burn-down · {fmt.compute(-left, burn.unit)} over the {planned} planned"
                )
            elif burn.finished:
                title = f"budget burn-down · run ended with {fmt.compute(left, burn.unit)} of {planned} unspent"
            else:
                title = f"budget burn-down · {fmt.compute(left, burn.unit)} of {planned} left"
                if eta:
                    title += f" · runs out in {fmt.duration(eta)} at this pace"
            self.border_title = Content(title)
            xs = [0.0] + [x / scale for x in burn.seconds]
            plt.plot(xs, [burn.planned] + burn.remaining, marker="braille", color="cyan")
            if eta and left > 0 and burn.rate:
                end = burn.elapsed / scale
                plt.plot(
                    [end, end + horizon / scale],
                    [left, left - burn.rate * horizon],
                    marker="braille",
                    color="gray",
                )
            plt.hline(0.0, "gray")
            plt.ylim(min(0.0, min(burn.remaining)), burn.planned * 1.05)
        plt.xlabel(xlabel)
        plt.ylabel(unit)
        self.refresh()


PROJECTION_SPAN = 3.0  # the projection's length on screen, in multiples of the time run so far


def _time_axis(seconds: float) -> tuple[float, str]:
    """The divisor and label that keep running time readable: seconds, minutes or hours."""
    if seconds >= 3 * 3600:
        return 3600.0, "hours"
    if seconds >= 180:
        return 60.0, "minutes"
    return 1.0, "seconds"
