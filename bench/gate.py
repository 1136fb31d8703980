"""Performance gate: ``python bench/gate.py RESULTS.json`` fails when a figure misses its bound by more than a margin.

It prints the machine the figures were measured on first (CPU model, cores, load average before and after the run,
Python and numba versions, as ``bench/run.py`` recorded them), then one line per gate.

Machines differ, so speed is judged as a ratio against a baseline measured in the same run, never as an absolute
time or rate:

- ``ratio_min``: the figure's ratio to the baseline it names (``details[figure].ratio``, e.g. a compiled kernel over
  the same work in Python) must reach the bound;
- ``same_run_ratio_min``: the figure is itself a ratio of two same-run figures (the tick path over its limit loop,
  bot4 over NautilusTrader) and must reach the bound.

The only absolute bounds are the spec's own latency limits, the ones the README and issue 21 call the spec: decision
within 1 us, risk check within 10 us, tick -> order within 100 us (``spec_max``). They are judged on the best of the
run's rounds (each round's p99): a slower code path shows in every round, while a neighbour stealing a core on a
shared 2-core machine spoils some rounds only.

Reported, not gated: the cross-thread tick -> order p99 (``tick_to_order_p99_ns``): with a producer and the core
both spinning on a 2-vCPU VM, one stall of either vCPU delays every tick queued behind it, and on the CI VM all three
rounds of one run measured 455-605 us while the same code measured 12-15 us on a quiet one. The order path itself
is gated on one thread (``tick_to_order_code_path_p99_ns``, the lockstep replay's in-core histogram). The running
paper engine's tick -> order p99 (``paper_engine_tick_to_order_p99_ns``) is reported, not gated here: it is the
other half of issue 21 (the running engine's path), and its gate comes with that work.

``ring_cross_thread_records_per_s`` (two threads spinning on a ring) is bounded loosely, at a deque's rate: on
2026-12-03 it measured 25.7x and 28.8x a deque between two Python threads on the quiet VM and 1.1x in a run while a
neighbour compiled on one of the two cores (the absolute 20 M/s bound it had before would have failed that run too).

``tick_path_vs_limit``'s bound is a regression bound, not the goal: issue 21's goal is the tick path at half its
limit or better (0.5); on 2026-12-03 it measured 0.039-0.045 (three ``--quick`` runs on the 2-core VM), so the
gate asks for 0.025, which the tick path before its per-tick handlers were inlined (about a quarter of today's
rate) would fail.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import cpu_model, cpus, load_average  # noqa: E402


@dataclass(frozen=True)
class Gate:
    figure: str
    kind: str  # "ratio_min" | "same_run_ratio_min" | "spec_max" (see the module docstring)
    limit: float
    margin: float  # allowed shortfall as a fraction of the limit
    why: str


GATES = (
    Gate("pool_acquire_release_ns", "ratio_min", 5.0, 0.2, "pools: well ahead of a Python free list"),
    Gate("ring_push_pop_ns", "ratio_min", 5.0, 0.2, "rings: well ahead of a deque"),
    Gate("hist_record_ns", "ratio_min", 20.0, 0.2, "histogram recording in-core"),
    Gate("ring_cross_thread_records_per_s", "ratio_min", 1.0, 0.2, "cross-thread ring not below a deque, 2 threads"),
    Gate("tick_path_ticks_per_s", "ratio_min", 5.0, 0.2, "the compiled tick path against the same logic in Python"),
    Gate("tick_path_vs_limit", "same_run_ratio_min", 0.025, 0.0, "tick path over its limit loop (goal: 0.5)"),
    Gate("sdk_tick_path_ticks_per_s", "ratio_min", 0.9, 0.1, "a strategy on the SDK within 10 % of the built-in"),
    Gate("sdk_replay_path_ticks_per_s", "ratio_min", 0.9, 0.1, "the same on the lockstep replay path"),
    Gate("l2_replay_events_per_s", "ratio_min", 0.3, 0.2, "the L2 engine path within reach of its book kernel"),
    Gate("sweep_lanes_ticks_per_s", "ratio_min", 1.0, 0.2, "lanes in one pass not slower than a pass per set"),
    Gate("paper_fills_per_s", "ratio_min", 1.0, 0.2, "compiled matching at least as fast as plain Python"),
    Gate("replay_vs_nautilus_ratio", "same_run_ratio_min", 20.0, 0.1, "over NautilusTrader (when it is installed)"),
    Gate("decision_p99_ns", "spec_max", 1_000.0, 0.0, "the spec: decision within 1 us"),
    Gate("risk_check_p99_ns", "spec_max", 10_000.0, 0.0, "the spec: risk check within 10 us"),
    Gate("tick_to_order_code_path_p99_ns", "spec_max", 100_000.0, 0.0, "the spec: tick -> order within 100 us"),
)


def current_machine() -> dict[str, str]:
    """This machine, for results files written before ``bench/run.py`` recorded one."""
    return {"cpu_model": cpu_model(), "cpus": cpus(), "load_now": load_average(), "python": platform.python_version()}


def machine_header(doc: dict[str, object]) -> list[str]:
    """Where and with what the figures were measured: the first lines the gate prints."""
    versions: dict[str, str] = doc.get("versions", {})  # type: ignore[assignment]
    machine: dict[str, str] = doc.get("machine", {})  # type: ignore[assignment]
    if not machine:
        machine = current_machine()
        lines = ["machine: not recorded in the results (older bench/run.py); this machine now:"]
    else:
        lines = ["machine the figures were measured on:"]
    lines.append(f"  cpu: {machine.get('cpu_model', '?')}, {machine.get('cpus', versions.get('cpus', '?'))} cpus")
    if "load_start" in machine:
        lines.append(f"  load average (1/5/15 min): {machine['load_start']} at start, {machine['load_end']} at end")
    elif "load_now" in machine:
        lines.append(f"  load average (1/5/15 min): {machine['load_now']} (now, at the gate)")
    py = versions.get("python", machine.get("python", "?"))
    lines.append(f"  python {py}, numba {versions.get('numba', '?')}, numpy {versions.get('numpy', '?')}")
    lines.append(f"  quick: {doc.get('quick', '?')}")
    return lines


def judge(doc: dict[str, object]) -> list[str]:
    figures: dict[str, float] = doc["figures"]  # type: ignore[assignment]
    details: dict[str, dict[str, object]] = doc.get("details", {})  # type: ignore[assignment]
    failures = []
    for g in GATES:
        if g.figure not in figures:
            continue  # that benchmark was not run (--only, or NautilusTrader not installed)
        if g.kind == "ratio_min":
            value = details.get(g.figure, {}).get("ratio")
            if value is None:
                failures.append(f"{g.figure}: no same-run baseline ratio in the results")
                continue
            need = g.limit * (1 - g.margin)
            ok = float(value) >= need  # type: ignore[arg-type]
            shown = f"ratio {float(value):.1f}x, needs >= {need:.1f}x"  # type: ignore[arg-type]
        elif g.kind == "same_run_ratio_min":
            value = figures[g.figure]
            need = g.limit * (1 - g.margin)
            ok = value >= need
            shown = f"{value:.3g}x, needs >= {need:.3g}x"
        elif g.kind == "spec_max":
            best = details.get(g.figure, {}).get("best")
            value = float(best) if best is not None else figures[g.figure]  # type: ignore[arg-type]
            need = g.limit * (1 + g.margin)
            ok = value <= need
            shown = f"best round {value:,.0f} ns, needs <= {need:,.0f}"
        else:
            raise ValueError(f"gate {g.figure}: unknown kind {g.kind!r}")
        print(f"{'ok  ' if ok else 'FAIL'} {g.figure:36} {shown:40} {g.why}")
        if not ok:
            failures.append(f"{g.figure}: {shown} ({g.why})")
    return failures


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python bench/gate.py RESULTS.json", file=sys.stderr)
        return 2
    doc = orjson.loads(Path(argv[0]).read_bytes())
    for line in machine_header(doc):
        print(line)
    failures = judge(doc)
    if failures:
        print(f"performance gate: {len(failures)} figure(s) out of bounds", file=sys.stderr)
        return 1
    print("performance gate: all figures within bounds")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
