"""The main screen's panes: each a bordered widget that shows one pure function of the latest view.

A pane keeps its text line by line and repaints only the lines that changed: a new view that moves one figure
re-renders and repaints that one line (a Static re-parses, re-wraps and repaints its whole text, and the screen's
compositor then re-renders every widget across the dirty area). At 10 Hz that is most of the workstation's CPU.

A changed line is drawn without Textual's general text pipeline (markup tokenizer, wrapping, per-span style
resolution: about 0.6 ms a line, warm): the pane reads the few tags bot4's views use itself and takes each
combination of tags' style from Textual once, so the colours are Textual's own. Anything else in a line (a backslash,
a tag it does not know) goes through Textual's markup parser, then the same drawing. Long lines are cut at the border.
The changed row on screen is then the cached row's border and padding around the new text (``render_lines``), not
the styles cache's whole line drawing again. The styles cache's rows, marks and width are Textual's private state,
reached through ``bot4.ui.textual_private`` (which falls back to Textual's way when one is gone).
"""

from __future__ import annotations

from collections.abc import Callable

from rich.segment import Segment
from rich.style import Style as RichStyle
from textual.content import Content, Span
from textual.geometry import Region
from textual.strip import Strip
from textual.visual import Visual
from textual.widget import Widget

from bot4.ui import render
from bot4.ui.markup import parse_line
from bot4.ui.source import View
from bot4.ui.textual_private import cached_rows, dirty_lines, styles_cache_width
from bot4.ui.widgets.kept import KeepLines


