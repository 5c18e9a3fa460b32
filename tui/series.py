"""A curve that keeps at most ``capacity`` points however long the run.

A 100,000-step run must not keep 100,000 points per metric in the UI. Points are
averaged into buckets of ``stride`` raw points; when the buffer fills, adjacent
buckets are merged pairwise and the stride doubles, so memory stays
``O(capacity)`` and the whole run stays on screen at an even resolution. Means
hide single spikes; the latest raw value is kept separately for display.
"""

from __future__ import annotations


class DownsampledSeries:
    """(x, y) points, each the mean of ``stride`` consecutive raw points."""

    __slots__ = ("capacity", "stride", "count", "last", "_xs", "_ys", "_sum_x", "_sum_y", "_n")

    def __init__(self, capacity: int = 400):
        if capacity < 2 or capacity % 2:
            raise ValueError(f"capacity must be an even number >= 2, got {capacity}")
        self.capacity = capacity
        self.stride = 1
        self.count = 0  # raw points seen
        self.last: tuple[float, float] | None = None
        self._xs: list[float] = []
        self._ys: list[float] = []
        self._sum_x = 0.0
        self._sum_y = 0.0
        self._n = 0

    def add(self, x: float, y: float) -> None:
        self.count += 1
        self.last = (x, y)
        self._sum_x += x
        self._sum_y += y
        self._n += 1
        if self._n < self.stride:
            return
        self._xs.append(self._sum_x / self._n)
        self._ys.append(self._sum_y / self._n)
        self._sum_x = self._sum_y = 0.0
        self._n = 0
        if len(self._xs) >= self.capacity:
            self._xs = [(a + b) / 2 for a, b in zip(self._xs[::2], self._xs[1::2], strict=True)]
            self._ys = [(a + b) / 2 for a, b in zip(self._ys[::2], self._ys[1::2], strict=True)]
            self.stride *= 2

    def points(self) -> tuple[list[float], list[float]]:
        """Copies of the x and y lists, with the unfinished bucket's mean as the last point."""
        xs, ys = list(self._xs), list(self._ys)
        if self._n:
            xs.append(self._sum_x / self._n)
            ys.append(self._sum_y / self._n)
        return xs, ys

    def __len__(self) -> int:
        return len(self._xs) + (1 if self._n else 0)
