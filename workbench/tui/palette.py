"""The command palette (ctrl+p) offers every key binding of the screen it was opened on, so
every action is reachable by name as well as by key."""
from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


class ScreenActions(Provider):
    """One command per footer binding of the calling screen that is active now, named by its
    tooltip (Textual's own hidden bindings, such as focus moves, are left out)."""

    def _commands(self):
        seen = set()
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if active.node is not self.screen or not binding.show or not binding.description or not active.enabled:
                continue
            if binding.action in seen:
                continue
            seen.add(binding.action)
            keys = binding.key_display or self.app.get_key_display(binding)
            title = binding.tooltip or binding.description  # the footer's word is short
            help_text = f"key: {keys}"
            yield title, help_text, partial(self.app.run_action, binding.action, active.node)

    async def discover(self) -> Hits:
        for title, help_text, run in self._commands():
            yield DiscoveryHit(title, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, run in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), run, help=help_text)
