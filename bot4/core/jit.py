"""The two ways the core compiles code, so every kernel is built the same way.

``kernel``: a hot-path function. Compiled with the GIL released, cached on disk, and *without numba's reference-
counting runtime* (``_nrt=False``). That has two effects the design depends on: a kernel cannot allocate (``np.empty``
inside one fails to compile, so "no allocation on the hot path" is checked by the compiler), and passing arrays
between kernels and helpers costs no atomic reference-count updates.

``helper``: a small function called from kernels (ring index arithmetic, pool push/pop, histogram bucket). It is
inlined into its caller at numba's IR level. Measured here: a ring push+pop through plain njit helpers cost 18 ns
per record (a call plus six atomic refcount updates each), the same through inlined helpers in an NRT-free kernel
3.7 ns. Helpers are callable from Python too (then compiled on their own).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit
from numba.extending import overload

kernel = njit(cache=True, nogil=True, _nrt=False)
helper = njit(cache=True, nogil=True, inline="always", _nrt=False)

_CASTS = {"int": "np.int64", "float": "np.float64", "bool": "np.bool_"}


def routine(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A kernel called from compiled code at many places: compiled once per type of its array arguments.

    numba compiles a kernel again for every new combination of argument types at its call sites: a literal ``0``,
    an ``int8`` record field and an ``int64`` are three types, so a refusal logger called from a dozen places was
    compiled 17 times (13 s of a cold start). A routine's call sites pass each scalar as its annotation says
    (``int`` as int64, ``float`` as float64, ``bool`` as a boolean) through a cast inlined at the call, so one
    compiled body serves them all. From Python it is called like the kernel; ``.kernel`` is the kernel itself.
    """
    body = kernel(fn)
    names = list(inspect.signature(fn).parameters)
    annotations = {k: (v if isinstance(v, str) else getattr(v, "__name__", "")) for k, v in fn.__annotations__.items()}
    casts = [f"{_CASTS[annotations[n]]}({n})" if annotations.get(n) in _CASTS else n for n in names]
    args = ", ".join(names)
    source = (
        f"def {fn.__name__}({args}):\n    return body({args})\n"
        f"def cast({args}):\n    return body({', '.join(casts)})\n"
        f"def typer({args}):\n    return cast\n"
    )
    scope: dict[str, Any] = {"np": np, "body": body}
    exec(compile(source, f"<routine {fn.__module__}.{fn.__qualname__}>", "exec"), scope)  # noqa: S102
    stub = scope[fn.__name__]
    stub.__doc__ = fn.__doc__
    stub.__module__ = fn.__module__
    stub.__qualname__ = fn.__qualname__
    stub.__wrapped__ = fn
    stub.kernel = body
    stub.py_func = fn
    overload(stub, inline="always", jit_options={"_nrt": False, "nogil": True})(scope["typer"])
    return stub


_TYPES: dict[object, object] = {}


def _type_key(a: object) -> object:
    """What decides numba's type of ``a`` (arrays: dtype, dimensions, layout, flags; named tuples: their class and
    members), or None when it is not one of those."""
    import numpy as np

    if isinstance(a, np.ndarray):
        f = a.flags
        return ("a", a.dtype, a.ndim, f.c_contiguous, f.f_contiguous, f.writeable, f.aligned)
    if isinstance(a, tuple):
        keys = tuple(_type_key(x) for x in a)
        return None if any(k is None for k in keys) else ("t", type(a), keys)
    return None


def typeof_cached(a: object) -> object:
    """``numba.typeof(a)``, remembered for arrays and tuples of arrays: typing the engine's state (a tuple of many
    record arrays) costs milliseconds each time, and a sweep builds a core per parameter set."""
    from numba import typeof

    key = _type_key(a)
    if key is None:
        return typeof(a)
    t = _TYPES.get(key)
    if t is None:
        t = _TYPES[key] = typeof(a)
    return t


def bind(dispatcher, *args):  # type: ignore[no-untyped-def]
    """The compiled entry point of ``dispatcher`` for exactly the types of ``args``, compiled now.

    Calling it skips numba's per-call type dispatch (about 200 ns with record arrays here). The caller must pass
    arguments of exactly these types: Python-side owners bind their own arrays once, at construction.
    """
    return dispatcher.compile(tuple(typeof_cached(a) for a in args))
