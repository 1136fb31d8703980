"""The trading core: in-core decision and risk-check latency, and tick -> order throughput against pure Python."""

from __future__ import annotations

import math
import statistics
import time

import numpy as np

from bench.common import Figure
from bench.limit_path import LimitPath
from bot4.core.atomics import monotonic_ns
from bot4.core.config import CoreConfig, InstrumentConfig, RiskConfig, StrategyConfig
from bot4.core.jit import kernel
from bot4.core.records import ACTION_SUBMIT, EXEC_CANCELED
from bot4.core.ring import ring_advance_nb, ring_available_nb, ring_claim_nb, ring_publish_nb, ring_slot_nb
from bot4.core.risk import risk_check_nb
from bot4.core.riskviews import correlation_matrix_nb, rebuild_var_base_nb, refresh_risk_views_nb
from bot4.core.runner import Core
from bot4.core.state import RiskViews
from bot4.venues.replay import load_csv, merge_by_time, repeat_shifted, sample_path

# the package's shipped sample (bot4/data: the hftbacktest capture, the same files as ../shared/data/l2)
BTC_TRADES = "binance_spot_BTCUSDT_20240808T2354_20240809T0005_trades.csv.gz"
ETH_TRADES = "binance_spot_ETHUSDT_20240808T2354_20240809T0005_trades.csv.gz"
GENEROUS = dict(
    max_order_notional_usd=1e9,
    max_symbol_exposure_usd=1e9,
    max_gross_exposure_usd=1e12,
    max_var_frac=1.0,
    order_burst=1_000_000_000,
    max_orders_per_s=1e9,
)


@kernel
def cancel_everything_nb(out_ctrl, out_buf, fill_ctrl, fill_buf):  # type: ignore[no-untyped-def]
    """Answer every submitted order with a cancel report, as a venue that never fills would."""
    n = ring_available_nb(out_ctrl)
    done = 0
    for k in range(n):
        o = out_buf[ring_slot_nb(out_ctrl, k)]
        if o.action != ACTION_SUBMIT:
            done += 1
            continue
        slot = ring_claim_nb(fill_ctrl)
        if slot < 0:
            break
        r = fill_buf[slot]
        r.client_order_id = o.client_order_id
        r.kind = EXEC_CANCELED
        r.symbol_id = o.symbol_id
        ring_publish_nb(fill_ctrl, 1)
        done += 1
    ring_advance_nb(out_ctrl, done)
    return done


def drive(core: Core, ticks: np.ndarray, chunk: int = 4096) -> float:
    """Push every tick through the core on this thread; wall seconds."""
    st = core.state
    start = time.perf_counter()
    pos = 0
    total = len(ticks)
    while pos < total:
        pos += core.push_ticks(ticks, pos, min(chunk, total - pos))
        while core.step():
            cancel_everything_nb(st.rings.orders.ctrl, st.rings.orders.buf, st.rings.fills.ctrl, st.rings.fills.buf)
    return time.perf_counter() - start


def drive_threaded(core: Core, ticks: np.ndarray, chunk: int = 512) -> float:
    """Push every tick to the core running on its own thread, answering its orders from this one; wall seconds."""
    st = core.state
    core.start()
    start = time.perf_counter()
    try:
        pos = 0
        total = len(ticks)
        while pos < total:
            pos += core.push_ticks(ticks, pos, min(chunk, total - pos))
            cancel_everything_nb(st.rings.orders.ctrl, st.rings.orders.buf, st.rings.fills.ctrl, st.rings.fills.buf)
        while core.snapshot().stats.counter("ticks_in") < total:
            cancel_everything_nb(st.rings.orders.ctrl, st.rings.orders.buf, st.rings.fills.ctrl, st.rings.fills.buf)
            core.notify()
            time.sleep(0.001)
    finally:
        core.stop()
    return time.perf_counter() - start


def real_ticks(total: int) -> np.ndarray:
    btc = load_csv(sample_path(BTC_TRADES), 0)[0]
    eth = load_csv(sample_path(ETH_TRADES), 1)[0]
    return repeat_shifted(merge_by_time([btc, eth]), total)


# --- pure-Python baseline: the same tick path -------------------------------------------------------------------------


