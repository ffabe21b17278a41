"""The home table fits the terminal: nothing is cut at its edge, long names and corpora are
shortened in the middle, the least telling columns go first, the name is always in view (End
goes to the last session, never sideways). Names are shown as they are, never as markup."""
from __future__ import annotations

import pytest
from textual.widgets import DataTable
from tui_support import aio, finished_session, wait_for

from workbench.engine.files import write_json_atomic
from workbench.tui.app import WorkbenchApp
from workbench.tui.modals.confirm import ConfirmModal
from workbench.tui.screens.home import HomeScreen
from workbench.tui.widgets.session_table import CELL_PADDING, COLUMNS, fit_columns, row_values

LONG = "tinyshakespeare-lstm-512x2-20261202-1405"


def sessions_with_long_values(tmp_path, corpus):
    sessions = tmp_path / "sessions"
    finished_session(sessions, corpus)
    long = finished_session(sessions, corpus, name=LONG)
    info = long.read_corpus_info()
    write_json_atomic(long.corpus_path, {**info, "name": "anna_small_with_a_long_name"})
    marked = finished_session(sessions, corpus, name="marked")
    write_json_atomic(marked.corpus_path, {**marked.read_corpus_info(), "name": "[red]mark"})  # a file "[red]mark.txt"
    return sessions


def table_state(home: HomeScreen) -> tuple[list[str], int]:
    table = home.query_one(DataTable)
    labels = [str(c.label) for c in table.ordered_columns]
    width = sum(c.width + CELL_PADDING for c in table.ordered_columns)
    return labels, width


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (160, 45)], ids=lambda s: f"{s[0]}x{s[1]}")
@aio
async def test_the_table_fits_and_keeps_the_name(tmp_path, corpus, size):
    sessions = sessions_with_long_values(tmp_path, corpus)
    app = WorkbenchApp(sessions)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.loaded, what="home")
        home = app.screen
        labels, width = table_state(home)
        assert width <= size[0], (labels, width)  # nothing scrolls off the right edge
        assert labels[0] == "Name" and {"State", "Steps", "Best bpc"} <= set(labels)
        for label in labels:  # no header cut short ("Mode", "anna_smal")
            assert label in [c.label for c in COLUMNS]
        if size[0] >= 100:
            assert "Updated" in labels and "Corpus" in labels
        table = home.query_one(DataTable)
        corpus_cells = [str(table.get_cell(r, "corpus")) for r in home.rows] if "Corpus" in labels else []
        if corpus_cells:
            assert "[red]mark" in corpus_cells  # as it is called, not read as markup
            assert all(len(c) <= table.columns["corpus"].width for c in corpus_cells)
        await pilot.press("end")
        await pilot.pause()
        assert table.scroll_x == 0 and table.cursor_row == table.row_count - 1  # the last session, names in view
        last = home.selected_name()
        await pilot.press("delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the question")
        assert app.screen.question.startswith(f"Delete session {last},")
        await pilot.press("n")
        await pilot.press("home")
        await pilot.pause()
        assert table.cursor_row == 0


def test_long_values_are_shortened_in_the_middle_before_columns_go():
    rows = [row_values({"name": LONG, "state": "finished", "steps": 1000, "epoch": 2, "best_val_loss": 1.5,
                        "cell": "lstm", "hidden": 512, "layers": 2, "params": 3_300_000,
                        "corpus": "/home/someone/texts/a-very-long-folder-name/anna_small.txt", "updated": 1.0})]
    wide = fit_columns(rows, 200)
    assert [c.key for c, _ in wide] == [c.key for c in COLUMNS]
    narrow = fit_columns(rows, 100)
    keys = [c.key for c, _ in narrow]
    assert "name" in keys and sum(w + CELL_PADDING for _, w in narrow) <= 100
    assert keys == [c.key for c in COLUMNS if c.key in keys]  # the order is kept
    dropped = [c for c in COLUMNS if c.key not in keys]
    assert all(c.drop is not None for c in dropped)
    assert sorted(c.drop for c in dropped) == sorted(c.drop for c in COLUMNS if c.drop)[:len(dropped)]
