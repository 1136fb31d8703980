"""The command line: version, config mistakes, and the first-start notice."""

from __future__ import annotations

from pathlib import Path

import numba.core.config
import pytest

from bot4.cli import first_start_notice, main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("bot4 ")


def test_a_broken_config_exits_2_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "bot4.toml"
    cfg.write_text("[risk]\nmax_drawdown_frac = 0.5\n")
    assert main(["--headless", "--config", str(cfg), "--run-for", "1"]) == 2
    err = capsys.readouterr().err
    assert "risk.max_drawdown_frac = 0.5" in err and str(cfg) in err


def test_bad_address_flag_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--headless", "--api-addr", "nowhere"]) == 2
    assert "--api-addr = 'nowhere'" in capsys.readouterr().err


def test_first_start_notice_only_when_nothing_is_compiled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(numba.core.config, "CACHE_DIR", str(tmp_path))
    assert "compiling the trading core" in (first_start_notice() or "")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "engine.nbi").write_bytes(b"\\0")
    assert first_start_notice() is None


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0", "soon"])
def test_run_for_must_be_a_finite_positive_number(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--headless", "--run-for", value])
    assert done.value.code == 2
    assert "--run-for" in capsys.readouterr().err