class PythonTickPath:
    """EMA cross -> sizing -> the same risk checks -> an order record, in plain Python (the baseline)."""

    def __init__(self, n_sym: int, risk: RiskConfig, fast: int, slow: int, stop_frac: float) -> None:
        self.n = n_sym
        self.r = risk
        self.fast, self.slow, self.stop_frac = fast, slow, stop_frac
        self.qty = [0.0] * n_sym
        self.avg = [0.0] * n_sym
        self.last = [math.nan] * n_sym
        self.pending = [0.0] * n_sym
        self.ef = [0.0] * n_sym
        self.es = [0.0] * n_sym
        self.count = [0] * n_sym
        self.last_dir = [0] * n_sym
        self.equity = self.peak = risk.initial_equity_usd
        self.rets: list[list[float]] = [[] for _ in range(n_sym)]
        self.sample_px = [math.nan] * n_sym
        self.next_sample = 0
        self.corr = [[math.nan] * n_sym for _ in range(n_sym)]
        self.tokens = float(risk.order_burst)
        self.token_ts = 0
        self.orders: list[dict[str, float | int]] = []
        self.state = 0

    def sample(self, clock: int) -> None:
        interval = int(self.r.return_sample_interval_s * 1e9)
        first = self.next_sample == 0
        self.next_sample = clock - clock % interval + interval
        for j in range(self.n):
            px, prev = self.last[j], self.sample_px[j]
            if px > 0:
                if not first:
                    self.rets[j].append(math.log(px / prev) if prev > 0 else 0.0)
                self.sample_px[j] = px
        if first:
            return
        w = self.r.correlation_window
        for i in range(self.n):
            for j in range(self.n):
                a, b = self.rets[i][-w:], self.rets[j][-w:]
                if len(a) < self.r.correlation_min_samples:
                    self.corr[i][j] = math.nan
                    continue
                ma, mb = sum(a) / len(a), sum(b) / len(b)
                sab = sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True))
                saa = sum((x - ma) ** 2 for x in a)
                sbb = sum((y - mb) ** 2 for y in b)
                self.corr[i][j] = sab / math.sqrt(saa * sbb) if saa > 0 and sbb > 0 else math.nan

    def risk(self, s: int, side: int, price: float, size: float, stop: float, clock: int) -> int:
        r = self.r
        if self.state == 2:
            return 1
        if not (size > 0) or not (price > 0):
            return 6
        last = self.last[s]
        if abs(price - last) > r.price_band_frac * last:
            return 14
        if not (stop > 0) or side * (price - stop) <= 0:
            return 8
        if abs(price - stop) * size > r.max_risk_per_trade_frac * self.equity:
            return 10
        if price * size > r.max_order_notional_usd:
            return 11
        eff = self.qty[s] + self.pending[s]
        if abs(eff + side * size) * price > r.max_symbol_exposure_usd:
            return 12
        gross = sum(abs(q) * p for q, p in zip(self.qty, self.last, strict=True) if q)
        if gross > r.max_gross_exposure_usd:
            return 13
        for j in range(self.n):
            c = self.corr[s][j]
            if j != s and self.qty[j] and c == c and c * side * (1 if self.qty[j] > 0 else -1) >= r.max_correlation:
                return 16
        if len(self.rets[s]) >= r.correlation_min_samples:
            w = r.var_window
            k = max(1, math.floor((1 - r.var_confidence) * w))
            pnl = []
            series = [self.rets[j][-w:] for j in range(self.n)]
            m = len(series[s])
            for t in range(m):
                v = sum(self.qty[j] * self.last[j] * series[j][t] for j in range(self.n) if self.qty[j])
                pnl.append(v + side * size * price * series[s][t])
            pnl.sort()
            if len(pnl) >= k and -pnl[k - 1] > r.max_var_frac * self.equity:
                return 17
        self.tokens = min(r.order_burst, self.tokens + (clock - self.token_ts) * r.max_orders_per_s / 1e9)
        self.token_ts = clock
        if self.tokens < 1:
            return 18
        self.tokens -= 1
        return 0

    def run(self, ticks: np.ndarray) -> int:
        sent = 0
        cols = (ticks["ts_exch_ns"].tolist(), ticks["symbol_id"].tolist(), ticks["price"].tolist())
        for ts, s, price in zip(*cols, strict=True):
            if not (price > 0):
                continue
            self.last[s] = price
            if self.count[s] == 0:
                self.ef[s] = self.es[s] = price
            else:
                self.ef[s] += 2 / (self.fast + 1) * (price - self.ef[s])
                self.es[s] += 2 / (self.slow + 1) * (price - self.es[s])
            self.count[s] += 1
            if ts >= self.next_sample:
                self.sample(ts)
            if self.count[s] < self.slow:
                continue
            side = 1 if self.ef[s] >= self.es[s] else -1
            if side == self.last_dir[s]:
                continue
            self.last_dir[s] = side
            stop = price * (1 - side * self.stop_frac)
            size = math.floor(self.r.risk_per_trade_frac * self.equity / abs(price - stop) / 1e-5 + 1e-9) * 1e-5
            size = min(size, self.r.max_order_notional_usd / price)
            if self.risk(s, side, price, size, stop, ts) == 0:
                self.orders.append({"symbol": s, "side": side, "size": size, "stop": stop, "ts": ts})
                sent += 1
        return sent


