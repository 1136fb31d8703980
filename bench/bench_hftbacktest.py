"""L2 head-to-head with hftbacktest: the same recorded Binance capture, the same rules, one run, one machine.

    python3 -m venv /work/venv-hbt && /work/venv-hbt/bin/pip install hftbacktest==2.4.4   # its own venv: its pins
    .venv/bin/python bench/bench_hftbacktest.py [--hbt-python PATH] [--rounds 3] [--latency-ms 1.0]
    python bench/run.py --only hftbacktest            # the same, as figures (skipped in --quick)

The data: the Binance spot BTC/USDT capture of 2024-08-08 23:54 - 2024-08-09 00:05 in ``../shared/data/l2`` (the
depth and trades files derived from hftbacktest's own ``examples/spot`` capture: 2,000 snapshot levels, 298,111 diff
levels, 19,904 trades). bot4 loads them with ``bot4.venues.replay.load_csv`` (the diffs received before the REST
snapshot follow it, those it already holds are dropped) and ``merge_by_time``; hftbacktest gets exactly those rows,
in that order, as its events (``hbt_events``): a diff level is DEPTH_EVENT, a snapshot level DEPTH_SNAPSHOT_EVENT
after one DEPTH_CLEAR_EVENT, a print TRADE_EVENT with its taker side, each flagged EXCH_EVENT | LOCAL_EVENT with
exch_ts = local_ts = the capture's receive time, bot4's one clock (the Binance event times run 1.27 s ahead of the
capture machine's clock in this file, and bot4 keeps no second clock), so neither side models a feed delay. hftbacktest
2.4.4 ships no Binance *spot* converter (``data.utils.binancefutures.convert`` stops on the spot stream: a spot
``depthUpdate`` has no ``T``, a spot trade no ``X``), which is why the events are built here rather than converted.

1. EMA cross, market orders at the touch (``EmaTarget`` in ``hbt_strategies.py``, ``ema_loop`` in ``hbt_side.py``):
   EMAs 20 / 100 of the trade prices (seeded with the first price, alpha = 2 / (n + 1)), the side wanted = sign(fast -
   slow) from the 100th print on, the position moved to side x 0.001 BTC with market orders (a flip: the close, then
   the entry once flat), taker fee 0.05 % on both, no order latency. bot4: the SDK strategy calling ``target`` at each
   print and each book message; every pre-trade risk check runs, the order-rate bucket and the loss-streak pause are
   opened, and the mandatory stop is 50 % from the entry (it never triggers: BTC moved well under 1 % here).
   hftbacktest: ``NoPartialFillExchange`` (a market order fills in full at the best price), ``RiskAdverseQueueModel``.
2. Native L2 with a queue model (``JoinBest`` / ``join_loop``): one post-only limit buy at the best bid and one sell
   at the best ask at all times; after each book message a resting order no longer at its side's best is cancelled and
   an empty side joins the best again; floor(100 USDT / price) to the 0.00001 BTC step per order (bot4's sizing under
   a 100 USDT notional cap), maker fee 0.02 %. bot4: the paper venue's queue model (an order joins behind the size
   shown at its price; prints there against its side use that up, then fill it; a level shrinking below the size ahead
   takes it down: the risk-averse model). hftbacktest: ``PartialFillExchange`` + ``RiskAdverseQueueModel`` (the same
   queue rule, partial fills from the front of the queue). Run at 0 and at ``--latency-ms`` order entry latency on
   both (hftbacktest: constant entry latency, 0 response latency: bot4's venue answers within the same tick).

Timed: bot4's ``Lockstep.replay`` over the ticks (venue, core and strategy in one compiled loop, the order and report
taps drained to arrays), hftbacktest's ``njit`` strategy loop from the first ``wait_next_feed`` to the end of the
data (building its backtest, which copies the events, is outside the clock). Each side warms up on a short slice
first and runs ``--rounds`` times; medians are reported. Events per second: rows through each loop (bot4: depth levels
and prints; hftbacktest: the same rows plus its one clear event).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import Figure  # noqa: E402
from bot4.core.book import DEPTH_CLEAR, DEPTH_SNAPSHOT, book_counts  # noqa: E402
from bot4.core.config import CoreConfig, InstrumentConfig, RiskConfig, StrategyConfig  # noqa: E402
from bot4.core.records import (  # noqa: E402
    ACTION_CANCEL,
    ACTION_SUBMIT,
    EXEC_EXPIRED,
    EXEC_FILL,
    EXEC_REJECTED,
    LIQUIDITY_MAKER,
    SIDE_BUY,
    TICK_DEPTH,
    TICK_TRADE,
)
from bot4.core.runner import Core  # noqa: E402
from bot4.venues.lockstep import Lockstep  # noqa: E402
from bot4.venues.paper import PaperConfig, PaperExchange  # noqa: E402
from bot4.venues.replay import load_csv, merge_by_time, sample_path  # noqa: E402

SHARED_L2 = ROOT.parent / "shared" / "data" / "l2"  # the developer data set; the package ships the same two files
STEM = "binance_spot_BTCUSDT_20240808T2354_20240809T0005"
DEFAULT_HBT_PYTHON = "/work/venv-hbt/bin/python"
STRATEGIES = ROOT / "bench" / "hbt_strategies.py"

STEP, TICK = 0.00001, 0.01
FAST, SLOW, QTY = 20, 100, 0.001
TAKER_FEE, MAKER_FEE = 0.0005, 0.0002
NOTIONAL = 100.0  # USDT per join order
STOP_FRAC = 0.5  # the largest stop the SDK allows: 50 % away, never reached in an 11-minute capture
EQUITY = 100_000.0

# hftbacktest's event layout and flags (hftbacktest.types), written out: this interpreter need not have it
HBT_EVENT_DTYPE = np.dtype(
    [("ev", "u8"), ("exch_ts", "i8"), ("local_ts", "i8"), ("px", "f8"), ("qty", "f8"), ("order_id", "u8"),
     ("ival", "i8"), ("fval", "f8")],
    align=True,
)
EXCH_EVENT, LOCAL_EVENT, BUY_EVENT, SELL_EVENT = 1 << 31, 1 << 30, 1 << 29, 1 << 28
DEPTH_EVENT, TRADE_EVENT, DEPTH_CLEAR_EVENT, DEPTH_SNAPSHOT_EVENT = 1, 2, 3, 4


@dataclass
class Result:
    """One run of one side."""

    seconds: float
    events: int
    orders: int  # orders sent (submits)
    cancels: int = 0
    # (ts, signed size, price, liquidity 1 maker / 2 taker, order id) per fill
    fills: list[tuple[int, float, float, int, int]] = field(default_factory=list)
    fees: float = 0.0
    position: float = 0.0
    sent: list[tuple[int, int, float, float, int]] = field(default_factory=list)  # (ts, side, price, size, id)
    note: dict[str, object] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def volume(self) -> float:
        return sum(abs(f[1]) for f in self.fills)

    @property
    def value(self) -> float:
        return sum(abs(f[1]) * f[2] for f in self.fills)


# --- data ---------------------------------------------------------------------------------------------------------
def default_data_dir() -> Path:
    """``../shared/data/l2`` when it is there, else the copy of the same capture inside the package (``bot4/data``)."""
    if (SHARED_L2 / f"{STEM}_depth.csv.gz").exists():
        return SHARED_L2
    return sample_path(f"{STEM}_depth.csv.gz").parent


def load_ticks(data_dir: Path) -> np.ndarray:
    depth, _ = load_csv(data_dir / f"{STEM}_depth.csv.gz", 0)
    trades, _ = load_csv(data_dir / f"{STEM}_trades.csv.gz", 0)
    return merge_by_time([depth, trades])


def stale_rows(ticks: np.ndarray) -> np.ndarray:
    """The depth rows bot4's book drops (``depth_apply_nb``: a diff message older than the last one applied)."""
    stale = np.zeros(len(ticks), bool)
    last = 0
    idx = np.flatnonzero(ticks["kind"] == TICK_DEPTH)
    flags = ticks["bid_sz"][idx].astype(np.int64)
    us = ticks["ask_px"][idx].astype(np.int64)
    for i, f, u in zip(idx.tolist(), flags.tolist(), us.tolist(), strict=True):
        if f & DEPTH_CLEAR:
            last = u
        elif not f & DEPTH_SNAPSHOT and u != last:
            if u < last:
                stale[i] = True
            else:
                last = u
    return stale


