"""The core's state: every array the kernels work on, their field indices, and how they are built from config.

All state lives in preallocated numpy arrays gathered in one :class:`EngineState` named tuple, so a kernel takes a
single argument and touches nothing else. Field indices below are compile-time constants for the kernels. Arrays
the core shares with other threads (rings, stats) are cache-line aligned; the rest are owned by the core thread and
read by others only through the published snapshot.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from bot4.core.config import STRATEGY_KINDS, BreakerConfig, CoreConfig
from bot4.core.memory import aligned_zeros
from bot4.core.pool import Pool
from bot4.core.records import (
    COMMAND_DTYPE,
    FILL_DTYPE,
    ORDER_DTYPE,
    STATE_CHANGE_DTYPE,
    TICK_DTYPE,
    TRANSITION_DTYPE,
)
from bot4.core.ring import Ring
from bot4.core.stats import StatsBlock

NS = 1_000_000_000

# --- params: float64 limits and settings (from config) ----------------------------------------------------------------
P_RISK_FRAC = 0  # sizing: equity fraction at risk per trade
P_MAX_RISK_FRAC = 1  # rejection: max equity fraction at risk per trade
P_MAX_NOTIONAL = 2  # USD per order
P_MAX_GROSS = 3  # USD gross exposure
P_PRICE_BAND = 4  # fraction of last trade
P_RATE_PER_NS = 5  # order tokens refilled per ns of market clock
P_BURST = 6  # token bucket depth
P_MAX_CORR = 7
P_CORR_WINDOW = 8  # samples
P_CORR_MIN = 9  # samples
P_SAMPLE_NS = 10  # return sampling interval, market-clock ns
P_VAR_WINDOW = 11  # samples
P_VAR_K = 12  # rank of the VaR loss among var_window samples (1 = worst)
P_MAX_VAR_FRAC = 13
P_DD_WARN = 14
P_DD_HALT = 15
P_REARM_COOLDOWN_NS = 16  # wall clock
P_STREAK_MAX = 17
P_STREAK_COOLDOWN_NS = 18  # market clock
P_FLATTEN_ON_KILL = 19  # 0/1
P_PUBLISH_NS = 20  # how often the core publishes its snapshot, wall clock
P_BATCH_MAX = 21
P_DD_RESUME = 22  # REDUCING -> ACTIVE again below this drawdown (hysteresis)
P_WARM_TICKS = 23  # ticks between dry runs of the risk checks (0 = none)
N_PARAMS = 24

# --- ist: int64 state owned by the core ----------------------------------------------------------------------------
I_TRADING_STATE = 0  # STATE_*
I_HALT_SEQ = 1  # increments on every halt; a re-arm must quote it as its confirmation
I_REARM_AFTER_NS = 2  # monotonic ns before which a re-arm is refused
I_ENTRY_COOLDOWN_UNTIL = 3  # market-clock ns before which entries are refused (loss streak)
I_LOSS_STREAK = 4  # consecutive losing trades
I_PAUSED = 5  # 1 = strategies muted by an operator
I_ORDER_SEQ = 6  # last client order sequence used
I_STOP = 7  # set by the owner to make the run loop return
I_LAST_PUBLISH_NS = 8
I_CLOCK_NS = 9  # market clock: latest exchange timestamp seen
I_NEXT_SAMPLE_NS = 10  # market-clock time of the next return sample
I_RET_COUNT = 11  # return samples taken
I_OPEN_ORDERS = 12  # order records in use
I_TRADES = 13  # round trips closed
I_WINS = 14
I_LOSSES = 15
I_LAST_CMD_SEQ = 16  # sequence number of the last command handled
I_LAST_CMD_REASON = 17  # its result (REASON_*; 0 = done)
I_LAST_CMD_KIND = 18
I_KILLS = 19  # kill commands handled
I_STATE_SINCE_NS = 20  # monotonic ns of the last trading-state change
I_KILL_NS = 21  # monotonic ns when the last kill was applied by the core
I_RUNNING = 22  # 1 while the run loop is inside the kernel
I_VAR_DIRTY = 23  # positions changed since the VaR base series was built
I_LAST_TICK_SEQ = 24  # per-engine last tick seq seen (for out-of-order detection)
I_UNKNOWN_EXEC = 25  # execution reports for orders the core does not know
I_LOOPS = 26  # run-loop iterations
I_CANCEL_ALL_PENDING = 27  # cancels not all pushed yet (execution ring full): 1 all, 2 all but protective exits
I_SLEEPING = 28  # 1 while the core thread sleeps on I_WAKE (producers must wake it)
I_WAKE = 29  # futex word: producers bump it to wake a sleeping core
I_SLEEPS = 30  # times the run loop went to sleep
I_WARM_TICKS = 31  # ticks handled since the last dry run of the risk checks
I_WARMS = 32  # dry runs of the risk checks (warm_nb)
I_WARM_SYMBOL = 33  # latest symbol ticking with a strategy: the dry runs check an order on it
I_ENV_STALE = 34  # 1 when a position changed since the VaR envelopes were built (the next warm-up rebuilds them)
I_NOTIFY_FD = 35  # eventfd the core signals when orders wait in the execution ring and a consumer sleeps (-1 = none)
I_NOTIFY_ARMED = 36  # 1 while the execution side sleeps waiting for that signal
I_NOTIFIES = 37  # signals sent
I_OWNER = 38  # which thread may run the engine step: OWNER_FREE while the core thread sleeps, else its holder
I_STEALS = 39  # steps run by a producer thread because the core thread was asleep (see engine.kick_core_nb)
OWNER_FREE = 0
OWNER_CORE = 1
OWNER_PRODUCER = 2
N_IST = 40

# --- acct: float64 account figures ---------------------------------------------------------------------------------
A_INITIAL = 0
A_EQUITY = 1
A_PEAK = 2
A_DRAWDOWN = 3  # fraction of peak
A_REALIZED = 4  # realized PnL, quote units, before fees
A_FEES = 5  # fees paid
A_UNREALIZED = 6
A_GROSS = 7  # sum |qty| * price
A_VAR = 8  # portfolio VaR of the current positions, quote units
A_NET = 9  # sum qty * price
N_ACCT = 12

# --- sym: float64 per symbol ---------------------------------------------------------------------------------------
S_QTY = 0  # position, base units, signed
S_AVG_PX = 1  # average entry price of the open position
S_REALIZED = 2
S_FEES = 3
S_LAST_PX = 4  # last trade (or mid / bar close)
S_BID = 5
S_ASK = 6
S_STOP_PX = 7  # the open position's protective stop (NaN when flat)
S_TP_PX = 8  # take profit (NaN when none)
S_SIZE_STEP = 9
S_PRICE_TICK = 10
S_MIN_SIZE = 11
S_MAX_EXPOSURE = 12  # USD
S_PENDING_BUY = 13  # open buy order size not yet filled
S_PENDING_SELL = 14
S_EXIT_PENDING = 15  # 1 while an exit (stop / take profit / kill) order is working
S_SAMPLE_PX = 16  # last price at the previous return sample
S_VENUE = 17  # venue id
S_STRATEGY = 18  # STRAT_* (0 = none)
S_TICKS = 19
S_UNREALIZED = 20
S_EXPOSURE = 21  # |qty| * last
S_TRADE_PNL = 22  # realized PnL minus fees of the current round trip
S_LAST_TS = 23  # exchange ns of the last tick
S_BAD_TICKS = 24
S_DEFERRED_SIG = 25  # a strategy signal (+1 / -1) held while an entry the other way is still working (0 = none)
S_EXIT_RETRY_CLOCK = 26  # market clock before which a refused stop exit is not sent again (a report clears it)
N_SYM = 28

# --- strategies ----------------------------------------------------------------------------------------------------
STRAT_NONE = 0
STRAT_EMA_CROSS = 1
STRAT_BREAKOUT = 2
STRAT_ZSCORE = 3
STRAT_CODES = {"ema_cross": STRAT_EMA_CROSS, "breakout": STRAT_BREAKOUT, "zscore": STRAT_ZSCORE}
assert set(STRAT_CODES) == set(STRATEGY_KINDS)

SP_FAST = 0
SP_SLOW = 1
SP_LOOKBACK = 2
SP_WINDOW = 3
SP_ENTRY_Z = 4
SP_EXIT_Z = 5
SP_STOP_FRAC = 6
SP_TP_FRAC = 7
N_SP = 8

SS_EMA_FAST = 0
SS_EMA_SLOW = 1
SS_COUNT = 2  # prices seen
SS_SUM = 3  # zscore running sum over the window
SS_SUMSQ = 4
SS_LAST_DIR = 5  # last direction signalled (+1, -1, 0)
SS_HIST_POS = 6  # next write position in the price history
N_SS = 8

# --- risk_aux columns: per-symbol values the risk check reads in O(1) ----------------------------------------------
RX_CORR_HI = 0  # max over open positions j != s of corr[s, j] * sign(qty_j) (-inf when none)
RX_CORR_LO = 1  # min of the same (+inf when none)
RX_ENV_LINES = 2  # lines in var_env[s] (0 = not built for the current VaR base: the check scans the window)
RX_ORDER_LEN = 3  # ring columns in var_order[s] (sorted for the current window)
N_RX = 4

# --- breakers (int64) ------------------------------------------------------------------------------------------------
B_STATE = 0  # BREAKER_*
B_SINCE_NS = 1  # monotonic ns of the last transition
B_OUTCOMES = 2  # bit i = 1 when the i-th most recent call failed
B_CALLS = 3  # calls in the window (<= window)
B_CONSEC_FAIL = 4
B_LAST_OK_NS = 5  # monotonic ns of the last success
B_PROBES_OK = 6  # successful probes in this HALF_OPEN period
B_PROBES_OUT = 7  # probes admitted and not yet reported
B_TO_CLOSED = 8  # transitions into each state
B_TO_OPEN = 9
B_TO_HALF_OPEN = 10
B_LAST_LATENCY_NS = 11
B_FAILURES = 12  # failures ever
B_TOTAL = 13  # calls ever
B_LAST_CAUSE = 14
B_KIND = 15  # 0 = venue, 1 = feed
N_B = 16

BC_ERROR_RATE = 0
BC_MIN_CALLS = 1
BC_WINDOW = 2
BC_CONSEC = 3
BC_SLOW_NS = 4
BC_STALE_NS = 5
BC_OPEN_NS = 6
BC_PROBES = 7
N_BC = 8

BREAKER_VENUE = 0
BREAKER_FEED = 1

# published ring rows
RING_ROWS = ("md", "fills", "commands", "orders", "rejects", "state_log", "transitions")
PUB_RING_MD, PUB_RING_FILLS, PUB_RING_CMDS, PUB_RING_ORDERS, PUB_RING_REJECTS, PUB_RING_STATES, PUB_RING_TRANS = range(7)

ORDER_SLOT_BITS = 14  # client order id = seq << 14 | pool slot
ORDER_SLOT_MASK = (1 << ORDER_SLOT_BITS) - 1


class EngineState(NamedTuple):
    """Every array of the core; the one argument of the engine kernels."""

    params: np.ndarray
    ist: np.ndarray
    acct: np.ndarray
    sym: np.ndarray
    strat_params: np.ndarray
    strat_state: np.ndarray
    px_hist: np.ndarray
    rets: np.ndarray  # [symbol, sample % window] log returns
    corr: np.ndarray  # [symbol, symbol] correlation over the last corr_window samples (NaN = unknown)
    var_base: np.ndarray  # portfolio PnL per sample of the current positions
    var_scratch: np.ndarray  # the k worst outcomes while computing a VaR
    risk_aux: np.ndarray  # [symbol, N_RX]: what the risk check reads instead of looping (see RX_*)
    var_env: np.ndarray  # [symbol, 4, line]: lower envelope of the VaR lines (breakpoints, intercepts, slopes, index)
    var_order: np.ndarray  # [symbol, var_window] int64: ring columns of the window sorted by return, descending
    venue_tokens: np.ndarray  # [venue, 2]: tokens, market-clock ns of the last refill
    brk: np.ndarray  # [breaker, N_B] int64
    brk_cfg: np.ndarray  # [breaker, N_BC] float64
    orders: np.ndarray  # ORDER_DTYPE records, indexed by pool slot
    pool_free: np.ndarray
    pool_state: np.ndarray
    pool_ctrl: np.ndarray
    md_buf: np.ndarray
    md_ctrl: np.ndarray
    fill_buf: np.ndarray
    fill_ctrl: np.ndarray
    cmd_buf: np.ndarray
    cmd_ctrl: np.ndarray
    out_buf: np.ndarray
    out_ctrl: np.ndarray
    rej_buf: np.ndarray
    rej_ctrl: np.ndarray
    slog_buf: np.ndarray
    slog_ctrl: np.ndarray
    trans_buf: np.ndarray
    trans_ctrl: np.ndarray
    stats: np.ndarray
    seq: np.ndarray
    pub_stats: np.ndarray
    pub_ist: np.ndarray
    pub_acct: np.ndarray
    pub_sym: np.ndarray
    pub_corr: np.ndarray
    pub_brk: np.ndarray
    pub_pool: np.ndarray
    pub_rings: np.ndarray  # [RING_ROWS, RING_CTRL_SIZE]
    scratch_tick: np.ndarray  # one tick record
    scratch_fill: np.ndarray  # one fill record


class CoreParts(NamedTuple):
    """The Python owners of the shared pieces, for the runtime's feeds and execution."""

    md: Ring
    fills: Ring
    commands: Ring
    orders: Ring
    rejects: Ring
    state_log: Ring
    transitions: Ring
    pool: Pool
    stats: StatsBlock