# --- figures ---------------------------------------------------------------------------------------------------------


def latency_figures(quick: bool) -> tuple[float, float, float, float, int]:
    """Decision and risk-check percentiles from the in-core histograms, 10 open positions, every check on."""
    n_sym = 11
    instruments = tuple(InstrumentConfig(f"S{i:02d}/USDT") for i in range(n_sym))
    cfg = CoreConfig(
        instruments=instruments,
        strategies=(StrategyConfig(kind="ema_cross", fast_period=5, slow_period=20, symbols=("S00/USDT",)),),
        risk=RiskConfig(**GENEROUS, correlation_window=60, var_window=100),  # type: ignore[arg-type]
        order_pool_capacity=16_384,
    )
    core = Core(cfg)
    st = core.state
    base = load_csv(sample_path(BTC_TRADES), 0)[0]
    rng = np.random.default_rng(3)
    # every symbol replays a different stretch of the real trades, so their returns are not one series
    parts = []
    for s in range(n_sym):
        seg = np.roll(base, s * 1811).copy()
        seg["ts_exch_ns"] = base["ts_exch_ns"]
        seg["symbol_id"] = s
        parts.append(seg)
    ticks = merge_by_time(parts)
    laps = 6 if quick else 20
    ticks = repeat_shifted(ticks, len(ticks) * laps)
    # warm the return history so correlation and VaR have full windows from the first order
    warm = rng.normal(0.0, 1e-4, size=(n_sym, st.risk.rets.shape[1]))
    st.risk.rets[:, :] = warm
    st.core["ret_count"][0] = st.risk.rets.shape[1]
    st.core["var_dirty"][0] = 1
    for j in range(1, n_sym):
        st.sym["qty"][j] = 0.5
        st.sym["avg_px"][j] = float(base["price"][0])
        st.sym["last_px"][j] = st.sym["sample_px"][j] = float(base["price"][0])
    drive_threaded(core, ticks)
    snap = core.snapshot()
    dec, risk = snap.stats.histogram("decision"), snap.stats.histogram("risk_check")
    open_positions = sum(1 for p in snap.positions() if p.qty != 0.0)
    assert open_positions == 10, open_positions
    return dec.percentile(50), dec.percentile(99), risk.percentile(50), risk.percentile(99), risk.count


@kernel
def risk_hot_loop_nb(
    sym: np.ndarray, core: np.ndarray, acct: np.ndarray, params: np.ndarray, brk: np.ndarray, risk: RiskViews,
    out: np.ndarray,
) -> int:
    """Every check of one entry order, back to back: the code path with its data in cache."""
    reason = 0
    for i in range(out.shape[0]):
        t0 = monotonic_ns()
        reason = risk_check_nb(sym, core, acct, params, brk, risk, 0, 1, 100.0, 0.01, 99.0, 0)
        out[i] = monotonic_ns() - t0
    return reason


