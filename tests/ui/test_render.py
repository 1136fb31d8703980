"""The panes' text, from views: the market chart and its fill marks, two-column layout."""

from __future__ import annotations

from bot4.ui.markup import parse_line
from bot4.ui.render import per_second, price_chart, side_by_side, visible_width


def plain(line: str) -> str:
    return parse_line(line)[0]


def test_chart_rises_with_the_price_and_marks_fills_where_they_happened() -> None:
    # four samples a second, a steady climb; each second's column shows its last price: 53, 57, ... 209
    prices = [(100.0 + 0.25 * i, 50.0 + i) for i in range(160)]
    prices.append((140.1, 500.0))  # the second under way: drawn once it is over
    fills = [
        {"ts": 105.3, "price": 71.0, "side": "buy"},
        {"ts": 130.6, "price": 172.0, "side": "sell"},
        {"ts": 50.0, "price": 70.0, "side": "buy"},  # before the chart's first sample: not drawn
    ]
    rows = price_chart(prices, fills, rows=8, cols=40)
    assert len(rows) == 8
    text = [plain(r) for r in rows]
    grid = [t[:40] for t in text]
    assert "209.00" in text[0] and "53.00" in text[-1]  # range on the right, top and bottom
    marks = [(y, c, ch) for y in range(8) for c, ch in enumerate(grid[y]) if ch in "▲▼"]
    plain_cols = [c for c in range(40) if c not in {m[1] for m in marks}]
    heights = [sum(1 for y in range(8) if grid[y][c] != " ") for c in plain_cols]
    assert heights == sorted(heights) and heights[0] < heights[-1]  # a climb draws a rising area
    assert sorted((c, ch) for _, c, ch in marks) == [(5, "▲"), (30, "▼")]
    by_col = {c: y for y, c, _ in marks}
    assert by_col[5] > by_col[30]  # the lower price sits lower (rows count from the top)
    assert all("[$success]▲" in r or "▲" not in r for r in rows) and all("[$error]▼" in r or "▼" not in r for r in rows)


def test_chart_with_few_samples_grows_from_the_right_and_says_when_empty() -> None:
    rows = price_chart([(0.0, 10.0), (1.25, 11.0), (2.0, 12.0)], [], rows=4, cols=20)
    assert all(plain(r)[:18].strip() == "" for r in rows)  # two samples: the two rightmost columns
    assert plain(price_chart([], [], rows=4, cols=20)[0]).startswith("no market data yet")


def test_side_by_side_aligns_the_second_column_whatever_the_markup() -> None:
    left = ["[b]open orders[/b] (1)", "[$error]sell[/] ETH/USDT", "plain"]
    right = ["[b]rejections[/b]", "[$warning]var[/] buy BTC/USDT"]
    lines = side_by_side(left, right, 30)
    assert [plain(line).find(plain(r)) for line, r in zip(lines, right, strict=False)] == [30, 30]
    assert lines[2] == "plain" and visible_width("[$warning]var[/] x") == 5


def test_per_second_keeps_each_finished_seconds_last_price() -> None:
    samples = [(10.1, 1.0), (10.6, 2.0), (11.2, float("nan")), (11.9, 3.0), (13.0, 4.0), (13.4, 5.0)]
    assert per_second(samples) == [(10.6, 2.0), (11.9, 3.0)]  # 12 s had none; 13 s is still under way