def hbt_events(ticks: np.ndarray) -> np.ndarray:
    """bot4's ticks as hftbacktest events: the same rows in the same order (bot4's dropped rows left out)."""
    t = ticks[~stale_rows(ticks)]
    depth = t["kind"] == TICK_DEPTH
    trade = t["kind"] == TICK_TRADE
    if not (depth | trade).all():
        raise ValueError("only depth and trade ticks have an hftbacktest event here")
    flags = np.where(depth, t["bid_sz"], 0).astype(np.int64)
    side = np.where(t["side"] == SIDE_BUY, BUY_EVENT, SELL_EVENT).astype(np.uint64)
    kind = np.where(trade, TRADE_EVENT, np.where(flags & DEPTH_SNAPSHOT, DEPTH_SNAPSHOT_EVENT, DEPTH_EVENT))
    ev = np.zeros(len(t), HBT_EVENT_DTYPE)
    ev["ev"] = kind.astype(np.uint64) | side | np.uint64(EXCH_EVENT | LOCAL_EVENT)
    ev["exch_ts"] = ev["local_ts"] = t["ts_exch_ns"]
    ev["px"] = t["price"]
    ev["qty"] = t["size"]
    clears = np.flatnonzero(depth & ((flags & DEPTH_CLEAR) != 0))  # a snapshot clears the whole book first
    clear = np.zeros(len(clears), HBT_EVENT_DTYPE)
    clear["ev"] = np.uint64(DEPTH_CLEAR_EVENT | EXCH_EVENT | LOCAL_EVENT)
    clear["exch_ts"] = clear["local_ts"] = t["ts_exch_ns"][clears]
    return np.insert(ev, clears, clear)


