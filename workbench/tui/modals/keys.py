"""Every key of the screen it was opened on (`?`, or f1 where fields take typing), with what it
does, including the keys the footer has no room for; and a few lines on reading the screen."""
from __future__ import annotations

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

# Keys every screen has that are not bindings of its own.
APP_KEYS = [("^p", "Command palette: every action by name"), ("^q", "Quit workbench (training goes on)")]


def screen_keys(screen: Screen) -> list[tuple[str, str, bool]]:
    """(key, what it does, usable now) for the screen's own bindings, in their order. A binding
    its screen hides just now (Pause on a finished session) is left out; a dimmed one is kept."""
    rows: list[tuple[str, str, bool]] = []
    seen: set[str] = set()
    app = screen.app
    for active in screen.active_bindings.values():
        binding: Binding = active.binding
        if active.node is not screen or not binding.id or not binding.description or binding.action in seen:
            continue
        seen.add(binding.action)
        rows.append((app.get_key_display(binding), binding.tooltip or binding.description, active.enabled))
    return rows


class KeysModal(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,f1,q", "dismiss", "Close", id="keys.close")]

    def __init__(self, title: str, rows: list[tuple[str, str, bool]], about: str = "") -> None:
        super().__init__()
        self.title_text, self.rows, self.about = title, rows, about

    def compose(self) -> ComposeResult:
        rows = [*self.rows, *((key, what, True) for key, what in APP_KEYS)]
        width = max(cell_len(key) for key, _, _ in rows) + 2
        with Vertical(classes="dialog keys-dialog"):
            with VerticalScroll():
                yield Static(Content.styled(self.title_text, "bold $text-accent"), classes="keys-title")
                for key, what, enabled in rows:  # two columns: a long description wraps under itself
                    key_cell = Static(Content.styled(key, "bold $text-accent"), classes="keys-key")
                    key_cell.styles.width = width
                    yield Horizontal(key_cell, Static(Content.styled(what + ("" if enabled else " (not now)"),
                                                                     "" if enabled else "$text-muted"),
                                                      classes="keys-what"), classes="keys-row")
                if self.about:
                    yield Static(Content.styled(self.about, "$text-muted"), classes="keys-about")
                yield Static(Content.styled("escape closes", "$text-muted"), classes="keys-about")

    @property
    def text(self) -> str:
        """Everything the dialog says, as plain text (for tests)."""
        return "\n".join(str(w.render()) for w in self.query(Static))