def breaker_config_row(cfg: BreakerConfig) -> np.ndarray:
    row = np.zeros(N_BC)
    row[BC_ERROR_RATE] = cfg.error_rate
    row[BC_MIN_CALLS] = cfg.min_calls
    row[BC_WINDOW] = cfg.window
    row[BC_CONSEC] = cfg.consecutive_failures
    row[BC_SLOW_NS] = cfg.slow_call_s * NS
    row[BC_STALE_NS] = cfg.stale_after_s * NS
    row[BC_OPEN_NS] = cfg.open_timeout_s * NS
    row[BC_PROBES] = cfg.probes
    return row


def build_state(config: CoreConfig, publish_interval_s: float = 0.05) -> tuple[EngineState, CoreParts]:
    """Allocate every array the core will ever use, filled from ``config``."""
    risk = config.risk
    n_sym = len(config.instruments)
    venues = config.venues
    n_venues = len(venues)

    params = np.zeros(N_PARAMS)
    params[P_RISK_FRAC] = risk.risk_per_trade_frac
    params[P_MAX_RISK_FRAC] = risk.max_risk_per_trade_frac
    params[P_MAX_NOTIONAL] = risk.max_order_notional_usd
    params[P_MAX_GROSS] = risk.max_gross_exposure_usd
    params[P_PRICE_BAND] = risk.price_band_frac
    params[P_RATE_PER_NS] = risk.max_orders_per_s / NS
    params[P_BURST] = risk.order_burst
    params[P_MAX_CORR] = risk.max_correlation
    params[P_CORR_WINDOW] = risk.correlation_window
    params[P_CORR_MIN] = risk.correlation_min_samples
    params[P_SAMPLE_NS] = risk.return_sample_interval_s * NS
    params[P_VAR_WINDOW] = risk.var_window
    var_k = max(1, math.floor((1.0 - risk.var_confidence) * risk.var_window))
    params[P_VAR_K] = var_k
    params[P_MAX_VAR_FRAC] = risk.max_var_frac
    params[P_DD_WARN] = risk.drawdown_warn_frac
    params[P_DD_HALT] = risk.max_drawdown_frac
    params[P_DD_RESUME] = 0.8 * risk.drawdown_warn_frac
    params[P_REARM_COOLDOWN_NS] = risk.rearm_cooldown_s * NS
    params[P_STREAK_MAX] = risk.loss_streak_max
    params[P_STREAK_COOLDOWN_NS] = risk.loss_streak_cooldown_s * NS
    params[P_FLATTEN_ON_KILL] = 1.0 if risk.flatten_on_kill else 0.0
    params[P_PUBLISH_NS] = publish_interval_s * NS
    params[P_BATCH_MAX] = config.batch_max
    params[P_WARM_TICKS] = config.warm_every_ticks

    ist = aligned_zeros(N_IST)
    ist[I_NOTIFY_FD] = -1
    acct = np.zeros(N_ACCT)
    acct[A_INITIAL] = acct[A_EQUITY] = acct[A_PEAK] = risk.initial_equity_usd

    sym = np.zeros((n_sym, N_SYM))
    strat_params = np.zeros((n_sym, N_SP))
    strat_state = np.zeros((n_sym, N_SS))
    hist_len = 2
    for s, inst in enumerate(config.instruments):
        sym[s, S_SIZE_STEP] = inst.size_step
        sym[s, S_PRICE_TICK] = inst.price_tick
        sym[s, S_MIN_SIZE] = inst.min_size
        sym[s, S_MAX_EXPOSURE] = inst.max_exposure_usd or risk.max_symbol_exposure_usd
        sym[s, S_VENUE] = venues.index(inst.venue)
        sym[s, [S_STOP_PX, S_TP_PX, S_AVG_PX, S_LAST_PX, S_BID, S_ASK, S_SAMPLE_PX]] = np.nan
        strat = config.strategy_for(inst.symbol)
        if strat is not None:
            sym[s, S_STRATEGY] = STRAT_CODES[strat.kind]
            strat_params[s] = (
                strat.fast_period,
                strat.slow_period,
                strat.lookback,
                strat.window,
                strat.entry_z,
                strat.exit_z,
                strat.stop_frac,
                strat.take_profit_frac,
            )
            hist_len = max(hist_len, strat.lookback if strat.kind == "breakout" else strat.window)
    px_hist = np.zeros((n_sym, hist_len))
    window = max(risk.correlation_window, risk.var_window)
    rets = np.zeros((n_sym, window))
    corr = np.full((n_sym, n_sym), np.nan)
    var_base = np.zeros(risk.var_window)
    var_scratch = np.zeros(var_k + 1)
    risk_aux = np.zeros((n_sym, N_RX))
    risk_aux[:, RX_CORR_HI] = -np.inf  # no open position: nothing to be correlated with
    risk_aux[:, RX_CORR_LO] = np.inf
    var_env = np.zeros((n_sym, 4, risk.var_window))
    var_order = np.zeros((n_sym, risk.var_window), np.int64)
    venue_tokens = np.zeros((n_venues, 2))
    venue_tokens[:, 0] = risk.order_burst

    n_brk = 2 * n_venues
    brk = aligned_zeros(n_brk * N_B).reshape(n_brk, N_B)
    brk_cfg = np.zeros((n_brk, N_BC))
    for v in range(n_venues):
        brk_cfg[v] = breaker_config_row(config.venue_breaker)
        brk_cfg[n_venues + v] = breaker_config_row(config.feed_breaker)
        brk[n_venues + v, B_KIND] = BREAKER_FEED

    pool = Pool(ORDER_DTYPE, config.order_pool_capacity, "orders")
    md = Ring(TICK_DTYPE, config.md_ring_capacity, "md")
    fills = Ring(FILL_DTYPE, config.fill_ring_capacity, "fills")
    from bot4.core.ring import CommandRing

    commands = CommandRing(1024)
    orders = Ring(ORDER_DTYPE, config.order_ring_capacity, "orders")
    rejects = Ring(ORDER_DTYPE, 1024, "rejects")
    state_log = Ring(STATE_CHANGE_DTYPE, 256, "state_log")
    transitions = Ring(TRANSITION_DTYPE, 1024, "transitions")
    stats = StatsBlock()
    rings = (md, fills, commands, orders, rejects, state_log, transitions)

    st = EngineState(
        params=params,
        ist=ist,
        acct=acct,
        sym=sym,
        strat_params=strat_params,
        strat_state=strat_state,
        px_hist=px_hist,
        rets=rets,
        corr=corr,
        var_base=var_base,
        var_scratch=var_scratch,
        risk_aux=risk_aux,
        var_env=var_env,
        var_order=var_order,
        venue_tokens=venue_tokens,
        brk=brk,
        brk_cfg=brk_cfg,
        orders=pool.records,
        pool_free=pool.free,
        pool_state=pool.slot_state,
        pool_ctrl=pool.ctrl,
        md_buf=md.buf,
        md_ctrl=md.ctrl,
        fill_buf=fills.buf,
        fill_ctrl=fills.ctrl,
        cmd_buf=commands.buf,
        cmd_ctrl=commands.ctrl,
        out_buf=orders.buf,
        out_ctrl=orders.ctrl,
        rej_buf=rejects.buf,
        rej_ctrl=rejects.ctrl,
        slog_buf=state_log.buf,
        slog_ctrl=state_log.ctrl,
        trans_buf=transitions.buf,
        trans_ctrl=transitions.ctrl,
        stats=stats.live,
        seq=stats.seq,
        pub_stats=stats.published,
        pub_ist=np.zeros_like(ist),
        pub_acct=np.zeros_like(acct),
        pub_sym=np.zeros_like(sym),
        pub_corr=np.zeros_like(corr),
        pub_brk=np.zeros_like(brk),
        pub_pool=np.zeros_like(pool.ctrl),
        pub_rings=np.zeros((len(rings), md.ctrl.shape[0]), dtype=np.int64),
        scratch_tick=np.zeros(1, TICK_DTYPE),
        scratch_fill=np.zeros(1, FILL_DTYPE),
    )
    parts = CoreParts(md, fills, commands, orders, rejects, state_log, transitions, pool, stats)
    return st, parts


__all__ = ["EngineState", "CoreParts", "build_state", "COMMAND_DTYPE"]
