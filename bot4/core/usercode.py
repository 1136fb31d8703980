"""User strategies: a Python file with a class of typed parameters, per-symbol state and numba handlers.

``load_strategy("strategies/my_cross.py:MyCross")`` imports the file and reads the class: each ``Param`` is a
parameter (its annotation gives the type: int, float or bool), each ``State`` a per-symbol state field (a scalar, or
an array whose length is a number or a parameter's name), and the handlers (``HANDLER_ARGS``) are plain functions
in the numba subset. :meth:`LoadedStrategy.prepare` turns the declarations into record dtypes, checks the values from
the config against the declared types, compiles each handler on its own (a typing error comes back as one line with
the user's file and line) and registers the strategy for the engine's step (``sdkstep.py``), which compiles it in.

The state dtype carries a marker field ``sdk_<key>``: ``key`` hashes the strategy's source, bot4's own sources, the
array lengths and the debug flag. The marker makes the state's record type, and so the type of every kernel that
takes the engine state, differ per strategy: numba compiles (and caches on disk) one engine per key, an edit to the
strategy or to bot4 gets a fresh one, never a stale one.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import math
import re
import sys
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bot4.core.config import ConfigError

HANDLER_ARGS: dict[str, tuple[str, ...]] = {
    # every handler starts (params, state, position, out): params and state are this symbol's records, position its
    # row of the core's symbol table (read only: qty, avg_px, last_px, bid, ask, stop_px, pending_buy, ...), out the
    # intents handle; then the event's own values
    "on_trade": ("price", "size", "aggressor_side", "ts_ns"),
    "on_bbo": ("bid", "bid_size", "ask", "ask_size", "ts_ns"),
    "on_bar": ("open", "high", "low", "close", "volume", "ts_ns"),
    # L2 data: after each book message; bids and asks are float64 (levels, 2) arrays of (price, size), best first,
    # NaN past the last level the book holds (bot4.core.book.BOOK_VIEW levels)
    "on_book": ("bids", "asks", "ts_ns"),
    "on_fill": ("side", "price", "size", "ts_ns"),
    "on_reject": ("side", "reason", "ts_ns"),
    "on_timer": ("ts_ns",),
}
INT_ARGS = {"aggressor_side", "ts_ns", "side", "reason"}  # the rest are float64
ARRAY_ARGS = {"bids", "asks"}  # float64 (levels, 2), C order
HIDDEN_STATE = (("sdk_next_timer_ns", np.int64),)  # the core's own per-symbol fields in the state record
_TYPES = {"int": (int, np.int64), "float": (float, np.float64), "bool": (bool, np.bool_)}


class StrategyError(ConfigError):
    """A user strategy cannot be loaded, its parameters do not fit its declarations, or it does not compile."""


@dataclass(frozen=True)
class Param:
    """A typed parameter: ``fast: int = Param(12, min=1)``; the config may set it, within ``min`` / ``max``."""

    default: int | float | bool
    min: float | None = None
    max: float | None = None
    doc: str = ""


@dataclass(frozen=True)
class State:
    """A per-symbol state field: ``ema: float = State(0.0)``, or an array ``hist: float = State(0.0, size="lookback")``
    (``size`` a number, or the name of an int parameter: the array is as long as its largest value)."""

    default: int | float | bool = 0
    size: int | str | None = None


class Strategy:
    """Base class of user strategies (optional: any class with Param / State attributes and handlers will do).

    ``timer_s``: market-time seconds between two ``on_timer`` calls per symbol (0 = never).
    """

    timer_s: float = 0.0


@dataclass(frozen=True)
class ParamDecl:
    name: str
    kind: str  # int | float | bool
    default: int | float | bool
    min: float | None
    max: float | None
    doc: str


@dataclass(frozen=True)
class StateDecl:
    name: str
    kind: str
    default: int | float | bool
    size: int | str | None


def _bot4_sources_digest() -> str:
    # the sources compiled into the engine: the core's and the venues' (as the cache directory's own key, which a
    # user's NUMBA_CACHE_DIR replaces); the UI or the runtime changing recompiles nothing
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent.parent
    for path in sorted([*package.joinpath("core").glob("*.py"), *package.joinpath("venues").glob("*.py")]):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


_BOT4_DIGEST: list[str] = []


def bot4_sources_digest() -> str:
    """A hash of bot4's engine sources, core and venues (computed once per process)."""
    if not _BOT4_DIGEST:
        _BOT4_DIGEST.append(_bot4_sources_digest())
    return _BOT4_DIGEST[0]


