"""Where a user strategy meets the engine's step: three hooks, each resolved when numba compiles the step.

``sdk_on_tick_nb`` (a tick on a symbol the user strategy trades), ``sdk_on_fill_nb`` (a fill of one of its orders)
and ``sdk_after_exec_nb`` (any other execution report) are called by ``step.py``. Which strategy they run is decided
by type, not by a value: the user state array's record dtype (in ``UserArrays``, passed beside the engine state, so
no kernel that takes only the state compiles again per strategy) carries the marker ``sdk_<key>`` (``usercode.py``),
and each hook's numba overload looks the key up in :data:`REGISTRY` and returns that strategy's glue
(``sdkapply.build_glue``), inlined into the step. No function pointer, no Python per event: static dispatch. Without
a user strategy (the marker absent) the hooks compile to nothing.

:func:`register` compiles each handler on its own first, with the exact types the step will pass, so that a typing
error is reported as one line naming the user's file and line instead of inside the engine's compile.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit, typeof
from numba.core import types as nbtypes
from numba.core.errors import NumbaError, NumbaWarning
from numba.extending import overload

from bot4.core.intents import new_intents
from bot4.core.state import SYMBOL_DTYPE
from bot4.core.usercode import ARRAY_ARGS, HANDLER_ARGS, INT_ARGS, LoadedStrategy, StrategyError, typing_error_line

JIT_OPTIONS = {"_nrt": False, "nogil": True}
MARKER_PREFIX = "sdk_"


@dataclass
class Registered:
    """A user strategy the step may compile in: its compiled handlers (or, in debug mode, Python ones)."""

    loaded: LoadedStrategy
    key: str
    debug: bool
    compiled: dict[str, Any] = field(default_factory=dict)  # handler name -> inlinable dispatcher
    python: dict[str, Any] = field(default_factory=dict)  # handler name -> plain Python function (debug mode)
    glue: tuple[Any, ...] | None = None  # (tick, fill, after_exec) implementations, built at first compile


REGISTRY: dict[str, Registered] = {}


def _pythonised(fn: Any, memo: dict[int, Any]) -> Any:
    """``fn`` as plain Python: the same code with every compiled function it names replaced by its Python source."""
    import types

    from numba.core.registry import CPUDispatcher

    if id(fn) in memo:
        return memo[id(fn)]
    glb = dict(fn.__globals__)
    out = types.FunctionType(fn.__code__, glb, fn.__name__, fn.__defaults__, fn.__closure__)
    out.__kwdefaults__ = fn.__kwdefaults__
    memo[id(fn)] = out
    for name in fn.__code__.co_names:
        value = glb.get(name)
        if isinstance(value, CPUDispatcher):
            glb[name] = _pythonised(value.py_func, memo)
    return out


def handler_types(params: np.ndarray, state: np.ndarray) -> tuple[Any, ...]:
    """The numba types of (params, state, position, out) as the step passes them."""
    sym = np.zeros(1, SYMBOL_DTYPE)
    return (typeof(params).dtype, typeof(state).dtype, typeof(sym).dtype, typeof(new_intents()))


def register(loaded: LoadedStrategy, params: np.ndarray, state: np.ndarray, key: str, debug: bool) -> Registered:
    """Make the strategy with marker ``key`` known to the step; compile its handlers now (StrategyError on a typing
    error: one line with the user's file and line)."""
    if key in REGISTRY:
        return REGISTRY[key]
    reg = Registered(loaded, key, debug)
    base = handler_types(params, state)
    for name, fn in loaded.handlers.items():
        extra = tuple(
            nbtypes.int64 if a in INT_ARGS else nbtypes.float64[:, ::1] if a in ARRAY_ARGS else nbtypes.float64
            for a in HANDLER_ARGS[name]
        )
        if debug:
            reg.python[name] = _pythonised(fn, {})
            continue
        dispatcher = njit(cache=False, nogil=True, inline="always", _nrt=False)(fn)  # type: ignore[call-overload]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NumbaWarning)
                dispatcher.compile((*base, *extra))
        except NumbaError as exc:
            raise StrategyError(typing_error_line(exc, loaded.path, f"{loaded.name}.{name}")) from None
        except KeyError as exc:  # numba's record typing lets an unknown field name out as a bare KeyError
            raise StrategyError(unknown_field_line(loaded, name, str(exc.args[0]), params, state)) from None
        reg.compiled[name] = dispatcher
    REGISTRY[key] = reg
    return reg


def unknown_field_line(
    loaded: LoadedStrategy, handler: str, field_name: str, params: np.ndarray, state: np.ndarray
) -> str:
    """One line for a field no record has: the first line of the strategy file that reads it, and what exists."""
    line = ""
    for i, text in enumerate(loaded.source.decode(errors="replace").splitlines(), 1):
        if f".{field_name}" in text:
            line = f":{i}"
            break
    known_p = ", ".join(n for n in params.dtype.names or () if not n.startswith(MARKER_PREFIX))
    known_s = ", ".join(n for n in state.dtype.names or () if not n.startswith(MARKER_PREFIX))
    return (
        f"{loaded.path}{line}: {loaded.name}.{handler} does not compile: no field {field_name!r} "
        f"(params: {known_p or 'none'}; state: {known_s or 'none'})"
    )


def _registered_for(user: Any) -> Registered | None:
    """The strategy whose marker the user state's record dtype carries (numba types of ``UserArrays``), or None."""
    state_ty = user.types[user.fields.index("state")]
    for name in state_ty.dtype.fields:
        if name.startswith(MARKER_PREFIX) and name[len(MARKER_PREFIX) :] in REGISTRY:
            return REGISTRY[name[len(MARKER_PREFIX) :]]
    return None


def _glue(user: Any) -> tuple[Any, ...] | None:
    reg = _registered_for(user)
    if reg is None:
        return None
    if reg.glue is None:
        from bot4.core.sdkapply import build_glue  # it imports the step, which imports this module

        reg.glue = build_glue(reg)
    return reg.glue


_COMPILED_ONLY = "is resolved when numba compiles the engine's step (sdkstep.py); run the step instead"


def sdk_on_tick_nb(st: Any, user: Any, s: int, slot: int, price: float, t0: int) -> None:
    """The user strategy's handlers for the tick in md ring ``slot`` on symbol ``s``, then its intents."""
    raise TypeError(f"sdk_on_tick_nb {_COMPILED_ONLY}")


def sdk_on_fill_nb(st: Any, user: Any, s: int, side: int, price: float, size: float, ts_in: int, now: int) -> None:
    """The user strategy's ``on_fill`` for a fill on symbol ``s``, then its intents and refusals."""
    raise TypeError(f"sdk_on_fill_nb {_COMPILED_ONLY}")


def sdk_after_exec_nb(st: Any, user: Any, now: int) -> None:
    """After an execution report other than a fill: tell the user strategy of refusals it has not heard of."""
    raise TypeError(f"sdk_after_exec_nb {_COMPILED_ONLY}")


@overload(sdk_on_tick_nb, inline="always", jit_options=JIT_OPTIONS)  # type: ignore[arg-type]
def _ov_tick(st, user, s, slot, price, t0):  # type: ignore[no-untyped-def]
    glue = _glue(user)
    if glue is None:

        def none(st, user, s, slot, price, t0):  # type: ignore[no-untyped-def]
            return None

        return none
    return glue[0]


@overload(sdk_on_fill_nb, inline="always", jit_options=JIT_OPTIONS)  # type: ignore[arg-type]
def _ov_fill(st, user, s, side, price, size, ts_in, now):  # type: ignore[no-untyped-def]
    glue = _glue(user)
    if glue is None:

        def none(st, user, s, side, price, size, ts_in, now):  # type: ignore[no-untyped-def]
            return None

        return none
    return glue[1]


@overload(sdk_after_exec_nb, inline="always", jit_options=JIT_OPTIONS)  # type: ignore[arg-type]
def _ov_after(st, user, now):  # type: ignore[no-untyped-def]
    glue = _glue(user)
    if glue is None:

        def none(st, user, now):  # type: ignore[no-untyped-def]
            return None

        return none
    return glue[2]
