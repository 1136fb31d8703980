"""What runs, as the Strategy screen shows it and the control API sends it: each strategy with its settings and
symbols, and per symbol what its strategy sees and holds (plain values, read from the core's tables)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot4.core.config import BUILTIN_PARAMS, CoreConfig, StrategyConfig

if TYPE_CHECKING:
    from bot4.core.state import EngineState

WARM_UP = {"ema_cross": "slow_period", "breakout": "lookback", "zscore": "window"}  # prices before a first signal


def strategy_entry(config: CoreConfig, s: StrategyConfig) -> dict[str, Any]:
    """One strategy: its name with the parameters that shape its signals (a built-in's stop and target apart), the
    symbols it trades (``every``: configured for every symbol), its stop and target, who manages manual positions."""
    if s.kind in BUILTIN_PARAMS:
        shown = [k for k in BUILTIN_PARAMS[s.kind] if k not in ("stop_frac", "take_profit_frac")]
        text = f"{s.kind}(" + ", ".join(f"{k}={getattr(s, k):g}" for k in shown) + ")"
    else:
        text = s.describe()
    return {
        "text": text,
        "kind": s.kind,
        "symbols": [sym for sym in config.symbols if config.strategy_for(sym) is s],
        "every": not s.symbols,
        "stop_frac": s.stop_frac,
        "take_profit_frac": s.take_profit_frac,
        "manage_manual": s.manage_manual,
    }


def strategy_info(
    config: CoreConfig, state: EngineState, entries: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """``strategies``: one entry per configured strategy; ``symbols``: one per instrument, with its strategy's index
    (-1: none), its last signalled view (+1 long, -1 short, 0 flat; None for a user strategy, whose state is its
    own), the prices seen against those a first signal needs, a signal held behind a working order, an exit still
    wanted, and whether a person opened the position. ``entries``: the strategies' entries made once (they describe
    the config the engine started with, and a user strategy's file is not read again at every call)."""
    strategies = entries if entries is not None else [strategy_entry(config, s) for s in config.strategies]
    symbols = []
    for i, sym in enumerate(config.symbols):
        strat = config.strategy_for(sym)
        row, st = state.sym[i], state.strat.state[i]
        builtin = strat is not None and strat.kind in WARM_UP
        symbols.append(
            {
                "symbol": sym,
                "strategy": config.strategies.index(strat) if strat is not None else -1,
                "view": int(st["last_dir"]) if builtin else None,
                "seen": int(st["count"]) if builtin else None,
                "warm_up": int(getattr(strat, WARM_UP[strat.kind])) if builtin and strat is not None else None,
                "deferred": int(row["deferred_sig"]),
                "exit_wanted": bool(row["exit_wanted"]),
                "manual": bool(row["manual_pos"]),
            }
        )
    return {"strategies": strategies, "risk_per_trade_frac": config.risk.risk_per_trade_frac, "symbols": symbols}
