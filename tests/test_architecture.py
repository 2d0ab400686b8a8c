"""The house rules, checked by walking every module's imports (relative ones included).

- core (``cosell``) imports neither the rules (``cosell.plugins``), the connectors (``cosell.connectors``)
  nor contrib (``cosell.contrib``): they plug into it through hooks;
- a rule imports no connector and nothing from contrib; a connector imports no rule and nothing from contrib;
- the core modules import one another without a cycle (imports under ``if TYPE_CHECKING:`` are for the
  type checker only and do not count; imports inside functions do);
- no core module names a CRM or the sandbox in its code (comments and docstrings may);
- CSV text is written through ``cosell.textsafe.CsvWriter``, which quotes a carriage return on every
  Python, never by ``csv.writer`` itself.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "cosell": ROOT / "core",
    "cosell.connectors": ROOT / "connectors",
    "cosell.plugins": ROOT / "plugins",
    "cosell.contrib": ROOT / "contrib",
}
OUTSIDE_CORE = ("cosell.plugins", "cosell.connectors", "cosell.contrib")


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    type_checking: bool


def _module_files() -> dict[str, Path]:
    """Every module of the cosell namespace by name (``cosell.x.y``): the example plugin packages under
    contrib/ (folders with a dash) are distributions of their own and are not walked."""
    modules: dict[str, Path] = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if any("-" in part or part.startswith(".") for part in parts):
                continue
            if package == "cosell" and parts[0] in ("connectors", "plugins", "contrib"):
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join((package, *parts))] = path
    return modules


MODULES = _module_files()


def _part(module: str) -> str:
    for package in OUTSIDE_CORE:
        if module == package or module.startswith(package + "."):
            return package
    return "cosell"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, type_checking: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for statement in child.body:
                yield statement, True
                yield from _walk(statement, True)
            for statement in child.orelse:
                yield statement, type_checking
                yield from _walk(statement, type_checking)
            continue
        yield child, type_checking
        yield from _walk(child, type_checking)


def imports_of(module: str, path: Path) -> list[Import]:
    """The cosell modules ``module`` imports, relative imports resolved; ``from pkg import name`` counts
    as importing ``pkg.name`` when that is a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: list[Import] = []
    for node, type_checking in _walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names
            ]
        for target in targets:
            if target == "cosell" or target.startswith("cosell."):
                found.append(Import(module, target, node.lineno, type_checking))  # type: ignore[attr-defined]
    return found


IMPORTS = [imp for module, path in MODULES.items() for imp in imports_of(module, path)]


def _violations(importer_part: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{MODULES[i.importer].relative_to(ROOT)}:{i.line} imports {i.imported}"
        for i in IMPORTS
        if _part(i.importer) == importer_part and _part(i.imported) in forbidden
    ]


def test_the_walk_sees_every_part_and_resolves_relative_imports():
    assert {
        "cosell.engine",
        "cosell.plugins.commission",
        "cosell.connectors.files",
        "cosell.contrib.sandbox",
    } <= set(MODULES)
    engine = {i.imported for i in IMPORTS if i.importer == "cosell.engine"}
    assert "cosell.ledger" in engine  # `from .ledger import ...`
    files = {i.imported for i in IMPORTS if i.importer == "cosell.connectors.files"}
    assert "cosell.connectors.files.reader" in files  # `from .reader import ...` in a package's __init__
    checked = {i.imported for i in IMPORTS if i.importer == "cosell.cli"}
    assert "cosell.statements" in checked or "cosell.statements" not in MODULES  # `from . import statements`


def test_core_imports_no_plugin_connector_or_contrib_module():
    assert _violations("cosell", OUTSIDE_CORE) == []


def test_rules_import_no_connector_or_contrib_and_connectors_no_rule_or_contrib():
    assert _violations("cosell.plugins", ("cosell.connectors", "cosell.contrib")) == []
    assert _violations("cosell.connectors", ("cosell.plugins", "cosell.contrib")) == []


