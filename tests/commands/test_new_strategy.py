"""``bot4 new-strategy NAME``: a commented template that loads as a strategy, and one clear line for a bad name."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot4.commands import main
from bot4.commands.new_strategy import class_name_for
from bot4.core.config import StrategyConfig
from bot4.core.usercode import load_strategy


def test_writes_a_template_that_loads_and_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new-strategy", "my_cross", "--dir", str(tmp_path / "strategies")]) == 0
    path = tmp_path / "strategies" / "my_cross.py"
    out = capsys.readouterr().out
    assert f"wrote {path}: class MyCross" in out and f'kind = "{path.as_posix()}:MyCross"' in out
    text = path.read_text()
    assert "stop_frac" in text and "enter(out" in text  # an entry with its stop, as the docs say
    loaded = load_strategy(f"{path}:MyCross")
    assert {"on_trade", "on_fill", "on_reject"} <= set(loaded.handlers)
    assert loaded.resolve_params({"fast": 5})["fast"] == 5
    with pytest.raises(ValueError, match="slow must be > fast"):
        StrategyConfig(kind=f"{path}:MyCross", params={"fast": 30})


def test_refuses_to_overwrite_and_bad_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new-strategy", "a", "--dir", str(tmp_path)]) == 0
    assert main(["new-strategy", "a", "--dir", str(tmp_path)]) == 2
    assert "exists (pass --force to overwrite it)" in capsys.readouterr().err
    assert main(["new-strategy", "a", "--dir", str(tmp_path), "--force"]) == 0
    assert main(["new-strategy", "--dir", str(tmp_path), "9 lives"]) == 2
    assert "use letters, digits and _" in capsys.readouterr().err
    assert class_name_for("mean-revert_2") == "MeanRevert2"
