"""Several runs' loss curves in one chart: validation loss (and, on request, training loss)
against steps, epochs, characters seen or wall time.

The widget owns its series (one `Series` per run and kind, from loss_chart) and redraws from
them; each curve is averaged down to at most MAX_POINTS points before plotext draws it."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from textual_plotext import PlotextPlot

from workbench.engine.units import LN2
from workbench.tui.text import one_line
from workbench.tui.widgets.loss_chart import MAX_POINTS, Series, nice_ticks, tick_label

XMODES = ("step", "epoch", "chars", "time")
XLABELS = {"step": "step", "epoch": "epoch", "chars": "characters seen", "time": "wall time"}
COLOURS = ("cyan", "orange", "magenta", "green", "yellow", "red", "blue", "white")


@dataclass
class Run:
    """One run's records, as plain columns."""

    name: str
    chars_per_step: int
    steps: list[float] = field(default_factory=list)
    epochs: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    train: list[float | None] = field(default_factory=list)
    val: list[float | None] = field(default_factory=list)

    def clear(self) -> None:
        for column in (self.steps, self.epochs, self.times, self.train, self.val):
            column.clear()

    def add(self, records: list[dict[str, Any]]) -> None:
        for r in records:
            step = r.get("step")
            if not isinstance(step, (int, float)):
                continue
            train, val = _finite(r.get("train_loss")), _finite(r.get("val_loss"))
            if train is None and val is None:
                continue
            self.steps.append(float(step))
            self.epochs.append(float(r["epoch"]) if isinstance(r.get("epoch"), (int, float)) else math.nan)
            self.times.append(float(r["time"]) if isinstance(r.get("time"), (int, float)) else math.nan)
            self.train.append(train)
            self.val.append(val)

    def xs(self, mode: str) -> list[float]:
        if mode == "epoch":
            return self.epochs
        if mode == "chars":
            return [s * self.chars_per_step for s in self.steps]
        if mode == "time":
            first = next((t for t in self.times if not math.isnan(t)), math.nan)
            return [t - first for t in self.times]
        return self.steps


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def time_unit(seconds: float) -> tuple[float, str]:
    if seconds >= 3 * 3600:
        return 3600.0, "h"
    if seconds >= 180:
        return 60.0, "min"
    return 1.0, "s"


class CompareChart(PlotextPlot):
    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.runs: dict[str, Run] = {}
        self.xmode = "step"
        self.show_train = False
        self.unit = "nats"
        self._xticks: list[float] = []

    def on_mount(self) -> None:
        super().on_mount()
        self.replot()

    # -- data -------------------------------------------------------------------------
    def set_run(self, name: str, chars_per_step: int) -> None:
        if name not in self.runs:
            self.runs[name] = Run(name, chars_per_step)

    def add_records(self, name: str, records: list[dict[str, Any]], reset: bool = False) -> None:
        run = self.runs.setdefault(name, Run(name, 0))
        if reset:
            run.clear()
        run.add(records)

    def series(self) -> dict[tuple[str, str], tuple[list[float], list[float]]]:
        """What is drawn: (run name, "val" or "train") -> (x, y in the current unit), each at
        most MAX_POINTS points. Training curves only while `show_train`."""
        out = {}
        scale = 1 / LN2 if self.unit == "bits" else 1.0
        kinds = ("val", "train") if self.show_train else ("val",)
        for name, run in self.runs.items():
            xs = run.xs(self.xmode)
            for kind in kinds:
                ys = run.val if kind == "val" else run.train
                series = Series()
                for x, y in zip(xs, ys):
                    if y is not None and not math.isnan(x):
                        series.append(x, y * scale)
                if len(series):
                    out[(name, kind)] = series.sampled(MAX_POINTS)
        return out

    # -- settings -----------------------------------------------------------------------
    def cycle_x(self) -> str:
        self.xmode = XMODES[(XMODES.index(self.xmode) + 1) % len(XMODES)]
        self.replot()
        return self.xmode

    def toggle_train(self) -> bool:
        self.show_train = not self.show_train
        self.replot()
        return self.show_train

    def set_unit(self, unit: str) -> None:
        self.unit = unit
        self.replot()

    # -- drawing ----------------------------------------------------------------------
    def render(self):
        if self._xticks:
            lo, hi = min(self._xticks), max(self._xticks)
            ticks = nice_ticks(lo, hi, max(2, self.size.width // 10))
            self.plt.xticks(ticks, [tick_label(t) for t in ticks])
        return super().render()

    def replot(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.xscale("linear")
        plt.yscale("linear")
        drawn = self.series()
        divisor, suffix = 1.0, ""
        if self.xmode == "time":
            longest = max((max(x) for x, _ in drawn.values() if x), default=0.0)
            divisor, suffix = time_unit(longest)
        ends: list[float] = []
        colours = {name: COLOURS[i % len(COLOURS)] for i, name in enumerate(self.runs)}
        for (name, kind), (xs, ys) in drawn.items():
            xs = [x / divisor for x in xs]
            ends += [xs[0], xs[-1]]
            label = f"{one_line(name, 24)}{' train' if kind == 'train' else ''}"
            plt.plot(xs, ys, label=label, color=colours[name], marker="braille" if kind == "val" else "dot")
        self._xticks = ends
        unit = "bits/char" if self.unit == "bits" else "nats/char"
        what = "validation" + (" and training" if self.show_train else "")
        axis = XLABELS[self.xmode] + (f" ({suffix})" if suffix else "")
        title = f"{what} loss ({unit}) by {axis}"
        plt.title(title if drawn else title + ": no evaluations yet")
        self.refresh()