# --- bot4 ---------------------------------------------------------------------------------------------------------
def risk() -> RiskConfig:
    return RiskConfig(
        initial_equity_usd=EQUITY,
        max_order_notional_usd=NOTIONAL,
        loss_streak_cooldown_s=0.0,
        max_orders_per_s=1e6,
        order_burst=1_000_000,
    )


def ema_config() -> CoreConfig:
    strat = StrategyConfig(
        kind=f"{STRATEGIES}:EmaTarget",
        params={"fast_period": FAST, "slow_period": SLOW, "qty": QTY, "stop_frac": STOP_FRAC},
        symbols=("BTC/USDT",),
    )
    inst = InstrumentConfig("BTC/USDT", size_step=STEP, price_tick=TICK, min_size=STEP)
    return CoreConfig(instruments=(inst,), strategies=(strat,), risk=risk())


def join_config() -> CoreConfig:
    strat = StrategyConfig(kind=f"{STRATEGIES}:JoinBest", params={"stop_frac": STOP_FRAC}, symbols=("BTC/USDT",))
    inst = InstrumentConfig("BTC/USDT", size_step=STEP, price_tick=TICK, min_size=STEP)
    return CoreConfig(instruments=(inst,), strategies=(strat,), risk=risk())


def bot4_once(cfg: CoreConfig, paper: PaperConfig, ticks: np.ndarray) -> Result:
    core = Core(cfg)
    venue = PaperExchange(cfg, paper)
    lockstep = Lockstep(core, venue)
    start = time.perf_counter()
    orders, reports = lockstep.replay(ticks)
    seconds = time.perf_counter() - start
    submits = orders[orders["action"] == ACTION_SUBMIT]
    fills = reports[reports["kind"] == EXEC_FILL]
    rows = [
        (int(r["ts_exch_ns"]), float(r["side"] * r["size"]), float(r["price"]), int(r["liquidity"]),
         int(r["client_order_id"]))
        for r in fills
    ]
    sent = [
        (int(o["ts_mkt_ns"]), int(o["side"]), float(o["price"]), float(o["size"]), int(o["client_order_id"]))
        for o in submits
    ]
    state = core.user.state[0]
    snap = core.snapshot()
    names = [n for n in state.dtype.names or () if not n.startswith("sdk_")]
    return Result(
        seconds,
        len(ticks),
        len(submits),
        int((orders["action"] == ACTION_CANCEL).sum()),
        rows,
        float(fills["fee"].sum()),
        float(venue.state.sym["qty"][0]),
        sent,
        {
            "maker_fills": int((fills["liquidity"] == LIQUIDITY_MAKER).sum()),
            "expired": int((reports["kind"] == EXEC_EXPIRED).sum()),
            "rejected": int((reports["kind"] == EXEC_REJECTED).sum()),
            "risk_rejects": snap.stats.counter("risk_rejects"),
            "stop_exits": snap.stats.counter("stop_exits"),
            "ticks_in": snap.stats.counter("ticks_in"),
            "book": book_counts(venue.state.l2, 0),
            "strategy_state": {n: state[n].item() for n in names},
        },
    )


