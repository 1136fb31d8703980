"""The core's state: every array the kernels work on, read by field name, and how it is built from config.

Each kind of row is a numpy record dtype (``align=True``, a comment per field, ints stored as ints), read by name in
kernels (``st.sym[s].qty``, ``st.core[0].clock_ns``) and in Python (``snap.sym["qty"]``). One-row tables (params,
core, account) are arrays of length 1, so kernels write through them. The words other threads read or write while
the core runs (stop, sleep, wake, step owner, notify) are not in these rows: they live in ``sync``, one int64 per
64-byte line, and are touched only through the atomics in ``atomics.py``.

Kernels take small groups, not the whole state: :class:`RiskViews` for what the correlation and VaR checks read,
:class:`Strategies` for the strategy rows, :class:`Rings` (each a :class:`RingArrays`), :class:`PoolArrays` and
:class:`Published`. :class:`EngineState` holds them all and is the one argument of the engine's step.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from bot4.core.book import BOOK_VIEW, L2Book, new_book
from bot4.core.config import STRATEGY_KINDS, BreakerConfig, ConfigError, CoreConfig
from bot4.core.intents import Intents, new_intents
from bot4.core.memory import INT64_PER_LINE, aligned_zeros
from bot4.core.pool import Pool
from bot4.core.records import FILL_DTYPE, ORDER_DTYPE, STATE_CHANGE_DTYPE, TICK_DTYPE, TRANSITION_DTYPE
from bot4.core.ring import CommandRing, Ring
from bot4.core.stats import StatsBlock

NS = 1_000_000_000

PARAMS_DTYPE = np.dtype(
    [
        ("risk_frac", np.float64),  # sizing: equity fraction put at risk (entry to stop) by one trade
        ("max_risk_frac", np.float64),  # refusal: max equity fraction at risk per trade
        ("max_notional", np.float64),  # quote units per order
        ("max_gross", np.float64),  # quote units of gross exposure
        ("price_band", np.float64),  # an order's price within this fraction of the last trade
        ("rate_per_ns", np.float64),  # order tokens refilled per ns of market clock
        ("burst", np.float64),  # token bucket depth
        ("max_corr", np.float64),  # correlation of a new position with an open one, refusal level
        ("corr_window", np.int64),  # return samples in the correlation window
        ("corr_min", np.int64),  # samples below which the correlation and VaR rules cannot judge (admit)
        ("sample_ns", np.int64),  # return sampling interval, market-clock ns
        ("var_window", np.int64),  # return samples in the VaR window
        ("var_k", np.int64),  # rank of the VaR loss among var_window samples (1 = worst)
        ("max_var_frac", np.float64),  # VaR limit, fraction of equity
        ("dd_warn", np.float64),  # drawdown fraction: ACTIVE -> REDUCING
        ("dd_halt", np.float64),  # drawdown fraction: -> HALTED (the breaker)
        ("dd_resume", np.float64),  # REDUCING -> ACTIVE again below this drawdown (hysteresis)
        ("rearm_cooldown_ns", np.int64),  # monotonic ns a re-arm waits after a halt
        ("streak_max", np.int64),  # losing round trips in a row that start the entry cool-down
        ("streak_cooldown_ns", np.int64),  # market-clock ns of that cool-down
        ("flatten_on_kill", np.bool_),  # the kill switch also closes every position
        ("publish_ns", np.int64),  # how often the core publishes its snapshot, monotonic ns
        ("batch_max", np.int64),  # records of one kind handled per step
        ("warm_ticks", np.int64),  # ticks between dry runs of the risk checks (0 = none)
        ("outlier_frac", np.float64),  # a print this far from the last accepted price is refused...
        ("outlier_confirm", np.int64),  # ...until this many in a row agree on the new level
    ],
    align=True,
)

CMD_RESULTS = 64  # commands whose results the core keeps (a caller asks for its own command's verdict)
CORE_DTYPE = np.dtype(
    [
        ("trading_state", np.int64),  # STATE_*
        ("halt_seq", np.int64),  # increments on every halt; a re-arm must quote it as its confirmation
        ("rearm_after_ns", np.int64),  # monotonic ns before which a re-arm is refused
        ("entry_cooldown_until", np.int64),  # market-clock ns before which entries are refused (loss streak)
        ("loss_streak", np.int64),  # consecutive losing round trips
        ("paused", np.int64),  # 1 = strategies muted by an operator
        ("order_seq", np.int64),  # last client order sequence used
        ("last_publish_ns", np.int64),  # monotonic ns of the last publish
        ("clock_ns", np.int64),  # market clock: latest exchange timestamp seen
        ("next_sample_ns", np.int64),  # market-clock time of the next return sample (0 = none taken yet)
        ("ret_count", np.int64),  # return samples taken
        ("open_orders", np.int64),  # order records in use
        ("trades", np.int64),  # round trips closed
        ("wins", np.int64),
        ("losses", np.int64),
        ("last_cmd_seq", np.int64),  # sequence number of the last command handled
        ("last_cmd_reason", np.int64),  # its result (REASON_*; 0 = done)
        ("last_cmd_kind", np.int64),  # its CMD_*
        ("kills", np.int64),  # kill commands handled
        ("state_since_ns", np.int64),  # monotonic ns of the last trading-state change
        ("kill_ns", np.int64),  # monotonic ns when the last kill was applied
        ("var_dirty", np.int64),  # 1 when positions were set from outside the fill path (views rebuilt on first use)
        ("unknown_exec", np.int64),  # execution reports for orders the core does not know
        ("loops", np.int64),  # run-loop iterations
        ("cancel_all_pending", np.int64),  # cancels not all pushed (execution ring full): 1 all, 2 all but exits
        ("sleeps", np.int64),  # times the run loop went to sleep
        ("warm_ticks", np.int64),  # ticks handled since the last dry run of the risk checks
        ("warms", np.int64),  # dry runs of the risk checks
        ("warm_symbol", np.int64),  # latest symbol ticking with a strategy: the dry runs check an order on it
        ("env_stale", np.int64),  # 1 when a position changed since the VaR envelopes were built
        ("notifies", np.int64),  # eventfd signals sent to the execution side
        ("steals", np.int64),  # steps run by a producer thread because the core thread slept
        ("kill_seen", np.int64),  # the W_KILL value the last applied kill answered
        ("cmd_result_seq", np.int64, (CMD_RESULTS,)),  # the last CMD_RESULTS commands' sequence numbers ...
        ("cmd_result", np.int64, (CMD_RESULTS,)),  # ... and their results (REASON_*), at seq % CMD_RESULTS
        ("refusal_value", np.float64),  # the last refusal by the risk check: its figure (records.REASON_FIGURES)
        ("refusal_limit", np.float64),  # ... and the limit it was held against (NaN when none)
        ("refusal_also", np.int64),  # ... and 1 << REASON_* of the other checks that refused it too (risk.py)
    ],
    align=True,
)

# sync: the words shared with other threads while the core runs, each on its own cache line (the value is its index)
W_STOP = 0 * INT64_PER_LINE  # set by the owner to make the run loop return
W_RUNNING = 1 * INT64_PER_LINE  # 1 while the run loop is inside the kernel
W_SLEEPING = 2 * INT64_PER_LINE  # 1 while the core thread sleeps on W_WAKE (producers wake it, or run the step)
W_WAKE = 3 * INT64_PER_LINE  # futex word: producers bump it to wake a sleeping core
W_OWNER = 4 * INT64_PER_LINE  # which thread may run the engine step: OWNER_FREE while the core thread sleeps
W_NOTIFY_FD = 5 * INT64_PER_LINE  # eventfd the core signals when orders wait and the execution side sleeps (-1: none)
W_NOTIFY_ARMED = 6 * INT64_PER_LINE  # 1 while the execution side sleeps waiting for that signal
W_KILL = 7 * INT64_PER_LINE  # kill requests: bumped by any thread; the step compares it with core.kill_seen each pass
SYNC_SIZE = 8 * INT64_PER_LINE
OWNER_FREE = 0
OWNER_CORE = 1
OWNER_PRODUCER = 2

ACCOUNT_DTYPE = np.dtype(
    [
        ("initial", np.float64),  # equity at the start of the journal, quote units
        ("equity", np.float64),  # initial + realized - fees + unrealized
        ("peak", np.float64),  # highest equity seen (reset by a re-arm)
        ("drawdown", np.float64),  # fraction of peak
        ("realized", np.float64),  # realized PnL before fees
        ("fees", np.float64),  # fees paid
        ("unrealized", np.float64),
        ("gross", np.float64),  # sum |qty| * price
        ("var", np.float64),  # portfolio VaR of the current positions, quote units
        ("net", np.float64),  # sum qty * price
    ],
    align=True,
)

SYMBOL_DTYPE = np.dtype(
    [
        ("qty", np.float64),  # position, base units, signed
        ("avg_px", np.float64),  # average entry price of the open position (NaN when flat)
        ("realized", np.float64),  # realized PnL before fees, quote units
        ("fees", np.float64),
        ("last_px", np.float64),  # last trade (or mid, or bar close)
        ("bid", np.float64),
        ("ask", np.float64),
        ("stop_px", np.float64),  # the open position's protective stop (NaN when flat)
        ("tp_px", np.float64),  # its take profit (NaN when none)
        ("size_step", np.float64),  # base units
        ("price_tick", np.float64),  # quote units
        ("min_size", np.float64),  # base units
        ("max_exposure", np.float64),  # quote units
        ("pending_buy", np.float64),  # open buy orders' size not yet filled
        ("pending_sell", np.float64),
        ("sample_px", np.float64),  # last price at the previous return sample
        ("unrealized", np.float64),
        ("exposure", np.float64),  # |qty| * last
        ("trade_pnl", np.float64),  # realized PnL minus fees of the current round trip
        ("venue", np.int64),  # venue id
        ("strategy", np.int64),  # STRAT_* (0 = none)
        ("ticks", np.int64),  # ticks taken
        ("last_ts", np.int64),  # exchange ns of the last tick
        ("bad_ticks", np.int64),  # ticks refused by the sanity checks
        ("exit_pending", np.int64),  # 1 while an exit (stop / take profit / kill / flatten) order is working
        ("deferred_sig", np.int64),  # a signal (+1 / -1) held while an entry the other way is still working (0 = none)
        ("exit_retry_clock", np.int64),  # market clock before which a refused exit is not sent again
        ("exit_wanted", np.int64),  # 1 while the position should go to zero (a flat signal, a flip, a flatten)
        ("exit_flags", np.int64),  # the FLAG_* bits that exit carries (kill, manual)
        ("manual_pos", np.int64),  # 1 while the position was opened by a manual order (the strategy leaves it alone)
        ("outlier_anchor", np.float64),  # the level the latest outlier prints agree on
        ("outlier_misses", np.int64),  # outlier prints in a row near that level
    ],
    align=True,
)

# --- strategies ----------------------------------------------------------------------------------------------------
STRAT_NONE = 0
STRAT_EMA_CROSS = 1
STRAT_BREAKOUT = 2
STRAT_ZSCORE = 3
STRAT_SDK = 4  # a user strategy (a class in a file: usercode.py), compiled into the step (sdkstep.py)
STRAT_CODES = {"ema_cross": STRAT_EMA_CROSS, "breakout": STRAT_BREAKOUT, "zscore": STRAT_ZSCORE}
assert set(STRAT_CODES) == set(STRATEGY_KINDS)
NO_USER_DTYPE = np.dtype([("sdk_none", np.int64)], align=True)  # user params / state when no user strategy runs
SDK_REFUSED_N = 0  # sdk_ctl: refusals queued in Strategies.refused for the user strategy's on_reject
SDK_REFUSED_DROPPED = 1  # sdk_ctl: refusals the full queue could not hold (the strategy is not told of them)
SDK_CTL_SIZE = 8
SDK_REFUSED_CAPACITY = 64
REFUSAL_DTYPE = np.dtype(
    [
        ("symbol_id", np.int64),
        ("side", np.int64),  # +1 / -1
        ("reason", np.int64),  # REASON_*
    ],
    align=True,
)

STRAT_PARAMS_DTYPE = np.dtype(
    [
        ("fast", np.int64),  # ema_cross: prices in the fast EMA
        ("slow", np.int64),  # ema_cross: prices in the slow EMA
        ("lookback", np.int64),  # breakout: prices in the channel
        ("window", np.int64),  # zscore: prices in the rolling mean and deviation
        ("entry_z", np.float64),  # zscore: |z| to enter against the move
        ("exit_z", np.float64),  # zscore: |z| under which the view is closed
        ("stop_frac", np.float64),  # stop-loss distance from entry, fraction of price
        ("tp_frac", np.float64),  # take-profit distance, fraction of price (0 = none)
        ("manage_manual", np.int64),  # 1: the strategy's signals may exit or flip a manual position
    ],
    align=True,
)

STRAT_STATE_DTYPE = np.dtype(
    [
        ("ema_fast", np.float64),
        ("ema_slow", np.float64),
        ("sum", np.float64),  # zscore: running sum over the window
        ("sumsq", np.float64),  # zscore: running sum of squares
        ("count", np.int64),  # prices seen
        ("last_dir", np.int64),  # last direction signalled (+1, -1, 0)
        ("hist_pos", np.int64),  # next write position in the price history
    ],
    align=True,
)

# --- risk views ------------------------------------------------------------------------------------------------------
RISK_AUX_DTYPE = np.dtype(
    [
        ("corr_hi", np.float64),  # max over open positions j != s of corr[s, j] * sign(qty_j) (-inf when none)
        ("corr_lo", np.float64),  # min of the same (+inf when none)
        ("env_lines", np.int64),  # lines in var_env[s] (0 = not built for the current VaR base: the check scans)
        ("order_len", np.int64),  # ring columns in var_order[s] (sorted for the current window)
    ],
    align=True,
)

TOKENS_DTYPE = np.dtype(
    [
        ("tokens", np.float64),  # orders the venue's bucket admits now
        ("refill_ns", np.int64),  # market-clock ns of the last refill
    ],
    align=True,
)

# --- breakers --------------------------------------------------------------------------------------------------------
BREAKER_DTYPE = np.dtype(
    [
        ("state", np.int64),  # BREAKER_*
        ("since_ns", np.int64),  # monotonic ns of the last transition
        ("outcomes", np.int64),  # bit i = 1 when the i-th most recent call failed
        ("calls", np.int64),  # calls in the window (<= window)
        ("consec_fail", np.int64),
        ("last_ok_ns", np.int64),  # monotonic ns of the last success
        ("probes_ok", np.int64),  # successful probes in this HALF_OPEN period
        ("probes_out", np.int64),  # probes admitted and not yet reported
        ("to_closed", np.int64),  # transitions into each state
        ("to_open", np.int64),
        ("to_half_open", np.int64),
        ("last_latency_ns", np.int64),
        ("failures", np.int64),  # failures ever
        ("total", np.int64),  # calls ever
        ("last_cause", np.int64),  # CAUSE_* of the last transition
        ("kind", np.int64),  # BREAKER_VENUE or BREAKER_FEED
    ],
    align=True,
)

BREAKER_CFG_DTYPE = np.dtype(
    [
        ("error_rate", np.float64),  # failure fraction over the window that opens
        ("min_calls", np.int64),  # calls in the window before the rate counts
        ("window", np.int64),  # calls in the window (<= 64)
        ("consec", np.int64),  # failures in a row that open
        ("slow_ns", np.int64),  # a call slower than this is a failure
        ("stale_ns", np.int64),  # no success for this long opens (0 = never)
        ("open_ns", np.int64),  # OPEN this long before probing
        ("probes", np.int64),  # probes admitted in HALF_OPEN; this many successes close
    ],
    align=True,
)

BREAKER_VENUE = 0
BREAKER_FEED = 1

ORDER_SLOT_BITS = 14  # client order id = seq << 14 | pool slot
ORDER_SLOT_MASK = (1 << ORDER_SLOT_BITS) - 1


class RingArrays(NamedTuple):
    buf: np.ndarray  # records
    ctrl: np.ndarray  # int64 head/tail/counters (ring.py)


class Rings(NamedTuple):
    """The core's rings; this order is the published rows' order (``RING_ROWS``)."""

    md: RingArrays  # market data in (TICK_DTYPE)
    fills: RingArrays  # execution reports in (FILL_DTYPE)
    commands: RingArrays  # commands in (COMMAND_DTYPE)
    orders: RingArrays  # orders and cancels out to execution (ORDER_DTYPE)
    rejects: RingArrays  # refused orders out, for the views (ORDER_DTYPE)
    state_log: RingArrays  # trading-state changes out (STATE_CHANGE_DTYPE)
    transitions: RingArrays  # breaker transitions out (TRANSITION_DTYPE)


RING_ROWS = Rings._fields


class PoolArrays(NamedTuple):
    records: np.ndarray  # ORDER_DTYPE, indexed by pool slot
    free: np.ndarray
    slot_state: np.ndarray
    ctrl: np.ndarray


class Strategies(NamedTuple):
    params: np.ndarray  # STRAT_PARAMS_DTYPE per symbol
    state: np.ndarray  # STRAT_STATE_DTYPE per symbol
    hist: np.ndarray  # float64 [symbol, price]: the windowed strategies' price history
    intents: Intents  # what its last handler call asked for
    sdk_ctl: np.ndarray  # int64[SDK_CTL_SIZE]: SDK_REFUSED_N, SDK_REFUSED_DROPPED
    refused: np.ndarray  # REFUSAL_DTYPE[SDK_REFUSED_CAPACITY]: refusals of its orders, until on_reject hears of them


class UserArrays(NamedTuple):
    """The user strategy's records, apart from the engine state: only the kernels that call its handlers (the step,
    the run loops, the lockstep replay) take them, so a new strategy compiles those and no other kernel."""

    params: np.ndarray  # its params record per symbol (NO_USER_DTYPE: none runs)
    state: np.ndarray  # its state record per symbol; the dtype's sdk_<key> marker selects its code


class RiskViews(NamedTuple):
    """What the correlation and VaR rules read, and the order-rate buckets."""

    rets: np.ndarray  # [symbol, sample % window] log returns
    corr: np.ndarray  # [symbol, symbol] correlation over the last corr_window samples (NaN = unknown)
    var_base: np.ndarray  # portfolio PnL per sample of the current positions
    var_scratch: np.ndarray  # the k worst outcomes while computing a VaR
    aux: np.ndarray  # RISK_AUX_DTYPE per symbol: what the check reads instead of looping
    var_env: np.ndarray  # [symbol, 4, line]: lower envelope of the VaR lines (breakpoints, intercepts, slopes, index)
    var_order: np.ndarray  # [symbol, var_window] int64: ring columns of the window sorted by return, descending
    tokens: np.ndarray  # TOKENS_DTYPE per venue


class Published(NamedTuple):
    """The copies readers take under the seqlock (written by ``engine_publish_nb``)."""

    stats: np.ndarray
    core: np.ndarray
    acct: np.ndarray
    sym: np.ndarray
    corr: np.ndarray
    brk: np.ndarray
    pool: np.ndarray  # the pool's ctrl words
    rings: np.ndarray  # [RING_ROWS, RING_CTRL_SIZE]
    book: np.ndarray  # float64[n_sym, 2, BOOK_VIEW, 2]: each symbol's best L2 levels (price, size), NaN past the last


class EngineState(NamedTuple):
    """Every array of the core; the one argument of the engine's step."""

    params: np.ndarray  # PARAMS_DTYPE[1]
    core: np.ndarray  # CORE_DTYPE[1]: written only by whoever holds the step
    sync: np.ndarray  # int64: the cross-thread words (W_*), one per cache line
    acct: np.ndarray  # ACCOUNT_DTYPE[1]
    sym: np.ndarray  # SYMBOL_DTYPE per symbol
    strat: Strategies
    risk: RiskViews
    brk: np.ndarray  # BREAKER_DTYPE per breaker (venues, then feeds)
    brk_cfg: np.ndarray  # BREAKER_CFG_DTYPE per breaker
    pool: PoolArrays
    rings: Rings
    stats: np.ndarray  # the live stats block (stats.py)
    seq: np.ndarray  # the seqlock word
    pub: Published
    l2: L2Book  # the L2 book of each symbol (depth ticks), read by a strategy's on_book
    scratch_tick: np.ndarray  # one tick record
    scratch_fill: np.ndarray  # one fill record


