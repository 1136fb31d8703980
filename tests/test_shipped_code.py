"""Shipped code stays real (no placeholders) and the core stays free of the outside world."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "bot4"
MARKERS = ("TO" + "DO", "FIX" + "ME", "X" * 3)
OUTSIDE_WORLD = ("textual", "ccxt", "aiohttp", "prometheus_client", "orjson", "rich")


def _sources() -> list[Path]:
    files = sorted(PACKAGE.rglob("*.py"))
    assert files, "no sources found under bot4/"
    return files


def _is_placeholder(body: list[ast.stmt]) -> bool:
    stmts = list(body)
    if stmts and isinstance(stmts[0], ast.Expr) and isinstance(stmts[0].value, ast.Constant):
        if isinstance(stmts[0].value.value, str):
            stmts = stmts[1:]  # a docstring alone is fine only for a Protocol; treat as empty
    if not stmts:
        return True
    return all(
        isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and s.value.value is Ellipsis)
        for s in stmts
    )


def test_no_placeholders_in_shipped_code() -> None:
    problems: list[str] = []
    for path in _sources():
        text = path.read_text()
        for lineno, line in enumerate(text.splitlines(), 1):
            if any(marker in line for marker in MARKERS):
                problems.append(f"{path}:{lineno}: marker: {line.strip()}")
            if "NotImplementedError" in line or "raise NotImplemented" in line:
                problems.append(f"{path}:{lineno}: not implemented: {line.strip()}")
        tree = ast.parse(text)
        interfaces = _interface_functions(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _is_placeholder(node.body):
                if node not in interfaces:
                    problems.append(f"{path}:{node.lineno}: placeholder body in {node.name}()")
    assert problems == []


def _interface_functions(tree: ast.Module) -> set[ast.AST]:
    """Methods that only declare an interface: those of a ``typing.Protocol`` class, and abstract methods."""
    out: set[ast.AST] = set()
    for cls in ast.walk(tree):
        if not isinstance(cls, ast.ClassDef):
            continue
        is_protocol = any(isinstance(b, ast.Name) and b.id == "Protocol" for b in cls.bases)
        for fn in cls.body:
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            abstract = any(isinstance(d, ast.Name) and d.id == "abstractmethod" for d in fn.decorator_list)
            if is_protocol or abstract:
                out.add(fn)
    return out


def test_interfaces_are_told_apart_from_placeholders() -> None:
    src = (
        "class P(Protocol):\n    def f(self) -> int:\n        \"\"\"doc\"\"\"\n"
        "class A(ABC):\n    @abstractmethod\n    def g(self) -> None:\n        ...\n"
        "class C:\n    def h(self) -> None:\n        \"\"\"doc\"\"\"\n"
    )
    tree = ast.parse(src)
    names = {fn.name for fn in _interface_functions(tree)}  # type: ignore[attr-defined]
    assert names == {"f", "g"}


def test_placeholder_detector_detects() -> None:
    for src in ("def f():\n    pass\n", "def f():\n    ...\n", 'def f():\n    """doc"""\n    pass\n'):
        fn = ast.parse(src).body[0]
        assert isinstance(fn, ast.FunctionDef) and _is_placeholder(fn.body)
    real = ast.parse("def f():\n    return 1\n").body[0]
    assert isinstance(real, ast.FunctionDef) and not _is_placeholder(real.body)


def test_core_imports_only_numpy_numba_and_stdlib() -> None:
    for path in sorted((PACKAGE / "core").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top not in OUTSIDE_WORLD, f"{path} imports {name}"
                if top == "bot4":
                    assert name.startswith("bot4.core"), f"{path} imports {name} from outside bot4.core"


def test_importing_core_loads_no_outside_world_package() -> None:
    code = (
        "import sys, pkgutil, importlib, bot4.core as c\n"
        "for m in pkgutil.iter_modules(c.__path__): importlib.import_module('bot4.core.' + m.name)\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {OUTSIDE_WORLD!r}]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