def bot4_runs(cfg: CoreConfig, paper: PaperConfig, ticks: np.ndarray, rounds: int) -> list[Result]:
    bot4_once(cfg, paper, ticks[:20_000])  # compiles the engine with the strategy (or loads it from the cache)
    return [bot4_once(cfg, paper, ticks) for _ in range(rounds)]


# --- hftbacktest --------------------------------------------------------------------------------------------------
def hbt_python(arg: str | None) -> str | None:
    """An interpreter that imports hftbacktest: the one given, this one, ``BOT4_HBT_PYTHON``, or the bench's venv."""
    cands = [arg, os.environ.get("BOT4_HBT_PYTHON"), sys.executable, DEFAULT_HBT_PYTHON]
    for cand in cands:
        if cand and Path(cand).exists() and subprocess.run([cand, "-c", "import hftbacktest"],
                                                            capture_output=True).returncode == 0:
            return cand
    return None


def hbt_runs(python: str, events: np.ndarray, runs: list[dict], rounds: int) -> tuple[str, dict[str, list[Result]]]:
    tmp = Path(tempfile.mkdtemp(prefix="bot4-hbt-"))
    try:
        np.save(tmp / "events.npy", events)
        spec = {"rounds": rounds, "tick": TICK, "lot": STEP, "runs": runs}
        (tmp / "spec.json").write_text(json.dumps(spec))
        side = ROOT / "bench" / "hbt_side.py"
        subprocess.run([python, str(side), str(tmp / "events.npy"), str(tmp / "spec.json"), str(tmp / "out.json")],
                       check=True)
        doc = json.loads((tmp / "out.json").read_text())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out: dict[str, list[Result]] = {}
    for name, rs in doc["results"].items():
        out[name] = [
            Result(
                r["seconds"],
                r["events"],
                r["orders"],
                r["extra"] if name.startswith("join") else 0,
                [(int(f[0]), f[1], f[2], int(f[3]), int(f[4])) for f in r["fill_rows"]],
                sum(abs(f[1]) * f[2] * (MAKER_FEE if int(f[3]) == 1 else TAKER_FEE) for f in r["fill_rows"]),
                sum(f[1] for f in r["fill_rows"]),
                [(int(o[0]), int(o[1]), o[2], o[3], int(o[4])) for o in r["order_rows"]],
                {k: r[k] for k in ("extra", "sv_position", "sv_fee", "sv_num_trades", "sv_trading_value", "error",
                                   "error_ts")},
            )
            for r in rs
        ]
    return str(doc["version"]), out


