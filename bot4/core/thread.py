"""The core thread and its hand-offs: the run loop, sleeping, waking, and a producer running the step itself.

``engine_run_nb`` loops over steps on the core thread with the GIL released, publishes the snapshot every
``publish_ns``, and when idle spins briefly, yields, then sleeps on a futex until a producer wakes it (or a timeout),
so an idle core costs no CPU. Waking a sleeping thread costs a CPU wake-up (30-850 us measured on a 2-vCPU VM), so a
producer that finds the thread asleep runs the step itself (``kick_core_nb``): one thread at a time holds the step
(``W_OWNER``, taken by compare-and-swap). The cross-thread words are in ``st.sync``, touched only through atomics.
"""

from __future__ import annotations

import numpy as np

from bot4.core.atomics import (
    compare_exchange,
    eventfd_signal,
    fence_seq_cst,
    futex_wait_ns,
    futex_wake,
    load_acquire,
    monotonic_ns,
    sched_yield_now,
    store_release,
)
from bot4.core.commands import kill_requested_nb
from bot4.core.jit import helper, kernel
from bot4.core.publish import engine_publish_inline_nb, publish_if_due_nb
from bot4.core.ring import RING_HEAD, RING_MASK, ring_available_nb, ring_publish_nb, ring_reserve_nb
from bot4.core.state import (
    OWNER_CORE,
    OWNER_FREE,
    OWNER_PRODUCER,
    W_NOTIFY_ARMED,
    W_NOTIFY_FD,
    W_OWNER,
    W_RUNNING,
    W_SLEEPING,
    W_STOP,
    W_WAKE,
    EngineState,
    UserArrays,
)
from bot4.core.step import engine_step_inline_nb, engine_step_nb, warm_nb

SPIN_ROUNDS = 256  # empty steps spent polling before yielding (~25 us)
YIELD_ROUNDS = SPIN_ROUNDS + 32  # then a few yields before sleeping on the futex (an idle core costs no CPU)
MAX_SLEEP_NS = 50_000_000  # a sleeping core wakes at least this often (publishing, stale checks)
STEAL_MAX_STEPS = 64  # a producer running the step for a sleeping core stops after this many passes (batch_max each)


@helper
def inbound_waiting_nb(st: EngineState) -> bool:
    rings = st.rings
    waiting = ring_available_nb(rings.commands.ctrl) + ring_available_nb(rings.fills.ctrl)
    return waiting + ring_available_nb(rings.md.ctrl) > 0 or kill_requested_nb(st)


@helper
def notify_output_nb(sync: np.ndarray, core: np.ndarray) -> None:
    """Orders wait in the execution ring: if the execution side sleeps on the eventfd, wake it (once)."""
    fence_seq_cst()  # our ring publish is visible before we read W_NOTIFY_ARMED (its arm reads the ring after)
    if load_acquire(sync, W_NOTIFY_ARMED) != 0:
        store_release(sync, W_NOTIFY_ARMED, 0)
        fd = sync[W_NOTIFY_FD]
        if fd >= 0:
            eventfd_signal(fd)
            core[0].notifies += 1


@kernel
def arm_output_notify_nb(sync: np.ndarray, out_ctrl: np.ndarray) -> int:
    """Execution side, before sleeping on the eventfd: ask for a signal; the orders already waiting (0 = sleep)."""
    store_release(sync, W_NOTIFY_ARMED, 1)
    fence_seq_cst()  # the arm is visible before we look at the ring (the core looks at the arm after publishing)
    return ring_available_nb(out_ctrl)


@helper
def take_ownership_nb(sync: np.ndarray) -> None:
    """The core thread takes the step back (after a sleep, or at start): a producer running it finishes first."""
    while not compare_exchange(sync, W_OWNER, OWNER_FREE, OWNER_CORE):
        sched_yield_now()  # a producer's pass is bounded (STEAL_MAX_STEPS batches)


@kernel
def engine_run_nb(st: EngineState, user: UserArrays) -> int:
    """The core thread's loop (GIL released) until ``W_STOP`` is set; returns the iterations run.

    While it sleeps it gives up the step (``W_OWNER``): a producer that finds it asleep runs the step on its own thread
    first (:func:`kick_core_nb`), and the thread takes the step back when it wakes.
    """
    sync = st.sync
    take_ownership_nb(sync)
    store_release(sync, W_RUNNING, 1)
    publish_ns = st.params[0].publish_ns
    sleep_ns = publish_ns if publish_ns < MAX_SLEEP_NS else MAX_SLEEP_NS
    idle = 0
    loops = 0
    while load_acquire(sync, W_STOP) == 0:
        loops += 1
        n = engine_step_inline_nb(st, user)
        if n > 0 and ring_available_nb(st.rings.orders.ctrl) > 0:
            notify_output_nb(sync, st.core)
        st.core[0].loops = loops
        publish_if_due_nb(st, monotonic_ns())
        if n > 0:
            idle = 0
            continue
        idle += 1
        if idle == 1 and st.core[0].warm_ticks > 0 and st.params[0].warm_ticks > 0:
            warm_nb(st, st.core[0].warm_symbol)  # going idle: the next tick's order finds the checks warm
        if idle < SPIN_ROUNDS:
            continue
        if idle < YIELD_ROUNDS:
            sched_yield_now()
            continue
        wake = load_acquire(sync, W_WAKE)
        store_release(sync, W_SLEEPING, 1)
        store_release(sync, W_OWNER, OWNER_FREE)  # while we sleep, a producer may run the step itself
        fence_seq_cst()  # producers see W_SLEEPING before we look at the rings one last time
        if not inbound_waiting_nb(st) and load_acquire(sync, W_STOP) == 0:
            st.core[0].sleeps += 1
            futex_wait_ns(sync, W_WAKE, wake, sleep_ns)
        take_ownership_nb(sync)
        store_release(sync, W_SLEEPING, 0)
        idle = SPIN_ROUNDS  # after a sleep, go straight to yielding if still idle
    st.core[0].loops = loops
    engine_publish_inline_nb(st)
    store_release(sync, W_RUNNING, 0)
    store_release(sync, W_OWNER, OWNER_FREE)
    return loops


