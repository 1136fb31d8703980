"""bot4's markup subset read fast: the plain text and spans of one line, as Textual's own parser gives them.

The views (``bot4.ui.render``) write lines with a few tags (bold and the like, theme colours); the panes and the banner
draw each changed line through :func:`parse_line` (Textual's general parser costs ~0.2 ms a line), and the views
measure a line's width on screen with it. Anything outside the subset goes to Textual's parser.
"""

from __future__ import annotations

import re

from textual.content import Content, Span

TAG = re.compile(r"\[([^\[\]]*)\]")
KNOWN_TAG = re.compile(r"(?:b|bold|i|italic|u|underline|dim|reverse)|\$[a-z][a-z0-9-]*(?: \d{1,3}%)?")


def parse_line(markup: str) -> tuple[str, list[Span]]:
    """The plain text and spans of one line of markup; what ``Content.from_markup`` gives, for bot4's subset fast."""
    if "\\" in markup:
        content = Content.from_markup(markup)
        return content.plain, list(content.spans)
    plain: list[str] = []
    found: list[tuple[int, int, Span]] = []  # (start, opening order, span): sorted, Textual's order
    open_tags: list[tuple[str, int, int]] = []  # (style, start, opening order), innermost last
    at = 0  # length of the plain text so far
    pos = 0
    opened = 0
    for m in TAG.finditer(markup):
        text = markup[pos : m.start()]
        plain.append(text)
        at += len(text)
        pos = m.end()
        tag = m.group(1)
        if tag == "/" and open_tags:
            style, start, order = open_tags.pop()
        elif tag.startswith("/") and any(t == tag[1:] for t, _, _ in open_tags):
            k = max(i for i, (t, _, _) in enumerate(open_tags) if t == tag[1:])
            style, start, order = open_tags.pop(k)
        elif KNOWN_TAG.fullmatch(tag):
            open_tags.append((tag, at, opened))
            opened += 1
            continue
        else:  # not bot4's subset: Textual's own parser decides what it is
            content = Content.from_markup(markup)
            return content.plain, list(content.spans)
        if at > start:
            found.append((start, order, Span(start, at, style)))
    plain.append(markup[pos:])
    at += len(plain[-1])
    found.extend((start, order, Span(start, at, style)) for style, start, order in open_tags if at > start)
    found.sort(key=lambda f: (f[0], f[1]))
    spans = [span for _, _, span in found]
    return "".join(plain), spans
