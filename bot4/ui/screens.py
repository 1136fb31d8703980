"""Modal screens: help, re-arm confirmation (the order ticket: ticket_screen.py)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

HELP_TEXT = """[b]bot4 keys[/b]

  [b]k[/b]        kill switch: HALTED at once, every open order cancelled (no confirmation)
  [b]r[/b]        re-arm after a halt (asks for the confirmation number; refused during the cool-down)
  [b]p[/b]        pause / resume new entries
  [b]s[/b]        next symbol in the market pane
  [b]h[/b]        trades: closed and open trades from the journal, by symbol and day ([b]f[/b] filters)
  [b]a[/b]        strategy: what runs with which settings, what it holds, what it did with its signals
  [b]b[/b]        backtests: open a report bot4 backtest wrote (newest first; [b]1[/b]-[b]3[/b] switch panes there)
  [b]1[/b]-[b]6[/b]      show a pane (under 160 columns, one at a time): market, orders,
           risk, pipeline, breakers, events
  [b]m[/b]        maximize that pane (the banner and positions stay); [b]m[/b] or escape restores
  [b]o[/b]        manual order ticket (same risk checks as the strategies; enter reviews, enter sends)
  [b]c[/b]        cancel one open order
  [b]t[/b]        next theme (dark, light, high contrast)
  [b]ctrl+p[/b]   command palette (the kill switch is there too)
  [b]?[/b]        this help
  [b]q[/b]        quit (the engine stops cleanly)

Escape closes a dialog."""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="help"):
            yield Static(HELP_TEXT)


class RearmScreen(ModalScreen[int | None]):
    """Asks for the halt's confirmation number; returns it (or None when dismissed)."""

    BINDINGS = [Binding("escape", "dismiss", "cancel")]

    def __init__(self, halt_seq: int, wait_s: float) -> None:
        super().__init__()
        self.halt_seq = halt_seq
        self.wait_s = wait_s

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="rearm"):
            yield Label(f"Re-arm trading: type [b]{self.halt_seq}[/b] and press enter.")
            if self.wait_s > 0:
                yield Label(
                    f"Cool-down: {self.wait_s:,.0f} s left (the core will refuse until then).", classes="result"
                )
            yield Input(placeholder="confirmation number", id="confirm")

    def on_input_submitted(self, message: Input.Submitted) -> None:
        text = message.value.strip()
        self.dismiss(int(text) if text.lstrip("-").isdigit() else -1)
