"""The footer of every screen: Textual's, except that a key that does not fit whole is left out
(never a cut word such as "e Eve"), and the key that lists all of them (`?`, see
modals/keys.py) is always shown, last before the palette. Screens list their bindings most
important first, so a narrow terminal loses the least important ones."""
from __future__ import annotations

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

KEYS_ACTION = "keys"


def key_width(key: FooterKey) -> int:
    """Cells a footer key takes (Textual's default, non-compact style)."""
    width = cell_len(key.key_display) + 2  # the key, padded 0 1
    if key.description:
        width += cell_len(key.description) + 1  # the description, padded 0 1 0 0
    if key.has_class("-command-palette"):
        width += 2  # its border on the left and padding on the right
    return width


class KeyFooter(Footer):
    def __init__(self) -> None:
        super().__init__()
        self._width = 0

    def compose(self) -> ComposeResult:
        widgets = list(super().compose())
        keys = [w for w in widgets if isinstance(w, FooterKey)]
        others = [w for w in widgets if not isinstance(w, FooterKey)]
        palette = [k for k in keys if k.has_class("-command-palette")]
        help_keys = [k for k in keys if k.action == KEYS_ACTION and k not in palette]
        room = (self.size.width or self.app.size.width) - sum(key_width(k) for k in palette + help_keys)
        for key in keys:
            if key in palette or key in help_keys:
                continue
            room -= key_width(key)
            if room < 0:
                break
            yield key
        yield from others
        yield from help_keys
        yield from palette

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self._width:
            self._width = event.size.width
            self.call_after_refresh(self.recompose)