def is_user_kind(kind: str) -> bool:
    """True when a strategy ``kind`` names a user strategy (``path.py:Class`` or ``package.module:Class``)."""
    return ":" in kind


def _annotation_kind(cls: type, name: str, ann: object, where: str) -> str:
    text = ann if isinstance(ann, str) else getattr(ann, "__name__", repr(ann))
    if text not in _TYPES:
        raise StrategyError(f"{where}: {cls.__name__}.{name} is annotated {text!r}: must be int, float or bool")
    return text


def _declarations(cls: type, where: str) -> tuple[list[ParamDecl], list[StateDecl]]:
    params: list[ParamDecl] = []
    state: list[StateDecl] = []
    annotations: dict[str, object] = {}
    for klass in reversed(cls.__mro__):
        annotations.update(getattr(klass, "__annotations__", {}))
    for name, value in _class_attrs(cls).items():
        if not isinstance(value, Param | State):
            continue
        if name.startswith("sdk_") or name.startswith("_"):
            raise StrategyError(f"{where}: {cls.__name__}.{name}: names starting with sdk_ or _ are bot4's own")
        if name not in annotations:
            raise StrategyError(f"{where}: {cls.__name__}.{name} needs a type: `{name}: float = ...`")
        kind = _annotation_kind(cls, name, annotations[name], where)
        if isinstance(value, Param):
            _check_value(kind, value.default, f"{where}: {cls.__name__}.{name} default", value.min, value.max)
            params.append(ParamDecl(name, kind, value.default, value.min, value.max, value.doc))
        else:
            state.append(StateDecl(name, kind, value.default, value.size))
    names = {p.name for p in params}
    for s in state:
        if isinstance(s.size, str) and (
            s.size not in names or next(p for p in params if p.name == s.size).kind != "int"
        ):
            raise StrategyError(f"{where}: {cls.__name__}.{s.name}: size {s.size!r} must name an int parameter")
        if isinstance(s.size, int) and (isinstance(s.size, bool) or s.size < 1):
            raise StrategyError(f"{where}: {cls.__name__}.{s.name}: size must be >= 1")
    return params, state


def _class_attrs(cls: type) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        out.update(vars(klass))
    return out


def _check_value(kind: str, value: object, where: str, low: float | None, high: float | None) -> int | float | bool:
    if kind == "bool":
        if not isinstance(value, bool | np.bool_):
            raise StrategyError(f"{where} = {value!r}: must be true or false")
        return bool(value)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise StrategyError(f"{where} = {value!r}: must be an integer")
        v: int | float = int(value)
    else:
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise StrategyError(f"{where} = {value!r}: must be a number")
        v = float(value)
        if not math.isfinite(v):
            raise StrategyError(f"{where} = {value!r}: must be finite")
    if low is not None and v < low:
        raise StrategyError(f"{where} = {value!r}: must be >= {low}")
    if high is not None and v > high:
        raise StrategyError(f"{where} = {value!r}: must be <= {high}")
    return v


def _import_file(path: Path, spec_text: str) -> types.ModuleType:
    source = path.read_bytes()
    name = f"bot4_user_{re.sub(r'[^0-9A-Za-z_]', '_', path.stem)}_{hashlib.sha256(source).hexdigest()[:10]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise StrategyError(f"strategy {spec_text!r}: {path} cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        tb = exc.__traceback__
        line = ""
        while tb is not None:
            if Path(tb.tb_frame.f_code.co_filename).resolve() == path:
                line = f":{tb.tb_lineno}"
            tb = tb.tb_next
        raise StrategyError(f"{path}{line}: the strategy file fails to import: {type(exc).__name__}: {exc}") from None
    return module


