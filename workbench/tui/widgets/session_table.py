"""The home screen's table of sessions, laid out to the width it has: long names and corpora
shortened in the middle, then the least telling columns left out, so that nothing is cut at the
screen's edge and the name is always in view (the table never needs to scroll sideways, so the
name column is never scrolled away). Every cell is Content (a session or file name is
never read as markup: a corpus called "[red]mark.txt" is listed as that).

Home and End go to the first and last session (a DataTable scrolls sideways on them)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.binding import Binding
from textual.content import Content
from textual.widgets import DataTable

from workbench.engine.formats import count, when
from workbench.engine.units import bits_per_char
from workbench.tui.text import middle, one_line, state_word

STATE_STYLES = {"running": "bold $text-success", "paused": "bold $text-warning", "failed": "bold $text-error",
                "broken": "bold $text-error", "finished": "$text-primary"}
MARK = "\u25cf "


@dataclass(frozen=True)
class Column:
    label: str
    key: str
    shortest: int | None = None
    """Shortened in the middle down to this many cells before columns are left out (None: never)."""
    drop: int | None = None
    """Left out in this order when the table is still too wide (1 first; None: never)."""


# Shown in this order; dropped by `drop` (the epoch and the time of the last update tell least).
COLUMNS = [Column("Name", "name", shortest=18), Column("State", "state", drop=7), Column("Steps", "steps", drop=6),
           Column("Epoch", "epoch", drop=1), Column("Best bpc", "best", drop=5), Column("Model", "model", drop=3),
           Column("Corpus", "corpus", shortest=14, drop=4), Column("Updated", "updated", drop=2)]
CELL_PADDING = 2  # DataTable pads each cell by one on either side


def row_values(r: dict[str, Any]) -> dict[str, str]:
    """A Session.summary() row as plain texts, full length."""
    model = ""
    if r.get("cell"):
        model = f"{r['cell']} {r.get('hidden')}x{r.get('layers')}"
        if r.get("params"):
            model += f" {count(r['params'])}"
    best = r.get("best_val_loss")
    return {
        "name": one_line(str(r["name"]), 100),
        "state": state_word(r.get("state") or "created"),
        "steps": f"{r.get('steps', 0) or 0:,}",
        "epoch": str(r.get("epoch", "")),
        "best": f"{bits_per_char(best):.3f}" if isinstance(best, (int, float)) else "-",
        "model": model,
        "corpus": one_line(str(r.get("corpus", "")), 200),
        "updated": when(r.get("updated")),
    }


def fit_columns(rows: list[dict[str, str]], width: int, extra: dict[str, int] | None = None) -> list[tuple[Column, int]]:
    """The columns shown and their widths, in `width` cells: the natural widths when they fit;
    else the shortenable ones shortened (the longest first, down to their `shortest`); then
    columns left out by their `drop` order. `extra`: cells a column's cells get besides the text
    (the mark before a name)."""
    extra = extra or {}
    natural = {c.key: max([len(c.label), *(len(r[c.key]) + extra.get(c.key, 0) for r in rows)]) for c in COLUMNS}
    shown = list(COLUMNS)
    widths = dict(natural)

    def total() -> int:
        return sum(widths[c.key] + CELL_PADDING for c in shown)

    for column in sorted((c for c in COLUMNS if c.shortest), key=lambda c: -natural[c.key]):
        over = total() - width
        if over <= 0:
            break
        floor = max(column.shortest or 0, len(column.label))
        widths[column.key] = max(floor, widths[column.key] - over)
    for column in sorted((c for c in COLUMNS if c.drop), key=lambda c: c.drop or 0):
        if total() <= width:
            break
        shown.remove(column)
    return [(c, widths[c.key]) for c in shown]


def row_cells(r: dict[str, Any], values: dict[str, str], columns: list[tuple[Column, int]], mark: str | None) -> list[Content]:
    """The row's cells for `columns` (their widths from `fit_columns`); `mark`: the name's
    prefix while some session is marked ("● " or two spaces), else None."""
    cells = []
    for column, width in columns:
        if column.key == "name" and mark is not None:
            text = middle(values["name"], max(1, width - len(mark)))
            cells.append(Content.assemble((mark, "bold $text-accent"), text))
        elif column.key == "state":
            cells.append(Content.styled(values["state"], STATE_STYLES.get(r.get("state") or "created", "")))
        else:
            cells.append(Content(middle(values[column.key], width)))
    return cells


class SessionTable(DataTable):
    BINDINGS = [
        Binding("home", "scroll_top", "First session", show=False),
        Binding("end", "scroll_bottom", "Last session", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
