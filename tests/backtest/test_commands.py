"""``bot4 backtest`` and ``bot4 sweep`` end to end: the report files and their round trip, the HTML page standing
alone, a sweep on a real Dask LocalCluster giving what the in-process run gives, and one clear line for bad input."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from distributed import LocalCluster

from bot4.backtest.data import load_ticks, with_data
from bot4.backtest.driver import SweepSpec, run_sweep
from bot4.backtest.executors import DaskExecutor, Executor
from bot4.backtest.report import load_report
from bot4.backtest.sweep import parse_grid
from bot4.commands import main
from bot4.runtime.config import load_config


def test_backtest_writes_a_report_that_loads_back(
    tmp_path: Path, small_config: Path, tick_data: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rep"
    args = ["backtest", "--config", str(small_config), "--out", str(out), "--html"]
    for d in tick_data:
        args += ["--data", d]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "BTC/USDT" in text and "Sharpe" in text and "exit reasons: " in text
    assert any(0x2800 < ord(c) <= 0x28FF for c in text)  # the braille equity chart
    rep = load_report(out)
    assert rep.metrics.trades >= 10 and rep.metrics.trades == rep.per_symbol[0].trades
    assert rep.trades["net"].sum() == pytest.approx(rep.metrics.net_pnl, rel=1e-9, abs=1e-6)
    assert rep.curve["equity"][-1] == pytest.approx(rep.metrics.final_equity)
    assert sum(rep.exit_reasons.values()) == len(rep.trades)
    parquet = pq.read_table(out / "trades.parquet").to_pydict()
    assert parquet["net"] == pytest.approx(rep.trades["net"].tolist())
    eq = pq.read_table(out / "equity.parquet").to_pydict()
    assert np.array_equal(np.array(eq["ts_ns"]), rep.curve["ts_ns"])
    page = (out / "report.html").read_text()
    assert "Plotly.newPlot" in page and "<script src=" not in page  # the JavaScript is inline: one file
    summary = page.split("<pre", 1)[1].split("</pre>", 1)[0]
    last_row = text.split("\n\nequity ")[0].rstrip().splitlines()[-1]  # the terminal's last row of figures
    assert html.escape(last_row) in summary and "Sharpe" in summary  # every row of figures, the last one too
    assert not any(0x2800 < ord(c) <= 0x28FF for c in summary)  # the chart is the page's own, not braille


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["backtest", "--data", "XRP/USDT=x.csv"], "XRP/USDT is not an instrument"),
        (["backtest", "--data", "BTC/USDT=/nonexistent/trades.csv"], "does not exist"),
        (["backtest", "--from", "2024-08-09", "--to", "2024-08-08"], "is not after --from"),
        (["backtest", "--from", "yesterday"], "not a date"),
        (["backtest", "--config", "/nonexistent.toml"], "does not exist"),
        (["sweep", "--grid", "fast_period=10:5:1"], "STOP >= START"),
        (["sweep", "--grid", "no_such_key=1:2:1", "--workers", "0"], "unknown key"),
        (["sweep", "--grid", "fast_period=5:10:5", "--metric", "luck"], "--metric 'luck'"),
        (
            ["sweep", "--grid", "fast_period=5:10:5", "--scheduler", "tcp://127.0.0.1:9", "--workers", "0"],
            "cannot reach the Dask scheduler",
        ),
    ],
)
def test_bad_input_is_one_clear_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0], err


def spec_for(small_config: Path, data: list[str], grid: str, **kw: object) -> SweepSpec:
    def make(overrides: object) -> object:
        return with_data(load_config(small_config, env={}, overrides=overrides), data)  # type: ignore[arg-type]

    ticks = load_ticks(make({}))  # type: ignore[arg-type]
    ts = ticks["ts_exch_ns"]
    return SweepSpec(parse_grid(grid), make, int(ts[0]), int(ts[-1]), **kw)  # type: ignore[arg-type]


def test_a_sweep_on_a_local_cluster_gives_the_in_process_results(small_config: Path, bar_data: list[str]) -> None:
    spec = spec_for(
        small_config, bar_data, "fast_period=4:12:4,slow_period=8:24:8", metric="net_pnl", lanes=2, walk_forward=1
    )
    inline = run_sweep(spec, Executor())
    assert inline.combinations == 9 and inline.invalid == 2  # (8, 8) and (12, 8): slow must exceed fast
    assert len(inline.rows) == 7 * 2 and len(inline.folds) == 1
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", dashboard_address=None
    ) as cluster:
        assert cluster.scheduler_address.startswith("tcp://")
        with DaskExecutor(cluster.scheduler_address) as ex:
            assert ex.parallelism == 2
            dask = run_sweep(spec, ex)

    def key(r: dict[str, object]) -> tuple[object, ...]:
        return (r["segment"], r["strategy.fast_period"], r["strategy.slow_period"])

    got = {key(r): (r["net_pnl"], r["trades"], r["fees"]) for r in dask.rows}
    want = {key(r): (r["net_pnl"], r["trades"], r["fees"]) for r in inline.rows}
    assert got == want
    assert any(v[1] > 0 for v in want.values())
    best = inline.best("net_pnl")[0]
    assert all(best["net_pnl"] >= r["net_pnl"] for r in inline.rows if r["segment"] == 0)
    fold = inline.folds[0]
    assert fold["params"] == {
        "strategy.fast_period": best["strategy.fast_period"],
        "strategy.slow_period": best["strategy.slow_period"],
    }
    assert fold["out_of_sample"]["segment"] == 1


def test_optuna_search_counts_invalid_suggestions_and_ranks(small_config: Path, bar_data: list[str]) -> None:
    spec = spec_for(
        small_config,
        bar_data,
        "fast_period=2:30:2,slow_period=4:40:4",
        metric="sharpe",
        lanes=3,
        optuna_trials=9,
        seed=3,
    )
    res = run_sweep(spec, Executor())
    assert res.combinations == 9
    assert len(res.rows) + res.invalid == 9
    assert all(r["strategy.slow_period"] > r["strategy.fast_period"] for r in res.rows)
    assert {r["trial"] for r in res.rows} <= set(range(9))


def test_the_sweep_command_on_a_cluster_address(
    small_config: Path, bar_data: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", dashboard_address=None
    ) as cluster:
        argv = [
            "sweep",
            "--config",
            str(small_config),
            "--data",
            bar_data[0],
            "--grid",
            "fast_period=5|10,slow_period=10|20",
            "--scheduler",
            cluster.scheduler_address,
            "--metric",
            "net_pnl",
            "--out",
            str(tmp_path / "sw"),
        ]
        assert main(argv) == 0
    out = capsys.readouterr().out
    assert "4 parameter sets, 3 run, 1 skipped as invalid" in out
    rows = pq.read_table(tmp_path / "sw" / "sweep.parquet").to_pylist()
    assert len(rows) == 3
    first = out.split("ranked by net_pnl:")[1].splitlines()[2].split()
    assert float(first[3].replace(",", "")) == pytest.approx(max(r["net_pnl"] for r in rows), abs=0.01)
