"""The tree reads as the pipeline: store readers never import torch, core never imports Streamlit,
modules stay small, and core/ keeps its shared modules few (issue 15)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "torchvision", "timm", "open_clip")

STORE_READERS = (
    "core.store", "core.analysis.tables", "core.analysis.claims", "core.analysis.evidence", "core.analysis.findings",
    "core.analysis.charts", "core.analysis.report", "core.analysis.temperature", "core.metrics", "core.paper",
    "core.data", "core.data.imagenet_x", "core.data.cue_conflict", "core.imagenet", "core.models",
    "core.models.registry", "views._reads", "views._widgets", "views._models", "views._state",
    "core.task.measures", "core.task.decision", "core.task.charts", "core.task.report", "views._task",
)
"""What the analysis pages, the Findings page and the exports import to read the store and draw it."""


def _imported_after(modules: tuple[str, ...], then: str = "") -> list:
    """The heavy packages in `sys.modules` of a fresh interpreter after importing `modules` (and running `then`)."""
    code = ("import importlib, json, sys\n"
            f"for name in {list(modules)!r}:\n"
            "    importlib.import_module(name)\n"
            f"{then}\n"
            f"print(json.dumps(sorted(m for m in {list(HEAVY)!r} if m in sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_reading_the_store_imports_no_torch_or_timm():
    assert _imported_after(STORE_READERS) == []


def test_the_check_sees_torch_when_it_is_imported():
    """The subprocess check itself can fail: picking a device imports torch."""
    assert "torch" in _imported_after(("core.store", "core.models.load"), "importlib.import_module('core.models.load').best_device()")


def _python_files(folder: str) -> list[Path]:
    return sorted(path for path in (ROOT / folder).rglob("*.py") if "__pycache__" not in path.parts)


@pytest.mark.parametrize("folder", ["core", "views"])
def test_no_module_over_600_lines(folder):
    long = {str(path.relative_to(ROOT)): n for path in _python_files(folder)
            if (n := len(path.read_text().splitlines())) > 600}
    assert long == {}


def test_core_never_imports_streamlit():
    offenders = [str(path.relative_to(ROOT)) for path in _python_files("core")
                 if any(line.strip().startswith(("import streamlit", "from streamlit"))
                        for line in path.read_text().splitlines())]
    assert offenders == []


def test_core_top_level_holds_few_shared_modules():
    shared = sorted(path.name for path in (ROOT / "core").glob("*.py")
                    if path.name not in ("__init__.py", "__main__.py"))
    assert len(shared) <= 8, shared
    assert not (ROOT / "core" / "engine.py").exists()
    for stage in ("models", "data", "run", "store", "analysis", "explain", "metrics"):
        assert (ROOT / "core" / stage / "__init__.py").is_file(), stage


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(folder: str = "core") -> dict[str, set[str]]:
    """{module: modules of `folder` it imports}, from every `import` and `from … import` statement (at the top or
    inside a function: a deferred import closes a circle as surely, it only delays the failure; not those under
    `if TYPE_CHECKING:`, which never run). `from a.b import c`
    counts `a.b.c` when that is a module of the tree, else `a.b`."""
    import ast

    modules = {_module_name(path): path for path in _python_files(folder)}
    graph = {}
    for name, path in modules.items():
        found = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(), str(path))
        typing_only = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If)
                       and "TYPE_CHECKING" in ast.unparse(node.test) for inner in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in typing_only:  # `if TYPE_CHECKING:` imports never run
                continue
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolved against this module's package
                    base = ".".join(filter(None, [package.rsplit(".", node.level - 1)[0] if node.level > 1
                                                  else package, base]))
                found |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                          for alias in node.names}
        graph[name] = {target for target in found if target in modules and target != name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan's algorithm), each sorted: a circle."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def test_the_cycle_finder_finds_a_circle():
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


def test_core_has_no_import_circle():
    """`core.task.fits` ↔ `core.task.run` and `core.run.evaluation` ↔ `core.run.pipeline` were two (issue 33)."""
    assert import_cycles(import_graph("core")) == []


SQL = re.compile(r"\bSELECT\b.*\bFROM\b|\bINSERT\s+(OR\s+\w+\s+)?INTO\b|\bCREATE\s+(TABLE|VIEW|INDEX)\b|\bDELETE\s+FROM\b"
                 r"|\bUPDATE\s+\w+\s+SET\b|\bALTER\s+TABLE\b")
"""SQL statements as the store writes them (upper-case keywords: prose says "select … from" in lower case)."""
SQL_ELSEWHERE = {"core/data/imagenet_x.py": "DuckDB in memory parses the downloaded annotation file; not the store"}


def _sql_lines(path: Path) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{number}" for number, line in enumerate(path.read_text().splitlines(), start=1)
            if SQL.search(line)]


def test_the_sql_check_sees_sql():
    assert SQL.search('f"SELECT run_id, {columns} FROM predictions WHERE run_id IN ({marks})"')
    assert SQL.search("INSERT OR IGNORE INTO task_features SELECT * FROM new_features")
    assert SQL.search("CREATE TABLE IF NOT EXISTS tasks (name TEXT)")
    assert not SQL.search("Select the models from the list, then insert into the form.")


def test_sql_lives_only_in_the_store():
    """All SQL is in core/store (issue 33: the task reads, the Your task page and the prefetch built their own)."""
    files = [path for folder in ("core", "views") for path in _python_files(folder)
             if not path.relative_to(ROOT).as_posix().startswith("core/store/")] + [ROOT / "app.py"]
    found = [line for path in files if path.relative_to(ROOT).as_posix() not in SQL_ELSEWHERE
             for line in _sql_lines(path)]
    assert found == []
    assert all(_sql_lines(ROOT / name) for name in SQL_ELSEWHERE), "an exception no longer needed: remove it"