def resolve_path(file_part: str, base_dirs: tuple[Path, ...] = ()) -> Path:
    """A strategy file: absolute, else relative to the working directory, else to each of ``base_dirs``."""
    p = Path(file_part).expanduser()
    if p.is_absolute():
        return p.resolve()
    for base in (Path.cwd(), *base_dirs):
        if (base / p).is_file():
            return (base / p).resolve()
    return (Path.cwd() / p).resolve()


def load_strategy(kind: str, base_dirs: tuple[Path, ...] = ()) -> LoadedStrategy:
    """Import the class a ``kind`` names: ``path/to/file.py:Class`` or ``package.module:Class``."""
    target, _, cls_name = kind.rpartition(":")
    if not target or not cls_name.isidentifier():
        raise StrategyError(
            f"strategy kind {kind!r}: must be 'path/to/file.py:ClassName' or 'package.module:ClassName'"
        )
    if target.endswith(".py"):
        path = resolve_path(target, base_dirs)
        if not path.is_file():
            raise StrategyError(f"strategy kind {kind!r}: no file {path}")
        module = _import_file(path, kind)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise StrategyError(f"strategy kind {kind!r}: cannot import {target}: {exc}") from None
        path = Path(inspect.getfile(module)).resolve()
    cls = getattr(module, cls_name, None)
    if not isinstance(cls, type):
        found = sorted(n for n, v in vars(module).items() if isinstance(v, type) and v.__module__ == module.__name__)
        raise StrategyError(
            f"strategy kind {kind!r}: {path} has no class {cls_name} (classes there: {', '.join(found)})"
        )
    return LoadedStrategy.from_class(cls, path, kind)


