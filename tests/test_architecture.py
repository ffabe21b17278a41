"""The house rules a test can check: the boundaries between the layers (import-linter's
contracts in pyproject.toml, as harlequin runs them), and modules and functions of a size a
reader can hold in mind."""
import ast
import subprocess
import sys

from support import REPO

MODULE_LINES = 450  # "about 400": a module over this holds more than one role
FUNCTION_LINES = 60


def test_the_import_contracts_are_kept():
    r = subprocess.run([sys.executable, str(REPO / "tests" / "lint_imports.py")], cwd=REPO, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout and "Contracts: 7 kept" in r.stdout, r.stdout
    # The graph holds the networks and the catalog under their installed names (not links).
    assert "workbench.models" in (REPO / "pyproject.toml").read_text() and not (REPO / "workbench" / "models").exists()


def _sources():
    """Every source file once."""
    seen = set()
    for folder in ("workbench", "models", "corpora"):
        for path in sorted((REPO / folder).rglob("*.py")):
            if path.resolve() not in seen:
                seen.add(path.resolve())
                yield path


def test_no_module_or_function_is_too_long():
    long_modules, long_functions = [], []
    for path in _sources():
        text = path.read_text()
        if len(text.splitlines()) > MODULE_LINES:
            long_modules.append(f"{path.relative_to(REPO)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > FUNCTION_LINES:
                    long_functions.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}: {length} lines")
    assert len(seen_files := list(_sources())) > 50, seen_files  # the walk found the tree
    assert not long_modules and not long_functions, long_modules + long_functions
