"""Loading bot4.toml: typed, validated, with BOT4_* environment overrides and one clear message per mistake.

The file mirrors the dataclasses: ``[risk]`` -> :class:`RiskConfig`, ``[paper]`` -> :class:`PaperConfig`,
``[[instruments]]``, ``[[strategies]]``, ``[venue_breaker]``, ``[feed_breaker]``, ``[replay]``, ``[runtime]``,
``[live]`` -> :class:`LiveConfig`, ``[tracing]`` -> :class:`TracingConfig` (instruments whose ``venue`` is ``live.exchange`` trade there through ccxt).
A missing key takes its default; a wrong type, an out-of-range value or an unknown key is a :class:`ConfigError`
naming the key and the file. Environment variables ``BOT4_<SECTION>__<KEY>`` (e.g. ``BOT4_RISK__MAX_DRAWDOWN_FRAC``)
override single values; secrets (API keys, the API token) come only from the environment, never from the file.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot4.core.config import BreakerConfig, ConfigError, CoreConfig, InstrumentConfig, RiskConfig, StrategyConfig
from bot4.venues.live_config import LiveConfig
from bot4.venues.paper import PaperConfig

ENV_PREFIX = "BOT4_"


@dataclass(frozen=True)
class ReplayConfig:
    """The built-in market-data replay that feeds the paper exchange."""

    speed: float = 10.0  # replay clock rate: 1 = real time, 0 = as fast as the engine takes it
    loop: bool = True  # start again (timestamps shifted forward) when the data ends; false: the run ends with the data
    files: tuple[str, ...] = ()  # recorded files as "SYMBOL=path"; empty = the shipped sample
    # wall time between two batches of the replay: each batch goes through core and paper venue tick by tick (market
    # time decides every order and fill, whatever the batch), so this only sets how often the screen sees progress
    # and commands wait at most this long for a running batch; smaller costs more CPU
    batch_ms: float = 100.0

    def __post_init__(self) -> None:
        if not (isinstance(self.speed, int | float) and 0 <= self.speed <= 1e6):
            raise ConfigError(f"config key replay.speed = {self.speed!r}: must be between 0 and 1000000")
        if not (isinstance(self.batch_ms, int | float) and 1 <= self.batch_ms <= 10_000):
            raise ConfigError(f"config key replay.batch_ms = {self.batch_ms!r}: must be between 1 and 10000")
        for entry in self.files:
            if not (isinstance(entry, str) and "=" in entry):
                raise ConfigError(f"config key replay.files entry {entry!r}: must be 'SYMBOL=path'")


@dataclass(frozen=True)
class RuntimeConfig:
    """Process-level settings (each also a command-line flag)."""

    metrics_addr: str = "127.0.0.1:9464"  # Prometheus exporter HOST:PORT ("" = off)
    api_addr: str = "127.0.0.1:8764"  # control API HOST:PORT ("" = off)
    api_open_reads: bool = False  # True: GET /status, /snapshot, /stream without the token (loopback only)
    state_dir: str = ""  # journal and token; "" = the user's data dir
    log_format: str = "json"  # json | text
    log_file: str = ""  # "" = stderr
    cancel_on_shutdown: bool = True  # cancel open orders at a clean shutdown
    publish_interval_s: float = 0.05  # how often the core publishes its snapshot

    def __post_init__(self) -> None:
        if self.log_format not in ("json", "text"):
            raise ConfigError(f"config key runtime.log_format = {self.log_format!r}: must be json or text")
        for key in ("metrics_addr", "api_addr"):
            value = getattr(self, key)
            if value:
                parse_addr(value, f"runtime.{key}")
        if not (isinstance(self.publish_interval_s, int | float) and 0.001 <= self.publish_interval_s <= 5):
            raise ConfigError(
                f"config key runtime.publish_interval_s = {self.publish_interval_s!r}: must be between 0.001 and 5"
            )


@dataclass(frozen=True)
class TracingConfig:
    """Order traces exported over OTLP/HTTP (``bot4.runtime.tracing``); off unless ``enabled``."""

    enabled: bool = False  # one trace per order to an OpenTelemetry collector (needs the ``tracing`` extra)
    endpoint: str = ""  # OTLP/HTTP base URL (http://bot4-jaeger:4318); "" = OTEL_EXPORTER_OTLP_ENDPOINT or localhost
    service_name: str = "bot4"  # the service.name traces carry
    sample_ratio: float = 0.1  # share of ordinary orders traced; refused, killed and slow orders always are
    slow_order_us: float = 100.0  # an order whose tick -> order path took longer is always traced (and logged)
    queue_spans: int = 8192  # spans waiting for the exporter at most; past it new spans are dropped and counted
    export_timeout_s: float = 2.0  # one export's limit, retries included (a dead collector costs the export thread)

    def __post_init__(self) -> None:
        if not (isinstance(self.sample_ratio, int | float) and 0.0 <= self.sample_ratio <= 1.0):
            raise ConfigError(f"config key tracing.sample_ratio = {self.sample_ratio!r}: must be between 0 and 1")
        if not (isinstance(self.slow_order_us, int | float) and 0.0 <= self.slow_order_us <= 1e9):
            raise ConfigError(f"config key tracing.slow_order_us = {self.slow_order_us!r}: must be between 0 and 1e9")
        if not (isinstance(self.queue_spans, int) and 64 <= self.queue_spans <= 10_000_000):
            raise ConfigError(f"config key tracing.queue_spans = {self.queue_spans!r}: must be between 64 and 10000000")
        if not (isinstance(self.export_timeout_s, int | float) and 0.05 <= self.export_timeout_s <= 60):
            raise ConfigError(
                f"config key tracing.export_timeout_s = {self.export_timeout_s!r}: must be between 0.05 and 60"
            )
        if self.endpoint and not self.endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"config key tracing.endpoint = {self.endpoint!r}: must be an http:// or https:// URL")
        if not self.service_name:
            raise ConfigError("config key tracing.service_name: must not be empty")


@dataclass(frozen=True)
class AppConfig:
    core: CoreConfig = field(default_factory=CoreConfig)
    paper: PaperConfig = field(default_factory=PaperConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    live: LiveConfig = field(default_factory=LiveConfig)
    tracing: TracingConfig = field(default_factory=TracingConfig)
    source: str = "built-in defaults"


def parse_addr(value: str, key: str = "address") -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"config key {key} = {value!r}: must be HOST:PORT with a port from 1 to 65535")
    return host.strip("[]"), int(port)


def _coerce(cls: type, raw: Any, where: str) -> Any:
    """Build dataclass ``cls`` from a TOML table, refusing unknown keys and wrong types with the key's name."""
    if not isinstance(raw, dict):
        raise ConfigError(f"config key {where}: must be a table, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ConfigError(f"config key {where}.{unknown[0]}: unknown key (known: {', '.join(sorted(names))})")
    kwargs = {}
    for key, value in raw.items():
        kwargs[key] = _value(hints[key], value, f"{where}.{key}")
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        msg = str(exc)
        raise ConfigError(msg.replace("config key ", f"config key {where}: ", 1) if where not in msg else msg) from None


def _value(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _value(inner[0], value, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"config key {where} = {value!r}: must be a list")
        item = args[0]
        return tuple(_value(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"config key {where} = {value!r}: must be a number")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key {where} = {value!r}: must be an integer")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key {where} = {value!r}: must be true or false")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"config key {where} = {value!r}: must be a string")
        return value
    if dataclasses.is_dataclass(hint):
        return _coerce(hint, value, where)  # type: ignore[arg-type]
    return value


ENV_SECTIONS = ("risk", "paper", "replay", "runtime", "live", "venue_breaker", "feed_breaker", "tracing")


def _env_overrides(raw: dict[str, Any], env: typing.Mapping[str, str]) -> None:
    """BOT4_<SECTION>__<KEY> overrides; a BOT4_ name that looks like one but is not (an unknown section, a single
    underscore) is refused rather than silently ignored. Other BOT4_ names (secrets such as BOT4_API_TOKEN) pass."""
    for name, text in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        if "__" not in name:
            for section in ENV_SECTIONS:
                if rest.startswith(section + "_"):
                    fixed = f"{ENV_PREFIX}{section.upper()}__{rest[len(section) + 1 :].upper()}"
                    raise ConfigError(
                        f"environment variable {name}: not an override (one underscore after the section); "
                        f"did you mean {fixed}?"
                    )
            continue
        section, _, key = rest.partition("__")
        if section not in ENV_SECTIONS:
            raise ConfigError(
                f"environment variable {name}: unknown section {section!r} (overrides: {', '.join(ENV_SECTIONS)})"
            )
        try:
            value: Any = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text  # a bare word: a string
        raw.setdefault(section, {})[key] = value


SECTIONS = {
    "risk", "paper", "replay", "runtime", "live", "venue_breaker", "feed_breaker", "instruments", "strategies", "core",
    "tracing",
}


def _anchor_strategy_file(table: Any, base: Path | None) -> None:
    """A user strategy's ``kind = "file.py:Class"`` relative to the working directory, else to the config file's."""
    kind = table.get("kind") if isinstance(table, dict) else None
    if not isinstance(kind, str) or ":" not in kind or base is None:
        return
    target, _, cls = kind.rpartition(":")
    p = Path(target).expanduser()
    if target.endswith(".py") and not p.is_absolute() and not p.is_file() and (base / p).is_file():
        table["kind"] = f"{(base / p).resolve()}:{cls}"


def apply_overrides(raw: dict[str, Any], overrides: typing.Mapping[str, Any]) -> None:
    """Set single keys of a raw config (as read from TOML): ``section.key``; ``strategy.key`` sets the key in every
    ``[[strategies]]`` table (one default table when the file has none); ``strategies[i].key`` in table ``i``. The
    values are then validated like the file's own (a sweep's parameters, say)."""
    for name, value in overrides.items():
        section, _, key = name.partition(".")
        if not key:
            raise ConfigError(f"config key {name}: an override must name SECTION.KEY (e.g. strategy.fast_period)")
        if section == "strategy":
            tables = raw.setdefault("strategies", [{}])
            if not isinstance(tables, list):
                raise ConfigError("config key strategies: must be an array of tables ([[strategies]])")
            for t in tables:
                t[key] = value
        elif section.startswith("strategies[") and section.endswith("]") and section[11:-1].isdigit():
            i = int(section[11:-1])
            tables = raw.setdefault("strategies", [{}])
            if i >= len(tables):
                raise ConfigError(f"config key {name}: there are {len(tables)} strategies")
            tables[i][key] = value
        else:
            raw.setdefault(section, {})[key] = value


def load_config(
    path: str | Path | None = None,
    env: typing.Mapping[str, str] | None = None,
    overrides: typing.Mapping[str, Any] | None = None,
) -> AppConfig:
    """Read and validate ``path`` (None = built-in defaults) plus BOT4_* overrides from ``env`` and single-key
    ``overrides`` (see :func:`apply_overrides`)."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    source = "built-in defaults"
    if path is not None:
        p = Path(path)
        source = str(p)
        try:
            raw = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {p} does not exist") from None
        except IsADirectoryError:
            raise ConfigError(f"config file {p} is a directory: pass the path of a .toml file") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"config file {p} is not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
        except OSError as exc:
            raise ConfigError(f"config file {p} cannot be read: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {p} is not valid TOML: {exc}") from None
    _env_overrides(raw, env)
    try:
        if overrides:
            apply_overrides(raw, overrides)
        unknown = sorted(set(raw) - SECTIONS)
        if unknown:
            raise ConfigError(f"config key {unknown[0]}: unknown section (known: {', '.join(sorted(SECTIONS))})")
        for name in ("instruments", "strategies"):
            if name in raw and not (isinstance(raw[name], list) and all(isinstance(t, dict) for t in raw[name])):
                raise ConfigError(f"config key {name} = {raw[name]!r}: must be an array of tables ([[{name}]] blocks)")
        for name in SECTIONS - {"instruments", "strategies"}:
            if name in raw and not isinstance(raw[name], dict):
                raise ConfigError(f"config key {name} = {raw[name]!r}: must be a table ([{name}] section)")
        core_kwargs: dict[str, Any] = {}
        scalars = raw.get("core", {})
        allowed = ("md_ring_capacity", "order_ring_capacity", "fill_ring_capacity", "order_pool_capacity", "batch_max",
                   "warm_every_ticks")
        for key, value in scalars.items():
            if key not in allowed:
                raise ConfigError(f"config key core.{key}: unknown key (known: {', '.join(allowed)})")
            core_kwargs[key] = _value(int, value, f"core.{key}")
        if "instruments" in raw:
            core_kwargs["instruments"] = tuple(
                _coerce(InstrumentConfig, t, f"instruments[{i}]") for i, t in enumerate(raw["instruments"])
            )
        if "strategies" in raw:
            base = Path(path).resolve().parent if path is not None else None
            for t in raw["strategies"]:
                _anchor_strategy_file(t, base)
            core_kwargs["strategies"] = tuple(
                _coerce(StrategyConfig, t, f"strategies[{i}]") for i, t in enumerate(raw["strategies"])
            )
        if "risk" in raw:
            core_kwargs["risk"] = _coerce(RiskConfig, raw["risk"], "risk")
        for key in ("venue_breaker", "feed_breaker"):
            if key in raw:
                core_kwargs[key] = _coerce(BreakerConfig, raw[key], key)
        core = CoreConfig(**core_kwargs)
        app = AppConfig(
            core=core,
            paper=_coerce(PaperConfig, raw.get("paper", {}), "paper"),
            replay=_coerce(ReplayConfig, raw.get("replay", {}), "replay"),
            runtime=_coerce(RuntimeConfig, raw.get("runtime", {}), "runtime"),
            live=_coerce(LiveConfig, raw.get("live", {}), "live"),
            tracing=_coerce(TracingConfig, raw.get("tracing", {}), "tracing"),
            source=source,
        )
        live_venues = [v for v in core.venues if v != "paper"]
        if len(live_venues) > 1 or (live_venues and "paper" in core.venues):
            raise ConfigError(
                f"config key instruments.venue: one engine trades on one venue; found {', '.join(core.venues)}"
            )
        if live_venues and live_venues[0] != app.live.exchange:
            raise ConfigError(
                f"config key instruments.venue = {live_venues[0]!r}: not 'paper' and not live.exchange "
                f"({app.live.exchange!r})"
            )
    except ConfigError as exc:
        raise ConfigError(f"{exc} (in {source})") from None
    return app
