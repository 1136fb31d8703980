"""Themes live in ``bot4/themes/*.toml`` (the only place colours are written); this module loads them."""

from __future__ import annotations

import tomllib
from importlib import resources

from textual.app import App
from textual.theme import Theme

THEME_NAMES = ("bot4-dark", "bot4-light", "bot4-contrast")


def load_themes() -> list[Theme]:
    themes = []
    folder = resources.files("bot4") / "themes"
    for name in THEME_NAMES:
        data = tomllib.loads((folder / f"{name}.toml").read_text())
        themes.append(Theme(**data))
    return themes


def use_themes(app: App[object], theme: str) -> None:
    """Register bot4's themes with ``app`` and switch it to ``theme`` (every bot4 app starts this way)."""
    for t in load_themes():
        app.register_theme(t)
    app.theme = theme
