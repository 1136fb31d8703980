"""The events pane's words: rounded figures with units, fills and stop hits, PnL and drawdown colours; the
palette's screenshot lands in the state directory."""

from __future__ import annotations

from pathlib import Path

from bot4.ui.events import event_line, figure, fill_line
from bot4.ui.markup import parse_line
from bot4.ui.render import drawdown_color


def plain(markup: str) -> str:
    return parse_line(markup)[0]


def test_no_raw_floats_and_every_figure_has_its_unit() -> None:
    line = plain(
        event_line(
            "00:01:02",
            "trading_state",
            {
                "frm": "ACTIVE",
                "to": "REDUCING",
                "cause": "drawdown_warning",
                "equity": 99775.3370070008,
                "drawdown": 0.0997123,
            },
            "USDT",
        )
    )
    assert line == (
        "00:01:02 trading state ACTIVE → REDUCING (drawdown warning) · equity 99,775.34 USDT · drawdown 9.97 %"
    )
    assert "frm=" not in line and "99775.337" not in line


def test_a_kill_and_an_unknown_event_are_rounded_too() -> None:
    assert plain(event_line("t", "kill_switch", {"source": "ui", "gate_closed_us": 3.21987})) == (
        "t KILL SWITCH from ui · gate closed in 3.2 µs"
    )
    line = plain(event_line("t", "something_new", {"lag_s": 1.23456, "count": 12345, "ratio": 0.123456789}))
    assert line == "t something new · lag s 1.2 s · count 12,345 · ratio 0.1235"


def test_figures() -> None:
    assert figure("fees", 1234.5678, "USDT") == "1,234.57 USDT"
    assert figure("return_pct", -0.2345, "USDT") == "-0.23 %"
    assert figure("size", 0.80871, "USDT") == "0.80871"
    assert figure("equity", float("nan"), "USDT") == "—"


def test_fills_say_what_they_were() -> None:
    fill = {
        "side": "sell",
        "size": 0.80871,
        "symbol": "BTC/USDT",
        "price": 61640.1234,
        "fee": 19.9412,
        "liquidity": "taker",
        "exit": "stop",
    }
    markup = fill_line("23:55:01", fill, "USDT")
    assert plain(markup) == ("23:55:01 fill sell 0.80871 BTC/USDT @ 61,640.12 USDT · fee 19.94 USDT · taker · stop hit")
    assert "[$error]sell[/]" in markup and "[$error]stop hit[/]" in markup
    assert "manual" in plain(fill_line("t", {**fill, "exit": "manual", "side": "buy"}))


def test_the_drawdown_gauge_follows_the_state() -> None:
    assert drawdown_color("ACTIVE", 0.01, 0.10, 0.15) == "$success"
    assert drawdown_color("ACTIVE", 0.06, 0.10, 0.15) == "$warning"
    assert drawdown_color("REDUCING", 0.0997, 0.10, 0.15) == "$warning"  # was green at 9.97 % in REDUCING
    assert drawdown_color("REDUCING", 0.02, 0.10, 0.15) == "$warning"  # still reducing while it recovers
    assert drawdown_color("HALTED", 0.0, 0.10, 0.15) == "$error"


async def test_screenshot_goes_to_the_state_dir_without_downloads(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tests.ui.test_snapshots import FrozenSource, StillApp

    home = tmp_path / "home"  # no Downloads folder in it
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DOWNLOAD_DIR", str(home / "Downloads"))
    source = FrozenSource()
    source.engine = type("E", (), {"state_dir": tmp_path / "state"})()  # type: ignore[attr-defined]
    app = StillApp(source)  # type: ignore[arg-type]
    async with app.run_test(size=(120, 35)) as pilot:
        app.deliver_screenshot("shot.svg")
        for _ in range(40):
            await pilot.pause(0.05)
            if (tmp_path / "state" / "shot.svg").exists():
                break
    assert (tmp_path / "state" / "shot.svg").read_text().startswith("<svg")
    assert not (home / "Downloads").exists()