# --- comparison ---------------------------------------------------------------------------------------------------
def med(rs: list[Result]) -> Result:
    return sorted(rs, key=lambda r: r.seconds)[len(rs) // 2]


def _keys(rows: list[tuple], cols: tuple[int, ...], scale: tuple[float, ...]) -> list[tuple[int, ...]]:
    return [tuple(int(r[c]) if k == 0 else round(r[c] / k) for c, k in zip(cols, scale, strict=True)) for r in rows]


def fill_keys(r: Result, upto: int | None = None) -> list[tuple[int, ...]]:
    """(time, signed size in steps, price in ticks) of each fill (up to market time ``upto``)."""
    return _keys([f for f in r.fills if upto is None or f[0] <= upto], (0, 1, 2), (0, STEP, TICK))


def sent_keys(r: Result, upto: int | None = None) -> list[tuple[int, ...]]:
    """(time, side, price in ticks, size in steps) of each order sent (market orders: price 0)."""
    rows = [(t, side, px if px == px else 0.0, size) for t, side, px, size, _ in r.sent if upto is None or t <= upto]
    return _keys(rows, (0, 1, 2, 3), (0, 1, TICK, STEP))


def same(ka: list[tuple[int, ...]], kb: list[tuple[int, ...]]) -> tuple[int, int | None]:
    """How many entries the two lists share (as multisets), and the index of the first that differs in order."""
    common = sum((Counter(ka) & Counter(kb)).values())
    first = next((i for i, (x, y) in enumerate(zip(ka, kb, strict=False)) if x != y), None)
    if first is None and len(ka) != len(kb):
        first = min(len(ka), len(kb))
    return common, first


def filled_orders(r: Result, upto: int | None = None) -> int:
    return len({f[4] for f in r.fills if upto is None or f[0] <= upto})


def on_prints(r: Result, trade_ts: set[int], upto: int | None = None) -> int:
    """Fills that happened on a print (the rest: on a book message)."""
    return sum(1 for f in r.fills if f[0] in trade_ts and (upto is None or f[0] <= upto))


def table(title: str, a: Result, b: Result, extra: list[tuple[str, object, object]]) -> list[str]:
    rows: list[tuple[str, object, object]] = [
        ("events", a.events, b.events),
        ("wall s (median)", a.seconds, b.seconds),
        ("events / s", a.rate, b.rate),
        ("orders sent", a.orders, b.orders),
        *extra,
        ("fills", len(a.fills), len(b.fills)),
        ("orders filled (any part)", filled_orders(a), filled_orders(b)),
        ("volume BTC", a.volume, b.volume),
        ("traded value USDT", a.value, b.value),
        ("fees USDT", a.fees, b.fees),
        ("final position BTC", a.position, b.position),
    ]
    out = [f"\n{title}", f"  {'figure':28} {'bot4':>16} {'hftbacktest':>16} {'bot4 / hbt':>10}"]
    for name, x, y in rows:
        ok = isinstance(x, int | float) and isinstance(y, int | float) and y != 0
        ratio = f"{x / y:10.3f}" if ok else ""  # type: ignore[operator]
        out.append(f"  {name:28} {_fmt(x):>16} {_fmt(y):>16} {ratio:>10}")
    return out


def _fmt(v: object) -> str:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if abs(v) >= 10_000:
        return f"{v:,.0f}"
    if abs(v) >= 1:
        return f"{v:,.4f}"
    return f"{v:.6f}"


@dataclass
class Outcome:
    version: str
    trade_ts: set[int]
    n_events: int
    ema: tuple[list[Result], list[Result]]
    join: dict[float, tuple[list[Result], list[Result], list[Result]]]  # bot4, hbt no-partial, hbt partial-fill


def compare(data_dir: Path, python: str, rounds: int, latency_ms: float) -> Outcome:
    ticks = load_ticks(data_dir)
    events = hbt_events(ticks)
    latencies = sorted({0.0, latency_ms})
    runs: list[dict[str, object]] = [
        {"name": "ema", "strategy": "ema", "exchange": "no_partial_fill", "latency_ns": 0, "maker_fee": TAKER_FEE,
         "taker_fee": TAKER_FEE, "fast": FAST, "slow": SLOW, "qty": QTY}
    ]
    for lat in latencies:
        for exch in ("no_partial_fill", "partial_fill"):
            runs.append({"name": f"join_{exch}_{lat}", "strategy": "join", "exchange": exch,
                         "latency_ns": round(lat * 1e6), "maker_fee": MAKER_FEE, "taker_fee": TAKER_FEE,
                         "notional": NOTIONAL})
    version, theirs = hbt_runs(python, events, runs, rounds)
    ema_paper = PaperConfig(maker_fee=TAKER_FEE, taker_fee=TAKER_FEE, latency_ms=0.0)
    ours_ema = bot4_runs(ema_config(), ema_paper, ticks, rounds)
    join = {}
    for lat in latencies:
        paper = PaperConfig(maker_fee=MAKER_FEE, taker_fee=TAKER_FEE, latency_ms=lat)
        join[lat] = (bot4_runs(join_config(), paper, ticks, rounds), theirs[f"join_no_partial_fill_{lat}"],
                     theirs[f"join_partial_fill_{lat}"])
    trade_ts = set(ticks["ts_exch_ns"][ticks["kind"] == TICK_TRADE].tolist())
    return Outcome(version, trade_ts, len(events), (ours_ema, theirs["ema"]), join)


def _ts(ns: int) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ns / 1e9)) + f".{ns % 1_000_000_000 // 1_000_000:03d}"