@dataclass
class LoadedStrategy:
    """A user strategy class read and checked, before its dtypes and code exist."""

    cls: type
    path: Path
    kind: str
    params: list[ParamDecl]
    state: list[StateDecl]
    handlers: dict[str, Callable[..., Any]]
    timer_ns: int
    source: bytes
    validate: Callable[[dict[str, Any]], None] | None = None
    prepared: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.cls.__name__

    @classmethod
    def from_class(cls, klass: type, path: Path, kind: str) -> LoadedStrategy:
        where = str(path)
        params, state = _declarations(klass, where)
        attrs = _class_attrs(klass)
        handlers: dict[str, Callable[..., Any]] = {}
        for name, args in HANDLER_ARGS.items():
            fn = attrs.get(name)
            if fn is None:
                continue
            if isinstance(fn, staticmethod):
                fn = fn.__func__
            if not inspect.isfunction(fn):
                raise StrategyError(f"{where}: {klass.__name__}.{name} must be a function (a @staticmethod)")
            n_args = len(inspect.signature(fn).parameters)
            if n_args != 4 + len(args):
                want = ", ".join(("params", "state", "position", "out", *args))
                line = fn.__code__.co_firstlineno
                raise StrategyError(
                    f"{fn.__code__.co_filename}:{line}: {klass.__name__}.{name} takes ({want}); "
                    f"it declares {n_args} arguments"
                )
            handlers[name] = fn
        if not handlers:
            raise StrategyError(f"{where}: {klass.__name__} defines no handler ({', '.join(HANDLER_ARGS)})")
        timer_s = attrs.get("timer_s", 0.0)
        if isinstance(timer_s, bool) or not isinstance(timer_s, int | float) or timer_s < 0:
            raise StrategyError(f"{where}: {klass.__name__}.timer_s = {timer_s!r}: must be a number >= 0")
        if "on_timer" in handlers and timer_s <= 0:
            raise StrategyError(f"{where}: {klass.__name__} defines on_timer: set timer_s (market seconds) > 0")
        validate = attrs.get("validate")
        if isinstance(validate, staticmethod | classmethod):
            validate = validate.__get__(None, klass)
        return cls(
            klass,
            path,
            kind,
            params,
            state,
            handlers,
            round(timer_s * 1e9),
            path.read_bytes(),
            validate if callable(validate) else None,
        )

    # --- parameters ---------------------------------------------------------------------------------------------------
    def resolve_params(self, raw: Mapping[str, Any], where: str = "strategy.params") -> dict[str, Any]:
        """The declared defaults overridden by ``raw``, each checked against its declaration (one line per mistake)."""
        known = {p.name: p for p in self.params}
        for key in raw:
            if key not in known:
                names = ", ".join(known) or "none"
                raise StrategyError(f"config key {where}.{key}: {self.name} has no parameter {key!r} (known: {names})")
        out: dict[str, Any] = {}
        for p in self.params:
            value = raw.get(p.name, p.default)
            out[p.name] = _check_value(p.kind, value, f"config key {where}.{p.name}", p.min, p.max)
        if self.validate is not None:
            try:
                self.validate(dict(out))
            except (ValueError, TypeError, AssertionError) as exc:
                raise StrategyError(f"config key {where}: {self.name}: {exc}") from None
        return out

    # --- dtypes ---------------------------------------------------------------------------------------------------
    def params_dtype(self) -> np.dtype:
        fields = [(p.name, _TYPES[p.kind][1]) for p in self.params] or [("sdk_none", np.int64)]
        return np.dtype(fields, align=True)

    def state_dtype(self, sizes: Mapping[str, int], key: str) -> np.dtype:
        fields: list[tuple[Any, ...]] = []
        for s in self.state:
            dt = _TYPES[s.kind][1]
            fields.append((s.name, dt) if s.size is None else (s.name, dt, (sizes[s.name],)))
        fields.extend(HIDDEN_STATE)
        fields.append((f"sdk_{key}", np.int8))
        return np.dtype(fields, align=True)

    def array_sizes(self, rows: list[dict[str, Any]]) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.state:
            if isinstance(s.size, str):
                out[s.name] = max([int(r[s.size]) for r in rows] or [1])
            elif s.size is not None:
                out[s.name] = int(s.size)
        return out

    def key(self, sizes: Mapping[str, int], debug: bool) -> str:
        digest = hashlib.sha256(self.source)
        digest.update(bot4_sources_digest().encode())
        # not the file's path: the same source elsewhere (a copy, a test's temporary directory) reuses the compiled code
        digest.update(f"{self.name}|{sorted(sizes.items())}|debug={debug}".encode())
        return digest.hexdigest()[:20]

    def build_arrays(self, rows: list[dict[str, Any] | None], debug: bool) -> tuple[np.ndarray, np.ndarray, str]:
        """Per-symbol params and state arrays (None rows: symbols this strategy does not trade) and the key."""
        used = [r for r in rows if r is not None]
        sizes = self.array_sizes(used)
        key = self.key(sizes, debug)
        pdt, sdt = self.params_dtype(), self.state_dtype(sizes, key)
        params = np.zeros(len(rows), pdt)
        state = np.zeros(len(rows), sdt)
        for i, r in enumerate(rows):
            if r is None:
                continue
            for name, value in r.items():
                params[i][name] = value
            for s in self.state:
                state[i][s.name] = s.default
        return params, state, key


def handler_location(fn: Callable[..., Any]) -> str:
    return f"{fn.__code__.co_filename}:{fn.__code__.co_firstlineno}"


_RECORD_RE = re.compile(r"Record\([^()]*\)")
_FILE_RE = re.compile(r'File "([^"]+)", line (\d+)')


def typing_error_line(exc: Exception, user_file: Path, name: str) -> str:
    """One line from a numba error: the user's file and line, and what numba could not type there."""
    text = str(exc)
    where = ""
    for m in _FILE_RE.finditer(text):
        try:
            same = Path(m.group(1)).resolve() == user_file
        except OSError:
            same = False
        if same:
            where = f"{user_file}:{m.group(2)}"
    if not where:
        where = str(user_file)
    what = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("Failed in", "- Resolution failure", "During:", "File ", "^", "<source")):
            continue
        if line.startswith("No implementation of function") or line.startswith("Unknown attribute"):
            what = line
            break
        if not what:
            what = line
    what = _RECORD_RE.sub("record", what).replace("\x1b[1m", "").replace("\x1b[0m", "")
    return f"{where}: {name} does not compile: {what}"