def _core_cycles() -> list[list[str]]:
    """The import cycles among core modules (Tarjan's strongly connected components of two or more, or
    a module importing itself)."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES if _part(m) == "cosell"}
    for i in IMPORTS:
        if i.importer in graph and i.imported in graph and not i.type_checking:
            # `import cosell` from inside the package names its __init__, which imports nothing of note
            graph[i.importer].add(i.imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_core_modules_import_one_another_without_any_cycle():
    assert _core_cycles() == []


def test_an_import_inside_a_function_counts_and_one_for_the_type_checker_does_not(tmp_path):
    inside = imports_of("cosell.engine", _write(tmp_path, "def f():\n    from .ledger import Ledger\n"))
    assert [(i.imported, i.type_checking) for i in inside] == [("cosell.ledger", False)]
    typing_only = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .ledger import Ledger\n"
    checked = imports_of("cosell.engine", _write(tmp_path, typing_only))
    assert [(i.imported, i.type_checking) for i in checked] == [("cosell.ledger", True)]


def _write(folder: Path, source: str) -> Path:
    path = folder / "module.py"
    path.write_text(source, encoding="utf-8")
    return path


CRM_OR_SANDBOX = ("salesforce", "hubspot", "sandbox")


def _documentation(tree: ast.AST) -> set[int]:
    """ids of the string constants that are documentation: a string standing alone as a statement
    (docstrings, and the attribute docstrings under assignments)."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def names_in_code(path: Path, words: tuple[str, ...]) -> list[str]:
    """Where the code of a module (identifiers and strings; not comments, not docstrings) names a word."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    docs = _documentation(tree)
    found = []
    for node in ast.walk(tree):
        texts: list[str] = []
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            texts = [node.value]
        elif isinstance(node, ast.Name):
            texts = [node.id]
        elif isinstance(node, ast.Attribute):
            texts = [node.attr]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            texts = [node.name]
        elif isinstance(node, ast.arg):
            texts = [node.arg]
        elif isinstance(node, ast.alias):
            texts = [node.name, node.asname or ""]
        for text in texts:
            for word in words:
                if word in text.lower():
                    found.append(f"{_shown(path)}:{getattr(node, 'lineno', '?')} names {word}: {text!r}")
    return found


def test_no_core_module_names_a_crm_or_the_sandbox_in_its_code():
    core = [path for module, path in MODULES.items() if _part(module) == "cosell"]
    assert [hit for path in core for hit in names_in_code(path, CRM_OR_SANDBOX)] == []


def test_the_name_check_reads_code_and_skips_comments_and_docstrings(tmp_path):
    source = (
        '"""Talks to HubSpot."""\n'
        "# Salesforce, in a comment\n"
        "LIMIT = 200\n"
        '"""200 for Salesforce collections."""\n'
        'hint = "pip install cosell[salesforce]"\n'
        "def sandbox_env(): ...\n"
    )
    path = tmp_path / "module.py"
    path.write_text(source, encoding="utf-8")
    hits = names_in_code(path, CRM_OR_SANDBOX)
    assert sorted(hit.split(" names ")[1].split(":")[0] for hit in hits) == ["salesforce", "sandbox"]


BUILT_IN_KINDS = ("signing_bonus", "baseline", "commission", "accelerator", "milestone", "clawback", "mdf", "cap",
                  "budget")  # fmt: skip


FIELD_NAMES_NOT_KINDS = {
    # The program report's JSON must name two of its figures `mdf` and `budget` (its public format); they
    # name figures, never a kind: which lines count where comes from the recorded LineKind flags.
    ("core/report/model.py", 'MDF = "mdf"'),
    ("core/report/model.py", 'BUDGET = "budget"'),
}


def test_no_built_in_kind_name_is_spelled_under_core():
    # Core asks a line kind's declared properties (LineKind) instead of comparing names: a rule's kind
    # is spelled only by the plugin that declares it.
    core = ROOT / "core"
    names = "|".join(BUILT_IN_KINDS)
    pattern = re.compile(rf"""(["'])({names})\1""")
    found = [
        f"{path.relative_to(ROOT)}:{number}: {text.strip()}"
        for path in sorted(core.rglob("*.py"))
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(text) and (str(path.relative_to(ROOT)), text.strip()) not in FIELD_NAMES_NOT_KINDS
    ]
    assert found == []


CSV_WRITER_ALLOWED = {
    "cosell.textsafe",  # CsvWriter itself
    "cosell.contrib.sandbox.salesforce",  # query results quote every cell, as Salesforce's do
}


def _csv_writer_calls() -> list[str]:
    found = []
    for module, path in MODULES.items():
        if module in CSV_WRITER_ALLOWED:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("writer", "DictWriter")
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "csv"
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_csv_text_is_written_through_the_writer_that_quotes_a_carriage_return():
    assert _csv_writer_calls() == []
