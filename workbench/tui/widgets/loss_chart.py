"""The loss chart: training and validation loss against steps. The validation is drawn as two
series, so that they are not read as one: "val est." (the cheap estimate every --eval-every steps,
on a few fixed batches) as a line, "val full" (the full pass at each checkpoint, the figure
"best full val" in the status line comes from) as marked points.

The widget owns its series and redraws from them (`replot`). plotext rebuilds the whole canvas
on every draw, so a long history is averaged down to at most MAX_POINTS points first, in time
independent of its length (prefix sums, kept as points arrive), and redraws are coalesced to
one every two seconds however fast points arrive (the first points are drawn at once).
"""
from __future__ import annotations

import math
from typing import Any

from textual_plotext import PlotextPlot

from workbench.tui.shown import on_view
from workbench.engine.units import LN2

MAX_POINTS = 300
REDRAW_SECONDS = 2.0


class Series:
    """Points in step order, with running sums of x and y (and of a smoothed y, for one
    smoothing weight at a time) so that any bucket's mean costs O(1)."""

    def __init__(self) -> None:
        self.xs: list[float] = []
        self.ys: list[float] = []
        self._sx = [0.0]
        self._sy = [0.0]
        self._weight = 0.0
        self._ema = (0.0, 0.0)  # (last, norm) of the smoothing
        self._ss = [0.0]  # running sums of the smoothed y

    def __len__(self) -> int:
        return len(self.xs)

    def clear(self) -> None:
        self.__init__()

    def append(self, x: float, y: float) -> None:
        self.xs.append(x)
        self.ys.append(y)
        self._sx.append(self._sx[-1] + x)
        self._sy.append(self._sy[-1] + y)
        if self._weight:
            self._smooth_one(y)

    def _smooth_one(self, y: float) -> None:
        w = self._weight
        last, norm = self._ema
        last, norm = w * last + (1 - w) * y, w * norm + (1 - w)
        self._ema = (last, norm)
        self._ss.append(self._ss[-1] + last / norm)

    def set_smoothing(self, weight: float) -> None:
        if weight == self._weight:
            return
        self._weight, self._ema, self._ss = weight, (0.0, 0.0), [0.0]
        if weight:
            for y in self.ys:
                self._smooth_one(y)

    def sampled(self, limit: int = MAX_POINTS) -> tuple[list[float], list[float]]:
        """(x, y) with at most `limit` points: bucket means, then the last point itself."""
        sy = self._ss if self._weight else self._sy
        n = len(self.xs)
        if n <= limit:
            return list(self.xs), [sy[i + 1] - sy[i] for i in range(n)]
        size = math.ceil((n - 1) / (limit - 1))
        out_x, out_y = [], []
        for start in range(0, n - 1, size):
            end = min(start + size, n - 1)
            out_x.append((self._sx[end] - self._sx[start]) / (end - start))
            out_y.append((sy[end] - sy[start]) / (end - start))
        out_x.append(self.xs[-1])
        out_y.append(sy[n] - sy[n - 1])
        return out_x, out_y


def nice_ticks(lo: float, hi: float, count: int) -> list[float]:
    """At most about `count` round numbers (1, 2 or 5 times a power of ten apart) in [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo or count < 1:
        return [lo]
    raw = (hi - lo) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def tick_label(value: float) -> str:
    if abs(value) >= 1e6:
        return f"{value / 1e6:g}M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:g}k"
    return f"{value:g}"


class LossChart(PlotextPlot):
    """Train loss (every logged step), validation estimates and full validation passes."""

    SMOOTHING = (0.0, 0.6, 0.9)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes)
        self.train = Series()
        self.val = Series()  # the estimates
        self.full = Series()  # the full passes
        self.unit = "nats"
        self.smoothing = 0.0
        self._dirty = True
        self._drawn_data = False  # the first points are drawn at once, later ones at the tick

    def on_mount(self) -> None:
        super().on_mount()
        self.set_interval(REDRAW_SECONDS, self.redraw_if_dirty)
        self.replot()

    # -- data -------------------------------------------------------------------------
    @property
    def train_x(self) -> list[float]:
        return self.train.xs

    @property
    def val_x(self) -> list[float]:
        """The step of every validation, estimate or full."""
        return sorted(self.val.xs + self.full.xs)

    @property
    def points(self) -> int:
        return len(self.train) + len(self.val) + len(self.full)

    def clear_history(self) -> None:
        self.train.clear()
        self.val.clear()
        self.full.clear()
        self.train.set_smoothing(self.smoothing)
        self._dirty = True
        self._drawn_data = False

    def add_records(self, records: list[dict[str, Any]]) -> None:
        """Metrics records (metrics.jsonl lines): train_loss and/or val_loss at a step."""
        for r in records:
            step = r.get("step")
            if not isinstance(step, (int, float)):
                continue
            loss = r.get("train_loss")
            if isinstance(loss, (int, float)) and math.isfinite(loss):
                self.train.append(float(step), float(loss))
            val = r.get("val_loss")
            if isinstance(val, (int, float)) and math.isfinite(val):
                (self.full if r.get("val_full") else self.val).append(float(step), float(val))
        if records:
            self._dirty = True
            if not self._drawn_data:
                self.replot()

    def set_unit(self, unit: str) -> None:
        self.unit = unit
        self.replot()

    def cycle_smoothing(self) -> float:
        """Off, 0.6, 0.9 (of the training loss; validation points are few and already means)."""
        i = self.SMOOTHING.index(self.smoothing) if self.smoothing in self.SMOOTHING else 0
        self.smoothing = self.SMOOTHING[(i + 1) % len(self.SMOOTHING)]
        self.train.set_smoothing(self.smoothing)
        self.replot()
        return self.smoothing

    # -- drawing ----------------------------------------------------------------------
    def render(self):
        # Round step numbers on the x axis, as many as the width allows (known only here).
        ends = [x for s in (self.train, self.val, self.full) if len(s) for x in (s.xs[0], s.xs[-1])]
        if ends:
            ticks = nice_ticks(min(ends), max(ends), max(2, self.size.width // 10))
            self.plt.xticks(ticks, [tick_label(t) for t in ticks])
        return super().render()

    def redraw_if_dirty(self) -> None:
        # The training screen redraws us when it is shown again.
        if self._dirty and on_view(self):
            self.replot()

    def replot(self) -> None:
        self._dirty = False
        scale = 1 / LN2 if self.unit == "bits" else 1.0
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.xscale("linear")
        plt.yscale("linear")  # plotext's log scale breaks on redraw; a loss is a log already
        label = "bits/char" if self.unit == "bits" else "nats/char"
        title = f"loss ({label}) by step" + (f", smoothed {self.smoothing:g}" if self.smoothing else "")
        plt.title(title)
        for name, series in (("train", self.train), ("val est.", self.val)):
            if len(series):
                x, y = series.sampled(MAX_POINTS)
                plt.plot(x, [v * scale for v in y], label=name, marker="braille")
        if len(self.full):
            x, y = self.full.sampled(MAX_POINTS)
            plt.scatter(x, [v * scale for v in y], label="val full", marker="\u25cf", color="orange")
        if not self.points:
            plt.title(title + ": waiting for the first steps")
        self._drawn_data = bool(self.points)
        self.refresh()
