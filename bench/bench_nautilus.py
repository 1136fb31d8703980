"""Head-to-head with NautilusTrader: the same real trade ticks, the same EMA cross, the same fee, one run.

    pip install nautilus_trader          # an optional bench dependency, never a runtime one
    python bench/run.py --only nautilus  # or: python bench/bench_nautilus.py [--ticks N]

The data: every Binance spot BTC/USDT trade of the recorded 11-minute capture the package ships in ``bot4/data``
(19,904 trades), repeated back to back with shifted timestamps up to 1,000,000 ticks. Both sides get exactly those
ticks.

The strategy, the same on both sides: EMAs of the trade price (fast 200, slow 500 ticks, seeded with the first price,
alpha = 2 / (n + 1)); once the slow EMA has seen 500 prices, every change of sign of (fast - slow) flips the position
with market orders: close what is open, then open ORDER_NOTIONAL_USD of BTC the other way (size floored to the
0.00001 BTC step at the signal's price). Taker fee 0.05 % of notional on both. Start equity 100,000 USDT.

- bot4: the lockstep replay path (``bot4.venues.backtest.run_backtest``): the paper venue matches each tick, the
  core runs strategy, sizing and every pre-trade risk check, the venue takes the orders — one compiled loop. Its
  risk settings for this run: the order notional cap makes the size (risk sizing asks for more), stops 2 % away, the
  loss-streak cool-down off; every other check stays on.
- NautilusTrader: ``BacktestEngine`` (low-level API), a MARGIN account on a simulated BINANCE venue (NETTING), the
  same instrument terms, a ``Strategy`` subscribing to trade ticks with NautilusTrader's own
  ``ExponentialMovingAverage``, market orders.

Timed: only each engine's run over the ticks (building tick objects and the engine is outside the clock on both).

Which NautilusTrader path this measures: the ``BacktestEngine`` of ``nautilus_trader.backtest.engine`` (Cython; its
data, risk and execution engines, ``SimulatedExchange`` and ``OrderMatchingEngine`` are ``.pyx``) driving a Python
``Strategy`` subclass, whose ``on_trade_tick`` runs in the interpreter for every tick; prices, quantities, the book
and the clock are Rust underneath (through Cython FFI). It is not NautilusTrader's Rust backtest engine
(``crates/backtest`` in its repository): the 1.221.0 wheel's ``nautilus_pyo3`` has no ``backtest`` module (it
exposes Rust indicators, a ``DataActor`` and a ``LiveNode`` for live venues, no backtest engine, simulated exchange
or data engine), PyPI has no pre-release with one, and building the Rust example needs crates.io, which this
machine cannot reach. ``rust_engine_status()`` checks the installed build and says which case holds.

It needs NautilusTrader and bot4 in one interpreter; NautilusTrader in a venv of its own:

    python3 -m venv /work/venv-nt
    /work/venv-nt/bin/pip install nautilus_trader==1.221.0 numba==0.68.1 orjson platformdirs
    PYTHONPATH=. /work/venv-nt/bin/python bench/bench_nautilus.py
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import Figure  # noqa: E402
from bot4.core.config import CoreConfig, InstrumentConfig, RiskConfig, StrategyConfig  # noqa: E402
from bot4.core.records import SIDE_BUY, TICK_TRADE  # noqa: E402
from bot4.core.runner import Core  # noqa: E402
from bot4.venues.lockstep import run_backtest  # noqa: E402
from bot4.venues.paper import PaperConfig, PaperExchange  # noqa: E402
from bot4.venues.replay import load_csv, repeat_shifted, sample_path  # noqa: E402

DATA = sample_path("binance_spot_BTCUSDT_20240808T2354_20240809T0005_trades.csv.gz")  # the package's shipped sample
FAST, SLOW = 200, 500
ORDER_NOTIONAL_USD = 1_000.0
TAKER_FEE = 0.0005
EQUITY = 100_000.0
STEP = 0.00001


@dataclass
class Side:
    name: str
    seconds: float
    ticks: int
    orders: int
    fills: int
    pnl: float  # realized + unrealized at the last price, after fees
    fees: float
    position: float


def trade_ticks(total: int) -> np.ndarray:
    ticks, _report = load_csv(DATA, 0)
    ticks = ticks[ticks["kind"] == TICK_TRADE]
    return repeat_shifted(ticks, total)


def run_bot4(ticks: np.ndarray) -> Side:
    cfg = CoreConfig(
        instruments=(InstrumentConfig("BTC/USDT", size_step=STEP, price_tick=0.01, min_size=STEP),),
        strategies=(StrategyConfig(kind="ema_cross", fast_period=FAST, slow_period=SLOW, stop_frac=0.02),),
        risk=RiskConfig(
            initial_equity_usd=EQUITY,
            max_order_notional_usd=ORDER_NOTIONAL_USD,
            loss_streak_cooldown_s=0.0,
        ),
    )
    paper = PaperConfig(maker_fee=TAKER_FEE, taker_fee=TAKER_FEE, latency_ms=0.0)
    run_backtest(Core(cfg), PaperExchange(cfg, paper), ticks[:20_000])  # compile / warm
    core, venue = Core(cfg), PaperExchange(cfg, paper)
    seconds = run_backtest(core, venue, ticks)
    snap = core.snapshot()
    pos = snap.positions()[0]
    return Side(
        "bot4",
        seconds,
        snap.stats.counter("ticks_in"),
        snap.stats.counter("orders_out"),
        snap.stats.counter("fills"),
        snap.equity - EQUITY,
        snap.fees,
        pos.qty,
    )


def run_nautilus(ticks: np.ndarray) -> Side:
    import pandas as pd
    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.config import LoggingConfig
    from nautilus_trader.config import StrategyConfig as NtStrategyConfig
    from nautilus_trader.indicators import ExponentialMovingAverage
    from nautilus_trader.model.currencies import BTC, USDT
    from nautilus_trader.model.data import TradeTick
    from nautilus_trader.model.enums import AccountType, OmsType, OrderSide, TimeInForce
    from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
    from nautilus_trader.model.instruments import CurrencyPair
    from nautilus_trader.model.objects import Money, Price, Quantity
    from nautilus_trader.persistence.wranglers import TradeTickDataWrangler
    from nautilus_trader.trading.strategy import Strategy

    venue = Venue("BINANCE")
    instrument = CurrencyPair(
        instrument_id=InstrumentId(Symbol("BTCUSDT"), venue),
        raw_symbol=Symbol("BTCUSDT"),
        base_currency=BTC,
        quote_currency=USDT,
        price_precision=2,
        size_precision=5,
        price_increment=Price(0.01, precision=2),
        size_increment=Quantity(STEP, precision=5),
        lot_size=None,
        max_quantity=Quantity(9000, precision=5),
        min_quantity=Quantity(STEP, precision=5),
        max_notional=None,
        min_notional=None,
        max_price=Price(1_000_000, precision=2),
        min_price=Price(0.01, precision=2),
        margin_init=Decimal(0),
        margin_maint=Decimal(0),
        maker_fee=Decimal(str(TAKER_FEE)),
        taker_fee=Decimal(str(TAKER_FEE)),
        ts_event=0,
        ts_init=0,
    )

    class Config(NtStrategyConfig, frozen=True):
        instrument_id: InstrumentId
        fast: int
        slow: int

    class EmaFlip(Strategy):
        def __init__(self, config: Config) -> None:
            super().__init__(config)
            self.fast = ExponentialMovingAverage(config.fast)
            self.slow = ExponentialMovingAverage(config.slow)
            self.last_dir = 0
            self.orders_sent = 0

        def on_start(self) -> None:
            # the indicators update inside NautilusTrader's compiled data path, before on_trade_tick
            self.register_indicator_for_trade_ticks(self.config.instrument_id, self.fast)
            self.register_indicator_for_trade_ticks(self.config.instrument_id, self.slow)
            self.subscribe_trade_ticks(self.config.instrument_id)

        def on_trade_tick(self, tick: TradeTick) -> None:
            if not self.slow.initialized:
                return
            side = 1 if self.fast.value - self.slow.value >= 0.0 else -1
            if side == self.last_dir:
                return
            self.last_dir = side
            price = tick.price.as_double()
            net = self.portfolio.net_position(self.config.instrument_id)
            if net * side < 0:
                self.close_all_positions(self.config.instrument_id)
                self.orders_sent += 1
            size = math.floor(ORDER_NOTIONAL_USD / price / STEP) * STEP
            order = self.order_factory.market(
                instrument_id=self.config.instrument_id,
                order_side=OrderSide.BUY if side > 0 else OrderSide.SELL,
                quantity=Quantity(size, precision=5),
                time_in_force=TimeInForce.GTC,  # fills in full, walking the book like bot4's market orders
            )
            self.submit_order(order)
            self.orders_sent += 1

    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR"), run_analysis=False))
    engine.add_venue(
        venue=venue,
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        base_currency=USDT,
        starting_balances=[Money(EQUITY, USDT)],
        default_leverage=Decimal(3),
    )
    engine.add_instrument(instrument)
    frame = pd.DataFrame(
        {
            "price": ticks["price"],
            "quantity": ticks["size"],
            "side": np.where(ticks["side"] == SIDE_BUY, "BUY", "SELL"),
            "trade_id": ticks["seq"].astype(str),
        },
        index=pd.to_datetime(ticks["ts_exch_ns"], unit="ns", utc=True),
    )
    engine.add_data(TradeTickDataWrangler(instrument).process(frame))
    strategy = EmaFlip(Config(instrument_id=instrument.id, fast=FAST, slow=SLOW))
    engine.add_strategy(strategy)
    start = time.perf_counter()
    engine.run()
    seconds = time.perf_counter() - start
    account = engine.portfolio.account(venue)
    net = float(engine.portfolio.net_position(instrument.id))
    orders = engine.cache.orders()
    fills = sum(1 for o in orders for e in o.events if type(e).__name__ == "OrderFilled")
    fees = sum(float(m) for o in orders for m in o.commissions())
    unrealized = engine.portfolio.unrealized_pnl(instrument.id)
    pnl = float(account.balance_total(USDT)) - EQUITY + (float(unrealized) if unrealized is not None else 0.0)
    side = Side("nautilus", seconds, len(ticks), strategy.orders_sent, fills, pnl, fees, net)
    engine.dispose()
    return side


def compare(total: int, rounds: int) -> tuple[list[Side], list[Side]]:
    ticks = trade_ticks(total)
    ours = [run_bot4(ticks) for _ in range(max(3, rounds))]  # half a second each: always the median of three
    theirs = [run_nautilus(ticks) for _ in range(rounds)]
    return ours, theirs


def nautilus_version() -> str | None:
    try:
        import nautilus_trader
    except ImportError:
        return None
    return str(nautilus_trader.__version__)


def rust_engine_status() -> str:
    """Whether this NautilusTrader build exposes its Rust backtest engine to Python (``nautilus_pyo3.backtest``)."""
    try:
        from nautilus_trader.core import nautilus_pyo3
    except ImportError:
        return "no nautilus_pyo3 in this build"
    backtest = getattr(nautilus_pyo3, "backtest", None)
    if backtest is None:
        return "nautilus_pyo3 has no backtest module: the Rust engine cannot be run from Python with this build"
    names = sorted(n for n in dir(backtest) if not n.startswith("_"))
    return f"nautilus_pyo3.backtest exposes {', '.join(names)}: not measured by this bench yet"


def med(sides: list[Side]) -> Side:
    return sorted(sides, key=lambda s: s.seconds)[len(sides) // 2]


def run(quick: bool) -> list[Figure]:
    version = nautilus_version()
    if version is None:
        print("# nautilus: skipped (pip install nautilus_trader to run the head-to-head)", file=sys.stderr)
        return []
    print(f"# nautilus: measured its Python Strategy path; Rust engine: {rust_engine_status()}", file=sys.stderr)
    ours, theirs = compare(1_000_000, 1 if quick else 3)  # NautilusTrader: about 5 s per round here
    a, b = med(ours), med(theirs)
    ra, rb = a.ticks / a.seconds, b.ticks / b.seconds
    note_a = (
        f"{a.ticks:,} ticks {a.seconds:.2f} s, {a.orders} orders {a.fills} fills, pnl {a.pnl:,.2f} fees {a.fees:,.2f}"
    )
    note_b = (
        f"NautilusTrader {version} BacktestEngine + Python Strategy: {b.seconds:.2f} s, "
        f"{b.orders} orders {b.fills} fills, "
        f"pnl {b.pnl:,.2f} fees {b.fees:,.2f}"
    )
    return [
        Figure(
            "replay_path_vs_nt_ticks_per_s",
            ra,
            "tick/s",
            baseline="nautilus_ticks_per_s",
            higher_is_better=True,
            note=note_a,
        ),
        Figure("nautilus_ticks_per_s", rb, "tick/s", higher_is_better=True, note=note_b),
        Figure(
            "replay_vs_nautilus_ratio", ra / rb, "x", ">= 20", higher_is_better=True, note="same ticks, EMA cross, fee"
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ticks", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    version = nautilus_version()
    if version is None:
        print("NautilusTrader is not installed: pip install nautilus_trader", file=sys.stderr)
        return 2
    print(f"NautilusTrader {version}: BacktestEngine driving a Python Strategy (the path measured)")
    print(f"its Rust backtest engine: {rust_engine_status()}")
    ours, theirs = compare(args.ticks, args.rounds)
    print(f"{'':10} {'wall s':>8} {'ticks/s':>12} {'orders':>8} {'fills':>8} {'pnl':>12} {'fees':>10} {'position':>10}")
    for s in (med(ours), med(theirs)):
        print(
            f"{s.name:10} {s.seconds:8.3f} {s.ticks / s.seconds:12,.0f} {s.orders:8} {s.fills:8} "
            f"{s.pnl:12,.2f} {s.fees:10,.2f} {s.position:10.5f}"
        )
    ratio = (med(ours).ticks / med(ours).seconds) / (med(theirs).ticks / med(theirs).seconds)
    print(
        f"ratio (median runs): {ratio:.1f}x  (bot4 runs {[round(s.seconds, 3) for s in ours]}, "
        f"NautilusTrader {version} runs {[round(s.seconds, 3) for s in theirs]})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