class Pane(KeepLines, Widget):  # type: ignore[misc]
    """A bordered pane showing ``render_fn(view)`` (markup, one line per row; long lines are cut at the border)."""

    DEFAULT_CSS = """
    Pane { border: round $primary 40%; padding: 0 1; height: 1fr; }
    """
    ALLOW_MAXIMIZE = True  # the m key fills the screen with one pane (the banner and positions stay)

    def __init__(
        self,
        title: str,
        render_fn: Callable[..., str],
        every: int = 1,
        *,
        id: str,  # noqa: A002
        sized: bool = False,
        fit_width: bool = False,
    ) -> None:
        super().__init__(id=id)
        self.title = title
        self.render_fn = render_fn
        self.every = every  # the app refreshes at 10 Hz; slow-moving panes redraw less often
        self.sized = sized  # render_fn(view, rows=...) fits its text to the pane's height (the market chart)
        self.fit_width = fit_width  # render_fn(view, cols=...) lays its text out for the pane's width
        self._markup = ""
        self._lines: list[str] = []
        self._strips: dict[int, Strip] = {}
        self._strips_for: tuple[int, str] = (-1, "")  # (width, theme) the cached strips were rendered for
        self._styles: dict[tuple[str, ...], RichStyle] = {}  # combination of tags -> its style, from Textual

    def on_mount(self) -> None:
        self.border_title = self.title

    def show_view(self, view: View) -> None:
        """Display ``render_fn(view)`` (given the rows and columns the pane has, when it asks for them)."""
        size: dict[str, int] = {}
        if self.sized:
            size["rows"] = self.size.height
        if self.fit_width:
            size["cols"] = self.size.width
        self.show(self.render_fn(view, **size))

    def show(self, markup: str) -> None:
        """Display ``markup``; only the lines that differ from what is shown are re-rendered and repainted."""
        if markup == self._markup:
            return
        old, new = self._lines, markup.split("\n")
        self._markup, self._lines = markup, new
        width, height = self.size
        changed = []
        for y in range(max(len(old), len(new))):
            if y >= len(old) or y >= len(new) or old[y] != new[y]:
                self._strips.pop(y, None)
                if y < height:  # lines below the pane's bottom are drawn when it grows (a resize redraws all)
                    changed.append(Region(0, y, width, 1))
        if changed:
            self.refresh(*changed)  # one call: each works out the widget's geometry and wakes its message queue

    def render(self) -> Content:
        """The whole text (what tests and exports read; the screen draws line by line through render_line)."""
        return Content.from_markup(self._markup)

    def render_lines(self, crop: Region) -> list[Strip]:
        """The compositor's question: the pane's rows, border included.

        Textual draws a changed content row by asking ``render_line`` for it and then adding the padding and border
        (with the widget's colours, tint and opacity worked out again); with a plain frame (no tint, opacity or
        hatch) the border and padding of a content row do not change when its text does, so a changed
        row is the cached row's two ends around the new text. Anything else goes Textual's way, and so does a Textual
        whose styles cache is not the one this was written against."""
        strips = self._redraw_rows(crop)
        if strips is None:
            return super().render_lines(crop)
        self._kept = ((crop, self.size, tuple(self.get_line_filters())), strips)
        return strips

    def _redraw_rows(self, crop: Region) -> list[Strip] | None:
        rows, dirty = cached_rows(self), dirty_lines(self)
        width, height = self.outer_size
        styles = self.styles
        if (
            rows is None
            or not dirty
            or styles_cache_width(self) != width
            or len(rows) < height
            or crop.column_span != (0, width)
            or styles.tint.a
            or self.opacity != 1.0
            or styles.text_opacity != 1.0
            or (styles.has_rule("hatch") and styles.hatch != "none")
        ):
            return None
        top, right, _, left = styles.gutter
        content_height = self.size.height
        for y in dirty:
            if not (top <= y < top + content_height and y in rows):
                return None  # a border row, or one never drawn: Textual's way
        for y in list(dirty):
            old = rows[y]
            rows[y] = Strip.join([old.crop(0, left), self.render_line(y - top), old.crop(width - right, width)])
        dirty.clear()
        out = [rows[y] for y in crop.line_range]
        filters = self.get_line_filters()  # applied on the way out, as the styles cache does (each strip keeps its own)
        if filters:
            background = self.background_colors[1]
            for line_filter in filters:
                out = [row.apply_filter(line_filter, background) for row in out]
        return out

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        key = (width, self.app.theme)
        if key != self._strips_for:  # resized or re-themed: every cached line is stale
            self._strips.clear()
            self._styles.clear()
            self._strips_for = key
        strip = self._strips.get(y)
        if strip is None:
            base = self.visual_style.rich_style
            if y < len(self._lines):
                strip = self._draw(self._lines[y], width).crop_extend(0, width, base)
            else:
                strip = Strip.blank(width, base)
            self._strips[y] = strip
        return strip

    def _style(self, tags: tuple[str, ...]) -> RichStyle:
        """The style Textual gives text inside ``tags`` (outermost first) in this pane, asked once per combination."""
        style = self._styles.get(tags)
        if style is None:
            probe = Content(" ", spans=[Span(0, 1, tag) for tag in tags])
            strips = Visual.to_strips(self, probe, 1, 1, self.visual_style, pad=False)
            segments = [seg for seg in strips[0] if seg.text] if strips else []
            style = (segments[0].style or RichStyle()) if segments else self.visual_style.rich_style
            style = style.clear_meta_and_links()
            self._styles[tags] = style
        return style

    def _draw(self, markup: str, width: int) -> Strip:
        """One line of markup as a strip of at most ``width`` cells."""
        plain, spans = parse_line(markup)
        cuts = sorted({0, len(plain), *(sp.start for sp in spans), *(sp.end for sp in spans)})
        segments = []
        for a, b in zip(cuts, cuts[1:], strict=False):
            if a >= b:
                continue
            tags = tuple(sp.style for sp in spans if sp.start <= a and b <= sp.end)
            segments.append(Segment(plain[a:b], self._style(tags)))  # type: ignore[arg-type]
        return Strip(segments).crop(0, width)


def show_fitted(screen: Widget, view: object, fit: tuple[str, ...]) -> None:
    """Show ``view`` in every pane of ``screen``: the panes whose ids are in ``fit`` as tall as their text (laid out for
    their width), the others sharing the rows left (the Trades and Strategy screens)."""
    for pane_id in fit:
        pane = screen.query_one(pane_id, Pane)
        lines = pane.render_fn(view, cols=pane.size.width).count("\n") + 1
        pane.styles.height = lines + pane.styles.gutter.height  # the border, where there is one
    for pane in screen.query(Pane):
        pane.show_view(view)  # type: ignore[arg-type]


def main_panes() -> list[Pane]:
    """The panes of the main screen's grid, in grid order (the events pane is the app's, the sixth)."""
    return [
        Pane("order pipeline", render.pipeline_markup, every=5, id="pipeline"),  # percentiles move once a second
        Pane("risk", render.risk_markup, every=3, id="risk"),
        Pane("circuit breakers", render.breakers_markup, every=5, id="breakers"),
        Pane("market", render.market_markup, every=2, id="market", sized=True, fit_width=True),  # the chart: its size
        Pane("orders · fills · refusals", render.orders_markup, every=3, id="orders", sized=True, fit_width=True),
    ]
