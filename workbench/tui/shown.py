"""Whether a widget's screen can be seen: the top screen, or the one under a dialog."""
from __future__ import annotations

from textual.screen import ModalScreen
from textual.widget import Widget


def on_view(widget: Widget) -> bool:
    """Periodic redraws check this first. Textual treats the screen just below the top one
    as visible even when the top one is opaque (the studio over the training screen) and
    turns each of its repaints into a full repaint of the top screen, so a covered widget
    that kept redrawing would cost CPU (taken from training) for nothing anyone sees."""
    app, screen = widget.app, widget.screen
    if app.screen is screen:
        return True
    stack = app.screen_stack
    return isinstance(app.screen, ModalScreen) and len(stack) >= 2 and stack[-2] is screen
