"""User strategy files: declarations read from the class, parameters checked against them, one clear line for every
mistake (a missing file or class, a wrong handler, a bad parameter, a numba typing error at the user's line)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from bot4.core.config import CoreConfig, StrategyConfig
from bot4.core.sdkstep import register
from bot4.core.usercode import StrategyError, load_strategy

GOOD = """
from bot4.sdk import BUY, Param, State, Strategy, enter


class Good(Strategy):
    fast: int = Param(3, min=1)
    frac: float = Param(0.01, min=0.0, max=0.5)
    flag: bool = Param(False)
    seen: int = State(0)
    window: float = State(0.0, size="fast")

    @staticmethod
    def validate(params):
        if params["fast"] > 50:
            raise ValueError("fast must be <= 50")

    @staticmethod
    def on_trade(p, st, pos, out, price, size, aggressor_side, ts_ns):
        st.seen += 1
        st.window[st.seen % p.fast] = price
        if st.seen == 5:
            enter(out, BUY, stop_frac=p.frac)
"""


def write(tmp_path: Path, source: str, name: str = "strat.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def test_declarations_become_typed_records(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    loaded = load_strategy(f"{path}:Good")
    assert [p.name for p in loaded.params] == ["fast", "frac", "flag"]
    assert set(loaded.handlers) == {"on_trade"}
    rows = [loaded.resolve_params({"fast": 7}), None, loaded.resolve_params({})]
    params, state, key = loaded.build_arrays(rows, debug=False)
    assert params.dtype["fast"] == np.int64 and params.dtype["flag"] == np.bool_
    assert list(params["fast"]) == [7, 0, 3]
    assert state.dtype["window"].shape == (7,)  # as long as the largest `fast`
    assert f"sdk_{key}" in state.dtype.names
    _, _, key_debug = loaded.build_arrays(rows, debug=True)
    assert key_debug != key


def test_an_edit_changes_the_key_and_a_copy_elsewhere_does_not(tmp_path: Path) -> None:
    a = load_strategy(f"{write(tmp_path, GOOD, 'a.py')}:Good")
    (tmp_path / "elsewhere").mkdir()
    b = load_strategy(f"{write(tmp_path / 'elsewhere', GOOD, 'a.py')}:Good")
    c = load_strategy(f"{write(tmp_path, GOOD.replace('st.seen == 5', 'st.seen == 6'), 'c.py')}:Good")
    sizes = {"window": 3}
    assert a.key(sizes, False) == b.key(sizes, False)
    assert a.key(sizes, False) != c.key(sizes, False)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"fsat": 3}, "config key strategy.params.fsat: Good has no parameter 'fsat' (known: fast, frac, flag)"),
        ({"fast": "3"}, "config key strategy.params.fast = '3': must be an integer"),
        ({"fast": 2.5}, "config key strategy.params.fast = 2.5: must be an integer"),
        ({"fast": 0}, "config key strategy.params.fast = 0: must be >= 1"),
        ({"frac": 0.9}, "config key strategy.params.frac = 0.9: must be <= 0.5"),
        ({"frac": True}, "config key strategy.params.frac = True: must be a number"),
        ({"flag": 1}, "config key strategy.params.flag = 1: must be true or false"),
        ({"fast": 60}, "config key strategy.params: Good: fast must be <= 50"),
    ],
)
def test_parameters_are_checked_against_their_declarations(tmp_path: Path, params: dict, message: str) -> None:
    path = write(tmp_path, GOOD)
    with pytest.raises(StrategyError) as err:
        StrategyConfig(kind=f"{path}:Good", params=params)
    assert str(err.value) == message
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("source", "kind_tail", "message"),
    [
        (GOOD, ":Nope", "has no class Nope (classes there: Good)"),
        (GOOD.replace("seen: int = State(0)", "seen = State(0)"), ":Good", "Good.seen needs a type"),
        (GOOD.replace("seen: int = State(0)", "seen: str = State(0)"), ":Good", "must be int, float or bool"),
        (
            GOOD.replace("pos, out, price, size, aggressor_side, ts_ns", "pos, out, price"),
            ":Good",
            "Good.on_trade takes (params, state, position, out, price, size, aggressor_side, ts_ns); it declares 5",
        ),
        (GOOD.replace('size="fast"', 'size="frac"'), ":Good", "size 'frac' must name an int parameter"),
        (GOOD + "\nraise RuntimeError('boom')\n", ":Good", "the strategy file fails to import: RuntimeError: boom"),
    ],
)
def test_a_bad_strategy_file_is_one_clear_line(tmp_path: Path, source: str, kind_tail: str, message: str) -> None:
    path = write(tmp_path, source)
    with pytest.raises(StrategyError) as err:
        load_strategy(f"{path}{kind_tail}")
    assert message in str(err.value)
    assert str(path) in str(err.value) or "strat.py" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_missing_file_and_a_malformed_kind(tmp_path: Path) -> None:
    with pytest.raises(StrategyError, match="no file .*missing.py"):
        StrategyConfig(kind=f"{tmp_path}/missing.py:X")
    with pytest.raises(StrategyError, match="must be 'path/to/file.py:ClassName'"):
        StrategyConfig(kind="file.py:")
    with pytest.raises(Exception, match="one of ema_cross, breakout, zscore, or 'path/to/file.py:ClassName'"):
        StrategyConfig(kind="ema")


def test_a_typing_error_names_the_users_file_and_line(tmp_path: Path) -> None:
    source = GOOD.replace("st.seen += 1", "st.seen += p.fsat")
    path = write(tmp_path, source)
    line = next(i for i, text in enumerate(textwrap.dedent(source).splitlines(), 1) if "p.fsat" in text)
    loaded = load_strategy(f"{path}:Good")
    params, state, key = loaded.build_arrays([loaded.resolve_params({})], debug=False)
    with pytest.raises(StrategyError) as err:
        register(loaded, params, state, key, debug=False)
    text = str(err.value)
    assert text.startswith(f"{path}:{line}: Good.on_trade does not compile: ")
    assert "fsat" in text and "\n" not in text and len(text) < 400


def test_one_user_strategy_class_per_engine(tmp_path: Path) -> None:
    from bot4.core.state import user_strategy_arrays

    a = write(tmp_path, GOOD, "a.py")
    b = write(tmp_path, GOOD, "b.py")
    cfg = CoreConfig(
        strategies=(
            StrategyConfig(kind=f"{a}:Good", symbols=("BTC/USDT",)),
            StrategyConfig(kind=f"{b}:Good", symbols=("ETH/USDT",)),
        )
    )
    with pytest.raises(Exception, match="one user strategy per engine"):
        user_strategy_arrays(cfg)


def test_the_run_says_which_strategy_with_which_parameters(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    cfg = CoreConfig(
        strategies=(
            StrategyConfig(kind=f"{path}:Good", params={"fast": 4}, symbols=("BTC/USDT",)),
            StrategyConfig(kind="zscore", window=50, symbols=("ETH/USDT",)),
        )
    )
    assert cfg.describe_strategies() == (
        "BTC/USDT: Good(fast=4, frac=0.01, flag=False) from strat.py; "
        "ETH/USDT: zscore(window=50, entry_z=2.0, exit_z=0.5, stop_frac=0.005, take_profit_frac=0.0)"
    )