@kernel
def push_ticks_nb(ctrl: np.ndarray, buf: np.ndarray, src: np.ndarray, start: int, n: int) -> int:
    """Feed side: push ``src[start:start+n]`` into the md ring, stamping each tick's ingress time; count pushed.

    Ticks that do not fit are refused and counted (one count per tick) as back-pressure.
    """
    return push_ticks_at_nb(ctrl, buf, src, start, n, monotonic_ns())


@helper
def push_ticks_at_nb(ctrl: np.ndarray, buf: np.ndarray, src: np.ndarray, start: int, n: int, now: int) -> int:
    """:func:`push_ticks_nb` with the ingress time given (a clock read the caller shares with the step after)."""
    head = ctrl[RING_HEAD]
    mask = ctrl[RING_MASK]
    take = ring_reserve_nb(ctrl, n)
    for k in range(take):
        slot = (head + k) & mask
        buf[slot] = src[start + k]
        buf[slot].ts_in_ns = now  # stamped before the release store below makes the tick visible
    if take > 0:
        ring_publish_nb(ctrl, take)
    return take


@kernel
def wake_core_nb(sync: np.ndarray) -> None:
    """Producers: call after pushing, so a sleeping core picks the records up at once."""
    fence_seq_cst()  # our ring publish is visible before we read W_SLEEPING
    if load_acquire(sync, W_SLEEPING) != 0:
        store_release(sync, W_WAKE, sync[W_WAKE] + 1)
        futex_wake(sync, W_WAKE)


@kernel
def core_sleeping_nb(sync: np.ndarray) -> bool:
    """Producers, after pushing: whether the core thread sleeps (the fence orders our push before the look)."""
    fence_seq_cst()
    return load_acquire(sync, W_SLEEPING) != 0


@kernel
def kick_core_nb(st: EngineState, user: UserArrays) -> int:
    """Producers, after pushing: if the core thread is asleep, run the step here and now; the records handled.

    Waking a sleeping thread costs the wake-up of its CPU: 30-850 us measured on a 2-vCPU VM, more than the order
    path's 100 us limit, for every batch of a feed that pauses between batches. Instead the producer takes the step
    (``W_OWNER``: one thread at a time runs it, handed over with an atomic compare-and-swap, so the core's state and
    its rings keep one consumer at a time) and runs it to the end of what waits, bounded. Then it wakes the core
    thread anyway, off the order path: the thread takes whatever the bound left, and is awake for the next records
    of a steady stream. A step it could not take (the core thread waking, another producer in it) wakes the thread.
    """
    sync = st.sync
    fence_seq_cst()  # our ring publish is visible before we read W_SLEEPING
    if load_acquire(sync, W_SLEEPING) == 0:
        return 0  # awake: it sees the records at its next pass
    if not compare_exchange(sync, W_OWNER, OWNER_FREE, OWNER_PRODUCER):
        wake_core_nb(sync)
        return 0
    handled = 0
    for _ in range(STEAL_MAX_STEPS):
        n = engine_step_nb(st, user)  # a call, not inlined: one per pass of up to batch_max records
        if n == 0:
            break
        handled += n
    if handled > 0:
        st.core[0].steals += 1
        if ring_available_nb(st.rings.orders.ctrl) > 0:
            notify_output_nb(sync, st.core)
        if st.core[0].warm_ticks > 0 and st.params[0].warm_ticks > 0:
            warm_nb(st, st.core[0].warm_symbol)  # the next order finds the checks warm, as after the thread's own pass
        publish_if_due_nb(st, monotonic_ns())
    store_release(sync, W_OWNER, OWNER_FREE)
    if handled > 0:
        # and wake the thread for what comes next: it spins a moment before sleeping again, so a steady stream
        # finds it awake (a producer's pass costs it the call into the step, ~2 us from Python) and anything left
        # here is taken at once
        wake_core_nb(sync)
    else:
        fence_seq_cst()
        if inbound_waiting_nb(st):
            wake_core_nb(sync)  # pushed meanwhile: the thread takes it
    return handled


@kernel
def try_publish_nb(st: EngineState) -> bool:
    """Publish now if nobody holds the step (a driven core: the step runs on its producers' threads); False when
    someone does (that holder publishes on its own schedule)."""
    if not compare_exchange(st.sync, W_OWNER, OWNER_FREE, OWNER_PRODUCER):
        return False
    engine_publish_inline_nb(st)
    store_release(st.sync, W_OWNER, OWNER_FREE)
    return True
