"""Asking for a file path (where to save a sample). Enter applies, Escape cancels."""
from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from workbench.engine.errors import WorkbenchError
from workbench.tui.modals.prompt import EngineCheck, FormModal


def check_path(text: str) -> None:
    if not text:
        raise WorkbenchError("give a file path")
    path = Path(text).expanduser()
    if path.is_dir():
        raise WorkbenchError(f"{path} is a folder; give a file name inside it")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise WorkbenchError(f"{parent} is a file, not a folder")
            break


class PathModal(FormModal):
    """Dismisses with a Path or None."""

    def __init__(self, question: str, default: Path | str, label: str = "file") -> None:
        super().__init__()
        self.TITLE_TEXT = question
        self.default = str(default)
        self.label = label

    def fields(self) -> list[tuple[str, str, Input]]:
        return [("path", self.label, Input(self.default, id="path", compact=True,
                                           validators=[EngineCheck(str, check_path, "a path")]))]

    def action_apply(self) -> None:
        if self._all_valid():
            self.dismiss(Path(self.query_one("#path", Input).value.strip()).expanduser())
