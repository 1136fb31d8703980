"""Where a backtest's ticks come from: the config's replay files, ``--data SYMBOL=PATH`` overrides, a time range,
and the command-line time format; a small per-process cache so a sweep worker loads its data once."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np

from bot4.backtest.run import slice_ticks
from bot4.core.config import ConfigError
from bot4.runtime.config import AppConfig
from bot4.runtime.engine import load_replay_ticks


def parse_time(text: str, flag: str) -> int:
    """An ISO date or date-time (UTC unless it names its zone) as epoch ns; a clear error naming ``flag``."""
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{flag} {text!r}: not a date or date-time (e.g. 2024-08-09 or 2024-08-09T00:01:30)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1_000_000) * 1000


def with_data(config: AppConfig, data: list[str] | tuple[str, ...] | None) -> AppConfig:
    """``config`` reading ``data`` ("SYMBOL=path" entries) instead of its replay files, when given."""
    if not data:
        return config
    for entry in data:
        sym, sep, path = entry.partition("=")
        if not sep or not sym or not path:
            raise ConfigError(f"--data {entry!r}: must be SYMBOL=PATH, e.g. BTC/USDT=trades.csv.gz")
        if sym not in config.core.symbols:
            raise ConfigError(
                f"--data {entry!r}: {sym} is not an instrument of the config ({', '.join(config.core.symbols)})"
            )
    return replace(config, replay=replace(config.replay, files=tuple(data)))


_CACHE: dict[tuple[object, ...], np.ndarray] = {}


def load_ticks(config: AppConfig, ts_from: int | None = None, ts_to: int | None = None) -> np.ndarray:
    """The config's recorded data (its replay files, or the shipped sample) within [ts_from, ts_to)."""
    key = (config.core.symbols, config.replay.files, ts_from, ts_to)
    ticks = _CACHE.get(key)  # (Dask may run units on threads of one worker: never index after a check)
    if ticks is None:
        try:
            ticks = load_replay_ticks(config)
        except FileNotFoundError as exc:
            raise ValueError(f"data file {exc.filename} does not exist") from None
        ticks = slice_ticks(ticks, ts_from, ts_to)
        if len(ticks) == 0:
            raise ValueError("no ticks in the data within the given --from/--to range")
        if len(_CACHE) > 4:
            _CACHE.clear()
        _CACHE[key] = ticks
    return ticks
