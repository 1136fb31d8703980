"""The panes' text, from views: the market chart and its fill marks, two-column layout."""

from __future__ import annotations

from bot4.ui.render import TAG, price_chart, side_by_side, visible_width


def plain(line: str) -> str:
    return TAG.sub("", line)


def test_chart_rises_with_the_price_and_marks_fills_where_they_happened() -> None:
    prices = [(100.0 + 0.25 * i, 50.0 + i) for i in range(40)]  # a steady climb from 50 to 89, 100.0 to 109.75 s
    prices.append((110.1, 500.0))  # the second under way: drawn once it is over
    fills = [
        {"ts": 100.0 + 0.25 * 5, "price": 55.0, "side": "buy"},
        {"ts": 100.0 + 0.25 * 30, "price": 80.0, "side": "sell"},
        {"ts": 50.0, "price": 70.0, "side": "buy"},  # before the chart's first sample: not drawn
    ]
    rows = price_chart(prices, fills, rows=8, cols=40)
    assert len(rows) == 8
    text = [plain(r) for r in rows]
    grid = [t[:40] for t in text]
    assert "89.00" in text[0] and "50.00" in text[-1]  # range on the right, top and bottom
    heights = [sum(1 for y in range(8) if grid[y][c] not in " ▲▼") for c in range(40)]
    assert heights == sorted(heights) and heights[0] < heights[-1]  # a climb draws a rising area
    marks = [(y, c, ch) for y in range(8) for c, ch in enumerate(grid[y]) if ch in "▲▼"]
    assert sorted((c, ch) for _, c, ch in marks) == [(5, "▲"), (30, "▼")]
    by_col = {c: y for y, c, _ in marks}
    assert by_col[5] > by_col[30]  # the lower price sits lower (rows count from the top)
    assert all("[$success]▲" in r or "▲" not in r for r in rows) and all("[$error]▼" in r or "▼" not in r for r in rows)


def test_chart_with_few_samples_grows_from_the_right_and_says_when_empty() -> None:
    rows = price_chart([(0.0, 10.0), (0.25, 11.0), (1.0, 12.0)], [], rows=4, cols=20)
    assert all(plain(r)[:18].strip() == "" for r in rows)  # two samples: the two rightmost columns
    assert plain(price_chart([], [], rows=4, cols=20)[0]).startswith("no market data yet")


def test_side_by_side_aligns_the_second_column_whatever_the_markup() -> None:
    left = ["[b]open orders[/b] (1)", "[$error]sell[/] ETH/USDT", "plain"]
    right = ["[b]rejections[/b]", "[$warning]var[/] buy BTC/USDT"]
    lines = side_by_side(left, right, 30)
    assert [plain(line).find(plain(r)) for line, r in zip(lines, right, strict=False)] == [30, 30]
    assert lines[2] == "plain" and visible_width("[$warning]var[/] x") == 5
