import pytest

from tui.series import DownsampledSeries


def test_keeps_raw_points_until_full():
    s = DownsampledSeries(capacity=4)
    for x in range(3):
        s.add(x, 10 * x)
    assert s.points() == ([0, 1, 2], [0, 10, 20])
    assert s.stride == 1 and s.count == 3 and s.last == (2, 20)


def test_merges_pairs_and_doubles_stride_when_full():
    s = DownsampledSeries(capacity=4)
    for x in range(4):  # the 4th point fills the buffer: (0,1) and (2,3) merge
        s.add(x, 10 * x)
    assert s.stride == 2
    assert s.points() == ([0.5, 2.5], [5.0, 25.0])
    s.add(4, 40)  # half a bucket: shown as its own mean until complete
    assert s.points() == ([0.5, 2.5, 4.0], [5.0, 25.0, 40.0])
    s.add(5, 50)
    assert s.points() == ([0.5, 2.5, 4.5], [5.0, 25.0, 45.0])
    assert len(s) == 3


def test_memory_stays_bounded_for_a_long_run():
    s = DownsampledSeries(capacity=400)
    for x in range(100_000):
        s.add(x, 1.0)
    xs, ys = s.points()
    assert len(xs) <= 401 and s.count == 100_000
    assert xs[0] < 200 and xs[-1] > 99_000  # the whole run is still covered
    assert set(ys) == {1.0}


def test_capacity_must_be_even():
    with pytest.raises(ValueError):
        DownsampledSeries(capacity=3)