class CoreParts(NamedTuple):
    """The Python owners of the shared pieces, for the runtime's feeds and execution."""

    md: Ring
    fills: Ring
    commands: CommandRing
    orders: Ring
    rejects: Ring
    state_log: Ring
    transitions: Ring
    pool: Pool
    stats: StatsBlock

    def rings(self) -> tuple[Ring, ...]:
        """The rings in ``RING_ROWS`` order."""
        return tuple(getattr(self, name) for name in RING_ROWS)


def breaker_config_row(cfg: BreakerConfig) -> np.void:
    row = np.zeros(1, BREAKER_CFG_DTYPE)[0]
    row["error_rate"] = cfg.error_rate
    row["min_calls"] = cfg.min_calls
    row["window"] = cfg.window
    row["consec"] = cfg.consecutive_failures
    row["slow_ns"] = cfg.slow_call_s * NS
    row["stale_ns"] = cfg.stale_after_s * NS
    row["open_ns"] = cfg.open_timeout_s * NS
    row["probes"] = cfg.probes
    return row


def params_row(config: CoreConfig, publish_interval_s: float) -> np.ndarray:
    risk = config.risk
    p = np.zeros(1, PARAMS_DTYPE)
    p["risk_frac"] = risk.risk_per_trade_frac
    p["max_risk_frac"] = risk.max_risk_per_trade_frac
    p["max_notional"] = risk.max_order_notional_usd
    p["max_gross"] = risk.max_gross_exposure_usd
    p["price_band"] = risk.price_band_frac
    p["rate_per_ns"] = risk.max_orders_per_s / NS
    p["burst"] = risk.order_burst
    p["max_corr"] = risk.max_correlation
    p["corr_window"] = risk.correlation_window
    p["corr_min"] = risk.correlation_min_samples
    p["sample_ns"] = round(risk.return_sample_interval_s * NS)
    p["var_window"] = risk.var_window
    p["var_k"] = max(1, math.floor((1.0 - risk.var_confidence) * risk.var_window))
    p["max_var_frac"] = risk.max_var_frac
    p["dd_warn"] = risk.drawdown_warn_frac
    p["dd_halt"] = risk.max_drawdown_frac
    p["dd_resume"] = 0.8 * risk.drawdown_warn_frac
    p["rearm_cooldown_ns"] = round(risk.rearm_cooldown_s * NS)
    p["streak_max"] = risk.loss_streak_max
    p["streak_cooldown_ns"] = round(risk.loss_streak_cooldown_s * NS)
    p["flatten_on_kill"] = risk.flatten_on_kill
    p["publish_ns"] = round(publish_interval_s * NS)
    p["batch_max"] = config.batch_max
    p["warm_ticks"] = config.warm_every_ticks
    p["outlier_frac"] = risk.outlier_frac
    p["outlier_confirm"] = risk.outlier_confirm
    return p