def report(o: Outcome) -> list[str]:
    lines: list[str] = []
    a, b = med(o.ema[0]), med(o.ema[1])
    lines += table(
        f"1. EMA {FAST}/{SLOW} cross of the prints, market orders, {QTY} BTC, taker {TAKER_FEE:.2%}, no latency "
        f"(bot4 paper venue | hftbacktest {o.version} NoPartialFillExchange)",
        a, b, [("flips of the side wanted", a.note["strategy_state"]["flips"], b.note["extra"])],
    )
    common, first = same(sent_keys(a), sent_keys(b))
    lines.append(f"  orders identical (time, side, size): {common} of {a.orders} / {b.orders}"
                 + ("" if first is None else f"; first difference at order {first}"))
    common, first = same(fill_keys(a), fill_keys(b))
    multi = sum(1 for n in Counter(f[4] for f in a.fills).values() if n > 1)
    lines.append(f"  fills identical (time, size, price): {common} of {len(a.fills)} / {len(b.fills)}; "
                 f"{multi} bot4 orders met less than their size at the touch and took the next levels too "
                 f"(NoPartialFillExchange fills the whole order at the best price)")
    lines.append(f"  fees differ by {a.fees - b.fees:+.6f} USDT (hftbacktest's own fee total {b.note['sv_fee']:.6f}, "
                 f"{b.note['sv_num_trades']} fills); bot4 stops hit {a.note['stop_exits']}, "
                 f"risk refusals {a.note['risk_rejects']}, expired {a.note['expired']}; bot4's book {a.note['book']}")
    lines.append(f"  rounds s: bot4 {[round(r.seconds, 3) for r in o.ema[0]]}, "
                 f"hftbacktest {[round(r.seconds, 3) for r in o.ema[1]]}; "
                 f"speed bot4 / hftbacktest {a.rate / b.rate:.2f}x")
    for lat, (ours, np_runs, pf_runs) in o.join.items():
        a, b, p = med(ours), med(np_runs), med(pf_runs)
        st = a.note["strategy_state"]
        lines += table(
            f"2. join the best bid and ask, {NOTIONAL:.0f} USDT orders, maker {MAKER_FEE:.2%}, order entry latency "
            f"{lat:g} ms (bot4 queue model | hftbacktest NoPartialFillExchange + RiskAdverseQueueModel)",
            a, b, [("cancels sent", a.cancels, b.cancels)],
        )
        lines.append(f"  fills on prints / on book messages: bot4 {on_prints(a, o.trade_ts)} / "
                     f"{len(a.fills) - on_prints(a, o.trade_ts)}, hftbacktest {on_prints(b, o.trade_ts)} / "
                     f"{len(b.fills) - on_prints(b, o.trade_ts)}; bot4 refusals {st['refused']}, "
                     f"venue rejects {a.note['rejected']}, stops hit {a.note['stop_exits']}")
        common, first = same(sent_keys(a), sent_keys(b))
        lines.append(f"  orders identical (time, side, price, size): {common} of {a.orders} / {b.orders}"
                     + ("" if first is None else f"; first difference at order {first}"))
        err, err_ts = int(p.note["error"]), int(p.note["error_ts"])
        if err:
            upto = err_ts
            done = sum(1 for t in o.trade_ts if t <= upto)  # (a rough share: prints up to there)
            lines.append(f"  hftbacktest PartialFillExchange (partial fills from the queue front, bot4's rule) "
                         f"stopped with error {err} (InvalidOrderStatus) after {_ts(err_ts)} UTC "
                         f"({done:,} of {len(o.trade_ts):,} prints): an order that a queue-front fill completes "
                         f"exactly stays in its book as Filled, and the next print through that price fails on it")
        else:
            upto = None
            lines.append("  hftbacktest PartialFillExchange ran to the end of the data")
        where = "up to there" if upto else "whole run"
        lines.append(
            f"  PartialFillExchange, {where}: orders sent bot4 {len(sent_keys(a, upto))} / hbt "
            f"{len(sent_keys(p, upto))}"
            f", fills {len(fill_keys(a, upto))} / {len(p.fills)}, orders filled {filled_orders(a, upto)} / "
            f"{filled_orders(p)}, volume {sum(abs(f[1]) for f in a.fills if upto is None or f[0] <= upto):.5f} / "
            f"{p.volume:.5f} BTC; its state values (a fill applied only on a Filled response) count "
            f"{p.note['sv_num_trades']} fills of {len(p.fills)}, position {p.note['sv_position']:.5f} for "
            f"{p.position:.5f}; {p.rate:,.0f} events/s over the part it ran ({p.seconds:.3f} s)"
        )
        lines.append(f"  rounds s: bot4 {[round(r.seconds, 3) for r in ours]}, "
                     f"hftbacktest {[round(r.seconds, 3) for r in np_runs]}; "
                     f"speed bot4 / hftbacktest {a.rate / b.rate:.2f}x")
    return lines


