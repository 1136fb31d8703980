"""Low-level intrinsics the core's kernels need and numba does not expose.

Cross-thread hand-off (rings, seqlocks) needs loads and stores that the compiler may not reorder or hoist: an
acquire load of a producer index inside a loop must really reach memory each time, and a record must be written
before its index is published. These intrinsics emit LLVM atomic loads/stores and fences; on x86-64 they compile
to plain moves plus a compiler barrier, so they cost nothing at run time but keep the ordering the design relies on.

The monotonic clock is ``clock_gettime(CLOCK_MONOTONIC)`` declared by symbol name, so kernels that read it stay
cacheable (a ctypes function pointer would be a dynamic global and disable ``cache=True``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

import llvmlite.binding as llvm_binding
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

CLOCK_MONOTONIC = 1

# Make the libc symbol visible to the JIT linker in every process, cached or not.
_libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
for _name in ("clock_gettime", "nanosleep", "sched_yield", "syscall"):
    llvm_binding.add_symbol(_name, ctypes.cast(getattr(_libc, _name), ctypes.c_void_p).value)

# futex(2) lets the core sleep until a producer wakes it, instead of polling on a timer.
SYS_FUTEX = {"x86_64": 202, "aarch64": 98, "arm64": 98}.get(platform.machine(), 202)
FUTEX_WAIT_PRIVATE = 0 | 128
FUTEX_WAKE_PRIVATE = 1 | 128
SYS_WRITE = {"x86_64": 1, "aarch64": 64, "arm64": 64}.get(platform.machine(), 1)


def _item_pointer(context, builder, aryty, ary_val, idx_val, idxty):  # type: ignore[no-untyped-def]
    ary = context.make_array(aryty)(context, builder, ary_val)
    idx = context.cast(builder, idx_val, idxty, types.intp)
    return cgutils.get_item_pointer(context, builder, aryty, ary, [idx], wraparound=False)


@intrinsic
def load_acquire(typingctx, arr, idx):  # type: ignore[no-untyped-def]
    """``arr[idx]`` as an acquire load (int64 arrays): later reads are not moved before it."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64 and isinstance(idx, types.Integer)):
        return None
    sig = types.int64(arr, idx)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        ptr = _item_pointer(context, builder, signature.args[0], args[0], args[1], signature.args[1])
        return builder.load_atomic(ptr, "acquire", 8)

    return sig, codegen


@intrinsic
def store_release(typingctx, arr, idx, value):  # type: ignore[no-untyped-def]
    """``arr[idx] = value`` as a release store (int64 arrays): earlier writes are visible before it."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64 and isinstance(idx, types.Integer)):
        return None
    sig = types.void(arr, idx, value)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        ptr = _item_pointer(context, builder, signature.args[0], args[0], args[1], signature.args[1])
        val = context.cast(builder, args[2], signature.args[2], types.int64)
        builder.store_atomic(val, ptr, "release", 8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def compare_exchange(typingctx, arr, idx, expected, desired):  # type: ignore[no-untyped-def]
    """Atomically: if ``arr[idx] == expected``, set it to ``desired`` and return True; else False (int64 arrays,
    sequentially consistent: ``lock cmpxchg`` on x86-64)."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64 and isinstance(idx, types.Integer)):
        return None
    sig = types.boolean(arr, idx, expected, desired)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        ptr = _item_pointer(context, builder, signature.args[0], args[0], args[1], signature.args[1])
        exp = context.cast(builder, args[2], signature.args[2], types.int64)
        new = context.cast(builder, args[3], signature.args[3], types.int64)
        pair = builder.cmpxchg(ptr, exp, new, "seq_cst", "seq_cst")
        return builder.extract_value(pair, 1)

    return sig, codegen


@intrinsic
def fence_seq_cst(typingctx):  # type: ignore[no-untyped-def]
    """A full memory fence (``mfence`` on x86-64): nothing is reordered across it."""
    sig = types.void()

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        builder.fence("seq_cst")
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def fence_acquire(typingctx):  # type: ignore[no-untyped-def]
    """An acquire fence: loads before it are not moved after loads that follow it."""
    sig = types.void()

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        builder.fence("acquire")
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def leading_zeros64(typingctx, value):  # type: ignore[no-untyped-def]
    """Count of leading zero bits of a 64-bit integer (64 for zero); one ``lzcnt``/``bsr``."""
    if not isinstance(value, types.Integer):
        return None
    sig = types.int64(value)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        val = context.cast(builder, args[0], signature.args[0], types.int64)
        return builder.ctlz(val, ir.Constant(ir.IntType(1), 0))

    return sig, codegen


