"""The bot4 workstation app: builds the main screen, refreshes it from the engine at 10 Hz, maps keys to commands."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.markup import escape
from textual.screen import Screen

from bot4.backtest.report import REPORTS_DIR, report_dirs
from bot4.runtime.grid import sleep_on_grid
from bot4.runtime.trades import pair_trades
from bot4.ui.events import event_line, fill_line
from bot4.ui.model import PipelineModel
from bot4.ui.refusals import reason_words
from bot4.ui.render import clock, events_markup, fill_time, positions_markup, quote
from bot4.ui.render_strategy import DecisionLog
from bot4.ui.report_picker import ReportPicker
from bot4.ui.report_screen import ReportScreen
from bot4.ui.screens import HelpScreen, RearmScreen
from bot4.ui.source import LocalSource, View
from bot4.ui.strategy_screen import StrategyScreen
from bot4.ui.themes import THEME_NAMES, use_themes
from bot4.ui.ticket import OrderWatch, Ticket
from bot4.ui.ticket_screen import CancelScreen, OrderTicket
from bot4.ui.trades_screen import TradesScreen
from bot4.ui.widgets.banner import StateBanner
from bot4.ui.widgets.kept import Grid, KeyFooter, MainScreen
from bot4.ui.widgets.panes import Pane, main_panes
from bot4.ui.widgets.tabs import TABS, TabBar

REFRESH_S = 0.1
ORDER_WATCH_S = 15.0  # how long the app waits for the engine's answer to a ticket before pointing at the panes
COMPACT_BELOW = 160  # columns: narrower terminals get the compact layout (positions on top, one pane at a time)
EVENTS_KEPT = 300
MANUAL_EVERY = 20  # frames between two readings of which open positions are manual (the journal is read)
FILLS_REMEMBERED = 1000  # fills already put in the events (the views repeat the last 30 each frame)


class UiLogHandler(logging.Handler):
    """Sends the engine's log events to the app's event pane."""

    def __init__(self, app: Bot4App) -> None:
        super().__init__(logging.INFO)
        self.app = app

    QUIET = frozenset({"order_rejected"})  # shown, grouped, in the orders pane: the event log would scroll with them

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "event", None) in self.QUIET:
            return
        fields = getattr(record, "fields", {})
        name = getattr(record, "event", None)
        view = self.app.last_view
        if name is None:
            self.app.log_lines.append(f"{self.app.event_clock()} {escape(record.getMessage())}")
            return
        self.app.log_lines.append(event_line(self.app.event_clock(), name, fields, quote(view) if view else "USD"))


class Bot4App(App[int]):
    """The workstation. ``source`` is where views come from and commands go."""

    CSS_PATH = str(Path(__file__).with_name("app.tcss"))  # absolute, so subclasses elsewhere find it
    TITLE = "bot4"
    BINDINGS = [
        Binding("k", "kill", "KILL", priority=True),
        Binding("r", "rearm", "re-arm"),
        Binding("p", "pause", "pause"),
        Binding("o", "order", "order"),
        Binding("c", "cancel_order", "cancel", show=False),
        Binding("h", "trades", "trades"),
        Binding("a", "strategy", "strategy", show=False),
        Binding("b", "backtests", "backtests", show=False),
        Binding("m", "maximize_pane", "max"),
        Binding("s", "next_symbol", "symbol", show=False),
        Binding("t", "next_theme", "theme", show=False),
        Binding("question_mark", "help", "help"),
        Binding("q", "quit", "quit"),
        *(Binding(str(i), f"tab('{pane_id}')", label, show=False) for i, (pane_id, label) in enumerate(TABS, 1)),
    ]

    def __init__(
        self,
        source: LocalSource,
        theme: str = "bot4-dark",
        run_for: float | None = None,
        reports_dir: Path = REPORTS_DIR,
    ) -> None:
        super().__init__()
        use_themes(self, theme)
        self.source = source
        self.run_for = run_for
        self.reports_dir = reports_dir  # where the b key looks for backtest reports (bot4 backtest's default)
        self.selected = source.symbols[0]
        self.pipeline = PipelineModel()
        self.log_lines: list[str] = []
        self.events: deque[str] = deque(maxlen=EVENTS_KEPT)
        self.tab = TABS[0][0]
        self._order_watches: list[tuple[OrderWatch, float]] = []
        self._fills_seen: set[tuple[object, ...]] = set()
        self._manual: frozenset[str] = frozenset()
        self.decisions = DecisionLog()  # the strategy's orders and refusals, for the Strategy screen
        self._fills_order: deque[tuple[object, ...]] = deque()
        self.compact: bool | None = None
        self.paused = False
        self.last_view: View | None = None
        self.frames = 0
        self._widgets: tuple[StateBanner, list[Pane]] | None = None
        self.first_frame_s: float | None = None
        self.started = time.perf_counter()

    def compose(self) -> ComposeResult:
        with Vertical(id="top"):  # kept on screen when a pane is maximized
            yield StateBanner(id="banner")
            positions = Pane("positions", positions_markup, every=3, id="positions")
            positions.styles.height = len(self.source.symbols) + 3  # the account line, a line a symbol, the border
            yield positions
            yield TabBar(id="tabs")
        with Grid(id="grid"):
            yield from main_panes()
            yield Pane("events (UTC, market time)", events_markup, every=1, id="events", sized=True)
        yield KeyFooter()

    def get_default_screen(self) -> Screen:
        return MainScreen(id="_default")

    def on_mount(self) -> None:
        self.title_panes()
        self.apply_layout(self.size.width)
        self.refresh_view()
        self.run_worker(self._refresh_loop(), name="refresh", group="refresh", exit_on_error=True)
        if self.run_for is not None:
            self.set_timer(self.run_for, self.action_quit)

    # --- refresh ----------------------------------------------------------------------------------------------------
    async def _refresh_loop(self) -> None:
        """Refresh every REFRESH_S on the event loop's grid: with a local engine, whose feed and watchers sleep on the
        same grid, the frame is drawn in the same wake-up of the thread as their work (a Textual interval keeps its
        own phase, and each extra wake-up of the thread costs more than a frame's work here)."""
        while True:
            await sleep_on_grid(REFRESH_S)
            self.refresh_view()

    def clock(self) -> float:
        """Seconds for the per-second latency windows (a test freezes it)."""
        return time.monotonic()

    def build_view(self) -> View:
        snap = self.source.snapshot()
        self.pipeline.update(snap, self.clock())
        act = self.source.activity(self.selected)
        return View(
            snapshot=snap,
            symbols=self.source.symbols,
            selected=self.selected,
            orders=act["orders"],  # type: ignore[arg-type]
            fills=act["fills"],  # type: ignore[arg-type]
            rejects=act["rejects"],  # type: ignore[arg-type]
            transitions=act["transitions"],  # type: ignore[arg-type]
            prices=act["prices"],  # type: ignore[arg-type]
            open_orders=act.get("open", []),  # type: ignore[arg-type]
            trades=act.get("trades", {}).get(self.selected, []),  # type: ignore[attr-defined]
            limits=act.get("limits", {}),  # type: ignore[arg-type]
            rates=dict(self.pipeline.rates),
            latency=self.pipeline.rows(snap),  # type: ignore[arg-type]
            gate_open=bool(act["gate_open"]),
            paused=snap.paused,
            source=self.source.name,
            connected=getattr(self.source, "connected", True),
        )

    def _main_widgets(self) -> tuple[StateBanner, list[Pane]] | None:
        """The main screen's banner and panes (looked up once: a CSS query per frame costs)."""
        if self._widgets is None:
            try:
                main = self.screen_stack[0]
                self._widgets = (main.query_one(StateBanner), list(main.query(Pane).results(Pane)))
            except (IndexError, NoMatches):
                return None  # the app is starting or closing: the main screen's panes are not there to refresh
        return self._widgets

    def refresh_view(self, force: bool = False) -> None:
        """Draw a frame; ``force``: every pane now (a layout change: the ones just shown would wait their turn)."""
        widgets = self._main_widgets()
        if widgets is None:
            return
        banner, panes = widgets
        view = self.build_view()
        self._note_fills(view)
        self.decisions.take(view)
        while self.log_lines:
            self.events.append(self.log_lines.pop(0))
        if self.frames % MANUAL_EVERY == 0:
            self._manual = self.manual_positions()
        view = replace(view, events=tuple(self.events), manual=self._manual)
        self.last_view = view
        banner.view = view
        for pane in panes:
            if force or (self.frames % pane.every == 0 and pane.display):
                pane.show_view(view)
        top = self.screen_stack[-1] if self.screen_stack else None  # (none while the app closes)
        if isinstance(top, (TradesScreen, StrategyScreen)):  # the state stays live on those screens too
            for screen_banner in top.query(StateBanner):  # none while the screen is still being composed
                screen_banner.view = view
        self._follow_orders()
        self.frames += 1
        if self.first_frame_s is None:
            self.first_frame_s = time.perf_counter() - self.started

    def title_panes(self) -> None:
        """The running strategy and its parameters in the titles of the panes that show positions."""
        running = " + ".join(s.split(" · ")[0] for s in self.source.strategies())
        if running:
            main = self.screen_stack[0]
            for pane_id, name in (("#positions", "positions"), ("#risk", "risk")):
                pane = main.query_one(pane_id, Pane)
                pane.title = pane.border_title = f"{name} · {running}"

    def manual_positions(self) -> frozenset[str]:
        """Symbols whose open trade a person opened, from the journal's fills."""
        _closed, opened = pair_trades(self.source.trade_fills()[0])
        return frozenset(t.symbol for t in opened if t.manual)

    def event_clock(self) -> str:
        """The events' clock: the market's (the tape's, and on recorded data the replay's), else the wall's."""
        view = self.last_view
        ns = view.snapshot.market_clock_ns if view is not None else 0
        return clock(ns / 1e9) if ns > 0 else time.strftime("%H:%M:%S", time.gmtime())

    def _note_fills(self, view: View) -> None:
        """Our new fills into the events, at their venue time (stop hits and kill exits named)."""
        ccy = quote(view)
        for f in view.fills:
            key = (f.get("coid"), f.get("ts"), f.get("size"), f.get("price"))
            if key in self._fills_seen:
                continue
            self._fills_seen.add(key)
            self._fills_order.append(key)
            if len(self._fills_order) > FILLS_REMEMBERED:
                self._fills_seen.discard(self._fills_order.popleft())
            self.log_lines.append(fill_line(clock(fill_time(f)), f, ccy))

    # --- layout -----------------------------------------------------------------------------------------------------
    def on_resize(self, event: events.Resize) -> None:
        self.apply_layout(event.size.width)

    def apply_layout(self, width: int) -> None:
        """The wide grid from COMPACT_BELOW columns, else the compact layout: banner, positions, a tab bar and one
        pane at a time (keys 1-6), so positions, PnL and the state stay on screen at 80x24."""
        try:
            main = self.screen_stack[0]
        except IndexError:
            return
        compact = width < COMPACT_BELOW
        if compact != self.compact:
            self.compact = compact
            main.set_class(compact, "-compact")
            for footer in main.query(KeyFooter):
                footer.compact = compact
        self._show_tab(self.tab)

    def _show_tab(self, pane_id: str) -> None:
        main = self.screen_stack[0]
        self.tab = pane_id
        for pane in main.query("#grid > Pane"):
            pane.set_class(pane.id == pane_id, "-current")
        for bar in main.query(TabBar):
            bar.current = pane_id
            bar.maximized = main.maximized is not None
        self.refresh_view(force=True)

    def action_tab(self, pane_id: str) -> None:
        main = self.screen_stack[0]
        if main.maximized is not None:
            main.maximize(main.query_one(f"#{pane_id}", Pane), container=False)
        self._show_tab(pane_id)

    def action_maximize_pane(self) -> None:
        """Fill the screen with the current pane (keys 1-6 choose it), banner and positions kept; again (or escape)
        restores the layout."""
        main = self.screen_stack[0]
        if self.screen is not main:
            return
        if main.maximized is not None:
            main.minimize()
        else:
            main.maximize(main.query_one(f"#{self.tab}", Pane), container=False)
        self._show_tab(self.tab)

    # --- actions ----------------------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The main screen's layout keys (tabs, maximize) only there; a screen's own key not on that screen (the
        backtests key not over a report or its list)."""
        if action in ("tab", "maximize_pane") and self.screen is not self.screen_stack[0]:
            return False
        if action == "strategy" and isinstance(self.screen, StrategyScreen):
            return False
        if action == "backtests" and isinstance(self.screen, ReportPicker | ReportScreen):
            return False
        return not (action == "trades" and isinstance(self.screen, TradesScreen))

    def _not_sent(self, what: str) -> None:
        self.notify(f"NOT SENT: {what} — the engine is not connected", severity="error", timeout=8)

    def action_kill(self) -> None:
        if self.source.kill() is False:  # attached and the link is down: say so, never a false confirmation
            self._not_sent("KILL (use kill -USR1 or a KILL file on the engine's host)")
            return
        self.notify("KILL SWITCH: trading halted, open orders cancelled", severity="error")
        self.refresh_view()

    def action_rearm(self) -> None:
        snap = self.source.snapshot()
        if snap.trading_state != "HALTED":
            self.notify("not halted: nothing to re-arm")
            return

        def done(value: int | None) -> None:
            if value is None:
                return
            if self.source.rearm(value) is False:
                self._not_sent("re-arm")
                return
            self.set_timer(0.3, self._report_command)

        self.push_screen(RearmScreen(snap.halt_seq, snap.rearm_wait_s), done)

    def _report_command(self) -> None:
        seq, _kind, result = self.source.snapshot().last_command
        if result == "ok":
            self.notify("done")
        else:
            self.notify(f"refused: {reason_words(result)}", severity="warning")
        self.refresh_view()

    def action_pause(self) -> None:
        if self.source.snapshot().paused:
            if self.source.resume() is False:
                self._not_sent("resume")
                return
            self.notify("entries resumed")
        else:
            if self.source.pause() is False:
                self._not_sent("pause")
                return
            self.notify("entries paused (exits and stops still work)")

    def action_next_symbol(self) -> None:
        symbols = self.source.symbols
        self.selected = symbols[(symbols.index(self.selected) + 1) % len(symbols)]
        self.refresh_view()

    def action_order(self) -> None:
        def done(ticket: Ticket | None) -> None:
            if ticket is not None:
                self.send_order(ticket)

        self.push_screen(OrderTicket(self.source.symbols, self.selected), done)

    def send_order(self, ticket: Ticket) -> None:
        """Send a ticket and say what the engine made of it once it has answered (refused with its numbers, filled,
        filled in part with the rest expired, working at its limit)."""
        known = {int(o.get("coid", 0)) for o in self.source.activity(self.selected)["orders"]}  # type: ignore[attr-defined]
        seq = self.source.manual_order(ticket.symbol, ticket.side, ticket.size, ticket.stop_px, ticket.price)
        if seq < 0 and not getattr(self.source, "connected", True):
            self._not_sent("order")
            return
        watch = OrderWatch(ticket, known, seq if seq > 0 else 0)
        self._order_watches.append((watch, time.monotonic() + ORDER_WATCH_S))

    def _follow_orders(self) -> None:
        """Each frame: the answers to the orders sent from the ticket."""
        if not self._order_watches:
            return
        snap = self.source.snapshot()
        act = self.source.activity(self.selected)
        ccy = quote(self.last_view) if self.last_view is not None else "USD"
        now = time.monotonic()
        still = []
        for watch, deadline in self._order_watches:
            said = watch.outcome(snap.last_command, act, ccy)
            if said is None and now < deadline:
                still.append((watch, deadline))
                continue
            said = said or "no answer from the engine yet: see the orders pane"
            t = watch.ticket
            line = f"{'buy' if t.side > 0 else 'sell'} {t.size:,.8g} {t.symbol}: {said}"
            refused = said.startswith(("refused", "not filled"))
            self.notify(line, severity="warning" if refused else "information", timeout=8)
            self.events.append(f"[$foreground-muted]{self.event_clock()}[/] manual order {escape(line)}")
        self._order_watches = still

    def action_cancel_order(self) -> None:
        """Pick one open order and cancel it."""
        open_orders = list(self.source.activity(self.selected).get("open", []))  # type: ignore[call-overload]
        if not open_orders:
            self.notify("no open orders to cancel")
            return

        def done(coid: int | None) -> None:
            if coid is None:
                return
            if self.source.cancel(coid):
                self.notify(f"cancel sent for order {coid}")
                self.set_timer(0.3, self._report_command)
            else:
                self.notify(
                    "cancelling one order needs a local engine (the control API has no cancel yet)", severity="warning"
                )

        self.push_screen(CancelScreen(open_orders), done)

    def action_next_theme(self) -> None:
        names = list(THEME_NAMES)
        self.theme = names[(names.index(self.theme) + 1) % len(names)] if self.theme in names else names[0]
        self.notify(f"theme {self.theme}")

    def action_trades(self) -> None:
        """The Trades screen: the journal's history, every symbol (``f`` there filters)."""
        if not isinstance(self.screen, TradesScreen):
            self.push_screen(TradesScreen())

    def action_strategy(self) -> None:
        """The Strategy screen: what runs with which settings, what it holds and what it did with its signals."""
        if not isinstance(self.screen, StrategyScreen):
            self.push_screen(StrategyScreen())

    def action_backtests(self) -> None:
        """The reports ``bot4 backtest`` wrote, newest first; enter opens one on the Report screen."""
        try:
            dirs = report_dirs(self.reports_dir)
        except ValueError as exc:
            self.notify(escape(str(exc)), severity="warning", timeout=8)
            return
        if not dirs:
            where = escape(str(self.reports_dir.resolve()))
            self.notify(f"no backtest reports in {where} yet (bot4 backtest writes them there)", severity="warning")
            return
        self.push_screen(ReportPicker(dirs, self.reports_dir))

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def screenshot_dir(self) -> Path:
        """Where screenshots go: the engine's state directory when it runs here, else the working directory (never
        a ~/Downloads that may not exist)."""
        engine = getattr(self.source, "engine", None)
        folder = Path(getattr(engine, "state_dir", None) or Path.cwd())
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str | None:
        return super().deliver_screenshot(filename, path or str(self.screenshot_dir()), time_format)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield SystemCommand("KILL SWITCH", "Halt trading now and cancel every open order", self.action_kill)
        yield SystemCommand("Re-arm", "Leave HALTED (asks for confirmation)", self.action_rearm)
        yield SystemCommand("Pause / resume entries", "Mute or unmute the strategies' entries", self.action_pause)
        yield SystemCommand("Manual order", "Enter an order that passes the same risk checks", self.action_order)
        yield SystemCommand(
            "Trades", "Closed and open trades from the journal, by symbol and by day", self.action_trades
        )
        yield SystemCommand(
            "Strategy", "What runs with which settings, and what it did with its signals", self.action_strategy
        )
        yield SystemCommand(
            "Backtest reports", "Open a report bot4 backtest wrote (newest first)", self.action_backtests
        )
        yield from super().get_system_commands(screen)
