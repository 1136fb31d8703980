"""Config: defaults, the shipped file, env overrides, and one clear message naming the key for each mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot4.core.config import ConfigError
from bot4.runtime.config import AppConfig, load_config

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "bot4.toml"
    p.write_text(text)
    return p


def test_shipped_file_documents_exactly_the_defaults() -> None:
    cfg = load_config(ROOT / "configs" / "bot4.toml", env={})
    default = AppConfig()
    assert (cfg.core, cfg.paper, cfg.replay, cfg.runtime) == (default.core, default.paper, default.replay, default.runtime)


def test_missing_keys_take_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "[risk]\nmax_drawdown_frac = 0.12\n"), env={})
    assert cfg.core.risk.max_drawdown_frac == 0.12
    assert cfg.core.risk.drawdown_warn_frac == 0.10
    assert cfg.paper == AppConfig().paper


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[risk]\nmax_drawdown_frac = "high"\n', "risk.max_drawdown_frac = 'high': must be a number"),
        ("[risk]\nmax_drawdown_frac = 1.5\n", "risk.max_drawdown_frac = 1.5: must be between"),
        ("[risk]\nmax_risk_per_trade_frac = 0.05\n", "risk.max_risk_per_trade_frac = 0.05: must be between 0.0 (exclusive) and 0.02"),
        ("[risk]\nmax_correlation = 0.9\n", "risk.max_correlation = 0.9"),
        ("[risk]\nmax_drawdown = 0.1\n", "risk.max_drawdown: unknown key"),
        ("[riks]\nx = 1\n", "riks: unknown section"),
        ("[paper]\nleverage = true\n", "paper.leverage = True: must be a number"),
        ("[runtime]\napi_addr = \"localhost\"\n", "runtime.api_addr = 'localhost': must be HOST:PORT"),
        ("[[strategies]]\nkind = \"magic\"\n", "strategy.kind = 'magic'"),
        ("[[instruments]]\nsymbol = \"BTCUSDT\"\n", "BASE/QUOTE"),
        ("[core]\nmd_ring_capacity = 1000\n", "md_ring_capacity = 1000: must be a power of two"),
        ("[risk\n", "is not valid TOML"),
    ],
)
def test_mistakes_name_the_key_and_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_environment_overrides_and_their_mistakes() -> None:
    cfg = load_config(None, env={"BOT4_RISK__MAX_DRAWDOWN_FRAC": "0.12", "BOT4_REPLAY__SPEED": "2", "HOME": "/x"})
    assert cfg.core.risk.max_drawdown_frac == 0.12 and cfg.replay.speed == 2.0
    with pytest.raises(ConfigError, match="risk.max_drawdown_frac = 0.9"):
        load_config(None, env={"BOT4_RISK__MAX_DRAWDOWN_FRAC": "0.9"})


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", env={})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe[risk]\n", "is not UTF-8 text"),
        (b"instruments = 5\n", "instruments = 5: must be an array of tables"),
        (b"strategies = [1, 2]\n", r"strategies = \[1, 2\]: must be an array of tables"),
        (b"core = 5\n", "core = 5: must be a table"),
        (b"risk = 'high'\n", "risk = 'high': must be a table"),
    ],
)
def test_files_that_are_not_a_config_are_one_clear_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bot4.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        load_config(path, env={})


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path, env={})


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("BOT4_RISKK__MAX_DRAWDOWN_FRAC", "unknown section 'riskk'"),
        ("BOT4_RISK_MAX_DRAWDOWN_FRAC", "did you mean BOT4_RISK__MAX_DRAWDOWN_FRAC"),
        ("BOT4_RISK__MAX_DRAWDOWN", "risk.max_drawdown: unknown key"),
    ],
)
def test_misspelled_environment_overrides_are_refused(name: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, env={name: "0.1"})


def test_secrets_in_the_environment_are_not_overrides() -> None:
    load_config(None, env={"BOT4_API_TOKEN": "x" * 32, "BOT4_BINANCE_SECRET": "s"})