@intrinsic
def monotonic_ns(typingctx):  # type: ignore[no-untyped-def]
    """``CLOCK_MONOTONIC`` in nanoseconds, read inside a kernel (vDSO, about 20 ns)."""
    sig = types.int64()

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        i64 = ir.IntType(64)
        i32 = ir.IntType(32)
        timespec = ir.LiteralStructType([i64, i64])
        fnty = ir.FunctionType(i32, [i32, timespec.as_pointer()])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "clock_gettime")
        slot = cgutils.alloca_once(builder, timespec)
        builder.call(fn, [ir.Constant(i32, CLOCK_MONOTONIC), slot])
        sec = builder.load(cgutils.gep_inbounds(builder, slot, 0, 0))
        nsec = builder.load(cgutils.gep_inbounds(builder, slot, 0, 1))
        return builder.add(builder.mul(sec, ir.Constant(i64, 1_000_000_000)), nsec)

    return sig, codegen


@intrinsic
def popcount64(typingctx, value):  # type: ignore[no-untyped-def]
    """Number of set bits of a 64-bit integer."""
    if not isinstance(value, types.Integer):
        return None
    sig = types.int64(value)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        val = context.cast(builder, args[0], signature.args[0], types.int64)
        return builder.ctpop(val)

    return sig, codegen


@intrinsic
def sched_yield_now(typingctx):  # type: ignore[no-untyped-def]
    """Give the CPU to another runnable thread, if any."""
    sig = types.void()

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        fnty = ir.FunctionType(ir.IntType(32), [])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "sched_yield")
        builder.call(fn, [])
        return context.get_dummy_value()

    return sig, codegen


def _timespec(builder, ns_val):  # type: ignore[no-untyped-def]
    i64 = ir.IntType(64)
    timespec = ir.LiteralStructType([i64, i64])
    slot = cgutils.alloca_once(builder, timespec)
    billion = ir.Constant(i64, 1_000_000_000)
    builder.store(builder.sdiv(ns_val, billion), cgutils.gep_inbounds(builder, slot, 0, 0))
    builder.store(builder.srem(ns_val, billion), cgutils.gep_inbounds(builder, slot, 0, 1))
    return slot, timespec


def _syscall(builder, number: int, *args):  # type: ignore[no-untyped-def]
    """Emit ``syscall(number, *args)`` (libc's variadic wrapper); every argument an i64 value."""
    i64 = ir.IntType(64)
    fnty = ir.FunctionType(i64, [i64], var_arg=True)
    fn = cgutils.get_or_insert_function(builder.module, fnty, "syscall")
    return builder.call(fn, [ir.Constant(i64, number), *args])


@intrinsic
def futex_wait_ns(typingctx, arr, idx, expected, timeout_ns):  # type: ignore[no-untyped-def]
    """Sleep until ``arr[idx]`` (its low 32 bits) is woken and no longer ``expected``, or ``timeout_ns`` passes."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64):
        return None
    sig = types.int64(arr, idx, expected, timeout_ns)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        i64 = ir.IntType(64)
        ptr = _item_pointer(context, builder, signature.args[0], args[0], args[1], signature.args[1])
        exp = context.cast(builder, args[2], signature.args[2], types.int64)
        tmo = context.cast(builder, args[3], signature.args[3], types.int64)
        slot, _ = _timespec(builder, tmo)
        zero = ir.Constant(i64, 0)
        return _syscall(
            builder, SYS_FUTEX, builder.ptrtoint(ptr, i64), ir.Constant(i64, FUTEX_WAIT_PRIVATE),
            builder.and_(exp, ir.Constant(i64, 0xFFFFFFFF)), builder.ptrtoint(slot, i64), zero, zero,
        )

    return sig, codegen


@intrinsic
def futex_wake(typingctx, arr, idx):  # type: ignore[no-untyped-def]
    """Wake the threads sleeping on ``arr[idx]`` (see :func:`futex_wait_ns`)."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64):
        return None
    sig = types.int64(arr, idx)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        i64 = ir.IntType(64)
        ptr = _item_pointer(context, builder, signature.args[0], args[0], args[1], signature.args[1])
        zero = ir.Constant(i64, 0)
        return _syscall(
            builder, SYS_FUTEX, builder.ptrtoint(ptr, i64), ir.Constant(i64, FUTEX_WAKE_PRIVATE),
            ir.Constant(i64, 2147483647), zero, zero, zero,
        )

    return sig, codegen


@intrinsic
def eventfd_signal(typingctx, fd):  # type: ignore[no-untyped-def]
    """Add 1 to the eventfd ``fd`` (write(2) of a 64-bit one): wakes an event loop waiting for it to be readable."""
    if not isinstance(fd, types.Integer):
        return None
    sig = types.int64(fd)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        i64 = ir.IntType(64)
        one = cgutils.alloca_once_value(builder, ir.Constant(i64, 1))
        fd64 = context.cast(builder, args[0], signature.args[0], types.int64)
        return _syscall(builder, SYS_WRITE, fd64, builder.ptrtoint(one, i64), ir.Constant(i64, 8))

    return sig, codegen