def risk_hot_figures(n: int) -> tuple[float, float]:
    """The risk check's own cost (p50, p99) with its data in cache: 11 symbols, 10 open positions, full windows."""
    n_sym = 11
    cfg = CoreConfig(
        instruments=tuple(InstrumentConfig(f"S{i:02d}/USDT") for i in range(n_sym)),
        risk=RiskConfig(**GENEROUS, correlation_window=60, var_window=100),  # type: ignore[arg-type]
    )
    st = Core(cfg).state
    st.risk.rets[:, :] = np.random.default_rng(5).normal(0.0, 1e-4, size=st.risk.rets.shape)
    st.core["ret_count"][0] = st.risk.rets.shape[1]
    st.sym["last_px"] = 100.0
    st.sym["qty"][1:] = 0.5
    st.sym["avg_px"][1:] = 100.0
    st.acct["equity"][0] = 1e6
    # the views the engine keeps at each return sample: correlation matrix, VaR base, correlation extremes, envelopes
    count, window = int(st.core["ret_count"][0]), int(st.params["var_window"][0])
    p = st.params[0]
    correlation_matrix_nb(st.risk.rets, count, int(p["corr_window"]), int(p["corr_min"]), st.risk.corr)
    rebuild_var_base_nb(st.risk.rets, st.sym, count, window, st.risk.var_base)
    st.core["var_dirty"][0] = 0
    refresh_risk_views_nb(st.sym, st.core, st.params, st.risk, True)
    out = np.zeros(n, np.int64)
    args = (st.sym, st.core, st.acct, st.params, st.brk, st.risk)
    risk_hot_loop_nb(*args, out[:100])
    if risk_hot_loop_nb(*args, out) != 0:
        raise RuntimeError("the hot-loop order was refused: the measurement would time an early exit")
    return float(np.percentile(out, 50)), float(np.percentile(out, 99))


def throughput_figures(quick: bool) -> tuple[float, float, int, float, int]:
    """Ticks/s of bot4's tick path, of the same logic in Python and of the written-out limit loop, same ticks."""
    total = 10_000_000
    ticks = real_ticks(total)
    risk = RiskConfig(**GENEROUS)  # type: ignore[arg-type]
    strat = StrategyConfig(kind="ema_cross", fast_period=12, slow_period=26)
    cfg = CoreConfig(strategies=(strat,), risk=risk)
    core = Core(cfg)
    drive(core, ticks[:10_000])
    LimitPath(cfg, 12, 26, strat.stop_frac).run(ticks[:10_000])  # compile / warm
    core = Core(cfg)
    seconds = drive(core, ticks)
    orders = core.snapshot().stats.counter("orders_out")
    limit_seconds, limit_orders = LimitPath(cfg, 12, 26, strat.stop_frac).run(ticks)
    n_py = 200_000 if quick else 1_000_000
    py = PythonTickPath(2, risk, 12, 26, strat.stop_frac)
    start = time.perf_counter()
    py.run(ticks[:n_py])
    py_seconds = time.perf_counter() - start
    return total / seconds, n_py / py_seconds, orders, total / limit_seconds, limit_orders


def run(quick: bool) -> list[Figure]:
    rounds = 3 if quick else 5
    lat = [latency_figures(quick) for _ in range(rounds)]
    med = np.median(np.array(lat), axis=0)
    tps = [throughput_figures(quick) for _ in range(rounds if not quick else 2)]
    hots = [risk_hot_figures(100_000) for _ in range(3)]
    hot = (statistics.median(h[0] for h in hots), statistics.median(h[1] for h in hots))
    tp_med = np.median(np.array(tps), axis=0)
    return [
        Figure("decision_p50_ns", float(med[0]), "ns", "", "", note="in-core histogram, every tick"),
        Figure("decision_p99_ns", float(med[1]), "ns", "<= 200", best=float(min(r[1] for r in lat))),
        Figure("risk_check_p50_ns", float(med[2]), "ns", "", note=f"{int(med[4])} orders, 10 open positions"),
        Figure("risk_check_p99_ns", float(med[3]), "ns", "<= 500", best=float(min(r[3] for r in lat))),
        Figure("risk_check_hot_p50_ns", hot[0], "ns", note="the same checks back to back, data in cache"),
        Figure("risk_check_hot_p99_ns", hot[1], "ns", "<= 500", note="the code path without the tick stream"),
        Figure(
            "tick_path_ticks_per_s",
            float(tp_med[0]),
            "tick/s",
            "",
            "tick_path_python_ticks_per_s",
            higher_is_better=True,
            note=f"10 M real trades, {int(tp_med[2])} orders",
        ),
        Figure("tick_path_python_ticks_per_s", float(tp_med[1]), "tick/s", higher_is_better=True, note="same logic"),
        Figure(
            "limit_ticks_per_s",
            float(tp_med[3]),
            "tick/s",
            higher_is_better=True,
            note=f"EMA -> signal -> risk -> ring as one kernel, same ticks, {int(tp_med[4])} orders",
        ),
        Figure(
            "tick_path_vs_limit",
            float(np.median([t[0] / t[3] for t in tps])),
            "x",
            ">= 0.5",
            higher_is_better=True,
            note="tick_path_ticks_per_s / limit_ticks_per_s, each round's pair, median",
        ),
    ]