# --- entry points -------------------------------------------------------------------------------------------------
def run(quick: bool) -> list[Figure]:
    """For bench/run.py: skipped in --quick (two engine compiles the first time, a subprocess venv)."""
    if quick:
        print("# hftbacktest: skipped in --quick (run bench/bench_hftbacktest.py)", file=sys.stderr)
        return []
    python = hbt_python(None)
    if python is None:
        print(f"# hftbacktest: skipped (no interpreter imports hftbacktest: install it in {DEFAULT_HBT_PYTHON}'s venv "
              "or set BOT4_HBT_PYTHON)", file=sys.stderr)
        return []
    o = compare(default_data_dir(), python, 3, 1.0)
    figs = []
    pairs = [("ema", o.ema)] + [(f"join_{lat:g}ms", (p[0], p[1])) for lat, p in o.join.items()]
    for name, (ours, theirs) in pairs:
        a, b = med(ours), med(theirs)
        figs += [
            Figure(f"l2_{name}_bot4_events_per_s", a.rate, "ev/s", baseline=f"l2_{name}_hbt_events_per_s",
                   higher_is_better=True,
                   note=f"{a.orders} orders {len(a.fills)} fills {filled_orders(a)} filled, fees {a.fees:.4f}"),
            Figure(f"l2_{name}_hbt_events_per_s", b.rate, "ev/s", higher_is_better=True,
                   note=f"hftbacktest {o.version}: {b.orders} orders {len(b.fills)} fills, fees {b.fees:.4f}"),
        ]
    return figs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hbt-python", help=f"an interpreter with hftbacktest (default: this one, $BOT4_HBT_PYTHON, "
                                         f"{DEFAULT_HBT_PYTHON})")
    ap.add_argument("--data-dir", type=Path, default=None, help="default: ../shared/data/l2, else bot4/data")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--latency-ms", type=float, default=1.0, help="the join runs' second order latency (the first: 0)")
    args = ap.parse_args(argv)
    data_dir = args.data_dir or default_data_dir()
    if not (data_dir / f"{STEM}_depth.csv.gz").exists():
        print(f"hftbacktest bench skipped: no {STEM}_depth.csv.gz in {data_dir}", file=sys.stderr)
        return 2
    python = hbt_python(args.hbt_python)
    if python is None:
        print("hftbacktest bench skipped: no interpreter imports hftbacktest; install it in its own venv:\n"
              "  python3 -m venv /work/venv-hbt && /work/venv-hbt/bin/pip install hftbacktest==2.4.4\n"
              "and pass --hbt-python /work/venv-hbt/bin/python (or set BOT4_HBT_PYTHON)", file=sys.stderr)
        return 0
    git = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True)
    print(f"bot4 {git.stdout.strip() or '?'} ({sys.executable}); hftbacktest via {python}; data {data_dir}; "
          f"{args.rounds} rounds each; load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    o = compare(data_dir, python, args.rounds, args.latency_ms)
    print("\n".join(report(o)))
    print(f"\nload at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
