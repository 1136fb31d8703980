"""``bot4 new-strategy NAME``: write a commented strategy file that runs as it is, and say how to run it."""

from __future__ import annotations

import argparse
import keyword
import re
import sys
from pathlib import Path

TEMPLATE = '''"""{class_name}: a strategy for bot4 (written by `bot4 new-strategy`; it runs as it is, change it).

In a config (e.g. my.toml):
    [[strategies]]
    kind = "{path}:{class_name}"
    [strategies.params]
    fast = 12
then backtest: bot4-tui --headless --config my.toml --speed 0 --until-end; paper: bot4-tui --config my.toml
(docs/strategies.md: every step, up to a live rehearsal against the local exchange).

Handlers are compiled with numba into the engine (numbers, records, arrays, loops; no objects or strings). Set
`debug = true` under [[strategies]] (or pass --debug-strategy) to run them as plain Python with normal tracebacks.
"""

from __future__ import annotations

from bot4.sdk import BUY, SELL, Param, State, Strategy, enter, exit_position, helper


@helper  # your own functions: compiled and inlined into the handler that calls them
def ema_step(ema, price, n):
    return ema + 2.0 / (n + 1.0) * (price - ema)


class {class_name}(Strategy):
    # --- parameters: typed, with limits; set them under [strategies.params] in the config ----------------------------
    fast: int = Param(12, min=1, doc="prices in the fast average")
    slow: int = Param(26, min=2, doc="prices in the slow average")
    stop_frac: float = Param(0.005, min=1e-6, max=0.5, doc="stop-loss distance from the entry, fraction of price")

    # --- state: one record per symbol, kept between events ----------------------------------------------------------
    fast_ema: float = State(0.0)
    slow_ema: float = State(0.0)
    seen: int = State(0)  # prices seen
    side: int = State(0)  # the side we last asked for
    refused: int = State(0)  # entries the engine refused (on_reject)

    @staticmethod
    def validate(params):
        """Checks across parameters when the config is loaded (raise ValueError with what is wrong)."""
        if params["slow"] <= params["fast"]:
            raise ValueError("slow must be > fast")

    # --- handlers: (params, state, position, out, ...event values); all optional -------------------------------------
    # position is this symbol's row in the core (read only): qty, avg_px, last_px, bid, ask, stop_px, pending_buy, ...
    # out takes intents: enter(out, side, stop_frac=...) / enter_limit(out, side, price, stop=..., post_only=True)
    # / exit_position(out) / flatten(out) / target(out, qty, stop_frac=...) / cancel(out, side)
    @staticmethod
    def on_trade(p, st, pos, out, price, size, aggressor_side, ts_ns):
        st.seen += 1
        if st.seen == 1:
            st.fast_ema = price
            st.slow_ema = price
            return
        st.fast_ema = ema_step(st.fast_ema, price, p.fast)
        st.slow_ema = ema_step(st.slow_ema, price, p.slow)
        if st.seen < p.slow:
            return  # not warmed up
        want = BUY if st.fast_ema > st.slow_ema else SELL
        if want != st.side:
            st.side = want
            # every entry needs a stop; the core sizes it (risk per trade) and runs every pre-trade check
            enter(out, want, stop_frac=p.stop_frac)

    @staticmethod
    def on_fill(p, st, pos, out, side, price, size, ts_ns):
        pass  # pos.qty is already the position after this fill

    @staticmethod
    def on_reject(p, st, pos, out, side, reason, ts_ns):
        # reason: a code, bot4.sdk.REASON_NAMES[reason] names it (e.g. stop_missing, risk_per_trade, correlation)
        # st.side stays: the next try is at the next cross, not at every trade while a cool-down or a limit lasts
        st.refused += 1
'''


def class_name_for(name: str) -> str:
    words = [w for w in re.split(r"[^0-9A-Za-z]+", name) if w]
    out = "".join(w[:1].upper() + w[1:] for w in words)
    if not out or not out.isidentifier() or keyword.iskeyword(out):
        raise ValueError(f"strategy name {name!r}: use letters, digits and _ (e.g. my_cross)")
    return out


def write_template(name: str, directory: Path, force: bool = False) -> tuple[Path, str]:
    """Write ``directory/<name>.py``; its path and class name."""
    class_name = class_name_for(name)
    stem = re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_").lower()
    path = directory / f"{stem}.py"
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists (pass --force to overwrite it)")
    directory.mkdir(parents=True, exist_ok=True)
    shown = path.as_posix()
    path.write_text(TEMPLATE.format(class_name=class_name, path=shown))
    return path, class_name


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("new-strategy", help="write a strategy file that runs as it is (a template to change)")
    p.add_argument("name", help="the strategy's name, e.g. my_cross (file my_cross.py, class MyCross)")
    p.add_argument("--dir", default="strategies", help="where to write it (default: ./strategies)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        path, class_name = write_template(args.name, Path(args.dir), args.force)
    except (ValueError, FileExistsError) as exc:
        print(f"bot4 new-strategy: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}: class {class_name}")
    print("use it in a config:")
    print("  [[strategies]]")
    print(f'  kind = "{path.as_posix()}:{class_name}"')
    return 0
