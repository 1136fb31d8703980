"""The order ticket: labelled fields, a side toggle, the live bid/ask, the notional and money at risk before
sending, and a confirm step. What it sends passes exactly the strategies' risk checks; what came of it is told by
the app once the engine has answered (``bot4.ui.ticket.OrderWatch``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from bot4.ui.render import money, quote
from bot4.ui.ticket import Ticket, TicketError, parse_symbol, preview, read_ticket

if TYPE_CHECKING:
    from bot4.ui.app import Bot4App

LIVE_S = 0.25  # the bid/ask and the preview follow the market this often
DEFAULT_MAX_RISK = 0.02


class OrderTicket(ModalScreen[Ticket | None]):
    """Enter reviews the order, enter again sends it; escape goes back to editing, or closes."""

    BINDINGS = [Binding("escape", "back", "cancel")]

    def __init__(self, symbols: tuple[str, ...], selected: str, side: int = 1) -> None:
        super().__init__()
        self.symbols = symbols
        self.selected = selected
        self.side = side
        self.confirming: Ticket | None = None

    @property
    def bot4(self) -> Bot4App:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="order"):
            yield Label("[b]Manual order[/b] · the same risk checks as the strategies")
            yield Label("", id="quote")
            with Horizontal(classes="field"):
                yield Label("Symbol", classes="field-label")
                yield Input(value=self.selected, id="symbol", compact=True, select_on_focus=False)
            with Horizontal(classes="field"):
                yield Label("Side", classes="field-label")
                yield Button(self._side_label(), id="side", compact=True)
                yield Label(" (press to switch)", classes="hint")
            with Horizontal(classes="field"):
                yield Label("Size", classes="field-label")
                yield Input(placeholder="base units: 0.5, 1,000", id="size", compact=True, select_on_focus=False)
            with Horizontal(classes="field"):
                yield Label("Stop", classes="field-label")
                yield Input(
                    placeholder="stop-loss price (entries need one)", id="stop", compact=True, select_on_focus=False
                )
            with Horizontal(classes="field"):
                yield Label("Limit", classes="field-label")
                yield Input(placeholder="empty = market", id="price", compact=True, select_on_focus=False)
            yield Static("", id="preview")
            yield Label("", classes="result", id="error")
            yield Label("enter: review · enter again: send · esc: back", id="hint")

    def on_mount(self) -> None:
        self.query_one("#size", Input).focus()
        self.update_live()
        self.set_interval(LIVE_S, self.update_live)

    def _side_label(self) -> str:
        return "BUY" if self.side > 0 else "SELL"

    def values(self) -> dict[str, str]:
        return {str(w.id): w.value for w in self.query(Input)}

    def ticket(self) -> Ticket:
        v = self.values()
        return read_ticket(v["symbol"], self.side, v["size"], v["stop"], v["price"], self.symbols)

    def update_live(self) -> None:
        """The symbol's bid/ask now, and the preview at those prices."""
        view = self.bot4.last_view
        if view is None:
            return
        try:
            sym = parse_symbol(self.values()["symbol"], self.symbols)
        except TicketError:
            self.query_one("#quote", Label).update("bid — ask — (which symbol?)")
            return
        pos = next((p for p in view.snapshot.positions() if p.symbol == sym), None)
        if pos is None:
            return
        ccy = quote(view)
        self.query_one("#quote", Label).update(
            f"{sym}  bid [b]{money(pos.bid)}[/b]  ask [b]{money(pos.ask)}[/b]  last {money(pos.last_px)} {ccy}"
        )
        try:
            ticket = self.ticket()
        except TicketError:
            self.query_one("#preview", Static).update("")
            return
        max_risk = view.limits.get("max_risk_per_trade_frac", DEFAULT_MAX_RISK)
        p = preview(ticket, pos.bid, pos.ask, view.snapshot.equity)
        if math.isnan(p.ref_px):
            self.query_one("#preview", Static).update("no market price yet")
            return
        self.query_one("#preview", Static).update("\n".join(p.lines(ticket, ccy, max_risk)))

    def on_input_changed(self, _message: Input.Changed) -> None:
        self._edit()
        self.update_live()

    def on_button_pressed(self, message: Button.Pressed) -> None:
        if message.button.id == "side":
            self.side = -self.side
            message.button.label = self._side_label()
            message.button.set_class(self.side < 0, "-sell")
            self._edit()
            self.update_live()

    def _edit(self) -> None:
        """Any change after a review needs a new review."""
        self.confirming = None
        self.query_one("#hint", Label).update("enter: review · enter again: send · esc: back")
        self.query_one("#order").remove_class("-confirming")

    def on_input_submitted(self, _message: Input.Submitted) -> None:
        error = self.query_one("#error", Label)
        try:
            ticket = self.ticket()
        except TicketError as exc:
            error.update(str(exc))
            return
        error.update("")
        if self.confirming == ticket:
            self.dismiss(ticket)
            return
        self.confirming = ticket
        self.update_live()
        self.query_one("#hint", Label).update("[b]enter again to SEND[/b] · esc: edit")
        self.query_one("#order").add_class("-confirming")

    def action_back(self) -> None:
        if self.confirming is not None:
            self._edit()
        else:
            self.dismiss(None)


class CancelScreen(ModalScreen[int | None]):
    """Pick one open order to cancel (its client order id), or escape."""

    BINDINGS = [Binding("escape", "dismiss", "back")]

    def __init__(self, open_orders: list[dict[str, object]]) -> None:
        super().__init__()
        self.open_orders = open_orders

    def compose(self) -> ComposeResult:
        from textual.widgets import OptionList
        from textual.widgets.option_list import Option

        with Vertical(classes="dialog", id="cancel"):
            yield Label("[b]Cancel one order[/b] · enter cancels the one marked, esc goes back")
            options = []
            for o in self.open_orders:
                px = o.get("price")
                where = "market" if px is None or px != px else f"@ {float(px):,.2f}"  # type: ignore[arg-type]
                filled = float(o.get("filled", 0.0) or 0.0)  # type: ignore[arg-type]
                text = f"{o['side']} {o['symbol']} {float(o['size']):.5f} {o['type']} {where} · filled {filled:.5f}"  # type: ignore[arg-type]
                options.append(Option(text, id=str(o["coid"])))
            yield OptionList(*options, id="cancel-list")

    def on_option_list_option_selected(self, message: object) -> None:
        option_id = getattr(getattr(message, "option", None), "id", None)
        self.dismiss(int(option_id) if option_id else None)
