"""Rules for the test suite itself."""

from __future__ import annotations

import ast

from helpers import ROOT


def test_no_test_imports_conftest_or_edits_sys_path() -> None:
    """conftest.py holds fixtures; shared helpers live in importable modules (helpers.py,
    fakes.py, ingest_world.py, ...), found through pytest's rootdir import mode."""
    offenders = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "conftest" or \
                    isinstance(node, ast.Import) and any(a.name == "conftest" for a in node.names):
                offenders.append(f"{path.name}:{node.lineno} imports conftest")
            if isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name) \
                    and node.value.id == "sys":
                offenders.append(f"{path.name}:{node.lineno} uses sys.path")
    assert not offenders, offenders