def user_strategy_arrays(config: CoreConfig) -> UserArrays:
    """The user strategy's per-symbol params and state (registered for the step to compile in), or placeholders.

    One user strategy class per engine (its code is compiled into the step); it may trade several symbols with
    different parameters.
    """
    n_sym = len(config.instruments)
    per_symbol = [config.strategy_for(i.symbol) for i in config.instruments]
    kinds = sorted({s.kind for s in per_symbol if s is not None and ":" in s.kind})
    if not kinds:
        return UserArrays(np.zeros(n_sym, NO_USER_DTYPE), np.zeros(n_sym, NO_USER_DTYPE))
    if len(kinds) > 1:
        raise ConfigError(f"config key strategy.kind: one user strategy per engine, found {', '.join(kinds)}")
    from bot4.core.sdkstep import register
    from bot4.core.usercode import load_strategy

    loaded = load_strategy(kinds[0])
    rows = [loaded.resolve_params(s.params) if s is not None and s.kind == kinds[0] else None for s in per_symbol]
    debug = any(s.debug for s in per_symbol if s is not None and s.kind == kinds[0])
    params, state, key = loaded.build_arrays(rows, debug)
    register(loaded, params, state, key, debug)
    return UserArrays(params, state)


def _ring_arrays(ring: Ring) -> RingArrays:
    return RingArrays(ring.buf, ring.ctrl)


def build_state(config: CoreConfig, publish_interval_s: float = 0.05) -> tuple[EngineState, CoreParts]:
    """Allocate every array the core will ever use, filled from ``config``."""
    risk = config.risk
    n_sym = len(config.instruments)
    venues = config.venues
    n_venues = len(venues)
    params = params_row(config, publish_interval_s)

    core = aligned_zeros(1, CORE_DTYPE)
    sync = aligned_zeros(SYNC_SIZE)
    sync[W_NOTIFY_FD] = -1
    acct = np.zeros(1, ACCOUNT_DTYPE)
    acct["initial"] = acct["equity"] = acct["peak"] = risk.initial_equity_usd

    sym = np.zeros(n_sym, SYMBOL_DTYPE)
    for name in ("stop_px", "tp_px", "avg_px", "last_px", "bid", "ask", "sample_px"):
        sym[name] = np.nan
    strat_params = np.zeros(n_sym, STRAT_PARAMS_DTYPE)
    strat_state = np.zeros(n_sym, STRAT_STATE_DTYPE)
    hist_len = 2
    for s, inst in enumerate(config.instruments):
        row = sym[s]
        row["size_step"] = inst.size_step
        row["price_tick"] = inst.price_tick
        row["min_size"] = inst.min_size
        row["max_exposure"] = inst.max_exposure_usd or risk.max_symbol_exposure_usd
        row["venue"] = venues.index(inst.venue)
        strat = config.strategy_for(inst.symbol)
        if strat is not None:
            row["strategy"] = STRAT_SDK if ":" in strat.kind else STRAT_CODES[strat.kind]
            strat_params[s] = (
                strat.fast_period,
                strat.slow_period,
                strat.lookback,
                strat.window,
                strat.entry_z,
                strat.exit_z,
                strat.stop_frac,
                strat.take_profit_frac,
                int(strat.manage_manual),
            )
            hist_len = max(hist_len, strat.lookback if strat.kind == "breakout" else strat.window)
    window = max(risk.correlation_window, risk.var_window)
    var_k = int(params["var_k"][0])
    aux = np.zeros(n_sym, RISK_AUX_DTYPE)
    aux["corr_hi"] = -np.inf  # no open position: nothing to be correlated with
    aux["corr_lo"] = np.inf
    tokens = np.zeros(n_venues, TOKENS_DTYPE)
    tokens["tokens"] = risk.order_burst
    risk_views = RiskViews(
        rets=np.zeros((n_sym, window)),
        corr=np.full((n_sym, n_sym), np.nan),
        var_base=np.zeros(risk.var_window),
        var_scratch=np.zeros(var_k + 1),
        aux=aux,
        var_env=np.zeros((n_sym, 4, risk.var_window)),
        var_order=np.zeros((n_sym, risk.var_window), np.int64),
        tokens=tokens,
    )

    n_brk = 2 * n_venues
    brk = aligned_zeros(n_brk, BREAKER_DTYPE)
    brk_cfg = np.zeros(n_brk, BREAKER_CFG_DTYPE)
    for v in range(n_venues):
        brk_cfg[v] = breaker_config_row(config.venue_breaker)
        brk_cfg[n_venues + v] = breaker_config_row(config.feed_breaker)
        brk[n_venues + v]["kind"] = BREAKER_FEED

    pool = Pool(ORDER_DTYPE, config.order_pool_capacity, "orders")
    parts = CoreParts(
        md=Ring(TICK_DTYPE, config.md_ring_capacity, "md"),
        fills=Ring(FILL_DTYPE, config.fill_ring_capacity, "fills"),
        commands=CommandRing(1024),
        orders=Ring(ORDER_DTYPE, config.order_ring_capacity, "orders"),
        rejects=Ring(ORDER_DTYPE, 1024, "rejects"),
        state_log=Ring(STATE_CHANGE_DTYPE, 256, "state_log"),
        transitions=Ring(TRANSITION_DTYPE, 1024, "transitions"),
        pool=pool,
        stats=StatsBlock(),
    )
    rings = Rings(*(_ring_arrays(r) for r in parts.rings()))
    st = EngineState(
        params=params,
        core=core,
        sync=sync,
        acct=acct,
        sym=sym,
        strat=Strategies(
            strat_params, strat_state, np.zeros((n_sym, hist_len)), new_intents(),
            np.zeros(SDK_CTL_SIZE, np.int64), np.zeros(SDK_REFUSED_CAPACITY, REFUSAL_DTYPE),
        ),
        risk=risk_views,
        brk=brk,
        brk_cfg=brk_cfg,
        pool=PoolArrays(pool.records, pool.free, pool.slot_state, pool.ctrl),
        rings=rings,
        stats=parts.stats.live,
        seq=parts.stats.seq,
        pub=Published(
            stats=parts.stats.published,
            core=np.zeros_like(core),
            acct=np.zeros_like(acct),
            sym=np.zeros_like(sym),
            corr=np.zeros_like(risk_views.corr),
            brk=np.zeros_like(brk),
            pool=np.zeros_like(pool.ctrl),
            rings=np.zeros((len(RING_ROWS), rings.md.ctrl.shape[0]), dtype=np.int64),
            book=np.full((n_sym, 2, BOOK_VIEW, 2), np.nan),
        ),
        l2=new_book(n_sym),
        scratch_tick=np.zeros(1, TICK_DTYPE),
        scratch_fill=np.zeros(1, FILL_DTYPE),
    )
    return st, parts


__all__ = ["EngineState", "CoreParts", "UserArrays", "build_state", "user_strategy_arrays"]
