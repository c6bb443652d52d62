"""The house rules of docs/architecture.md that a machine can check.

The layer contracts themselves are import-linter's (``lint-imports`` in ``make test``); here:
module and function sizes, citations that resolve inside the repository, the import contract
as one table (document and database constraints generated from it), and the one Streamlit
internal the pages rely on.
"""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

from analysis.db import schema
from analysis.domain import contract

ROOT = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80
REASON = "# Long on purpose:"


def _analysis_modules() -> list[Path]:
    return sorted(ROOT.joinpath("analysis").rglob("*.py"))


def test_no_module_of_analysis_is_over_600_lines() -> None:
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in _analysis_modules()}
    assert len(sizes) > 40
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_a_function_over_80_lines_says_why_beside_it() -> None:
    unexplained = []
    for path in _analysis_modules():
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if node.end_lineno - node.lineno + 1 <= MAX_FUNCTION_LINES:
                continue
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if not lines[first - 2].strip().startswith(REASON):
                unexplained.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert unexplained == []


def test_citations_resolve_inside_the_repository() -> None:
    """No citation of a document the repository does not hold; every docs/ link names a file."""
    tracked = subprocess.run(
        ["git", "ls-files", "*.py", "*.md", "*.toml"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked, "not a git checkout"
    texts = {name: (ROOT / name).read_text() for name in tracked if (ROOT / name).exists()}
    assert [name for name, text in texts.items() if re.search(r"SPEC\s*§", text)] == []
    cited = {m for text in texts.values() for m in re.findall(r"\bdocs/[\w./-]+\.md", text)}
    assert cited and sorted(c for c in cited if not (ROOT / c).exists()) == []


def test_docs_contract_md_is_generated_from_the_contract_table() -> None:
    """Regenerate with ``python -m analysis.domain.contract > docs/contract.md``."""
    assert (ROOT / "docs" / "contract.md").read_text() == contract.render_markdown()


def test_every_contract_range_is_a_check_constraint_of_the_stored_table() -> None:
    tables = {"patients": schema.patients, "sessions": schema.sessions, "followups": schema.followups}
    for table, fields in contract.FIELDS.items():
        stored = {
            c.name: str(c.sqltext)
            for c in tables[table].constraints
            if c.__class__.__name__ == "CheckConstraint"
        }
        expected = {
            f"ck_{table}_{f.check_name}": f.check_sql() for f in fields if f.check_sql() is not None
        }
        assert stored == expected, table
    assert schema.CONTRACT_COLUMNS == contract.COLUMNS


def test_the_age_the_importer_accepts_and_the_age_the_table_stores_differ_only_by_the_cap() -> None:
    age = next(f for f in contract.FIELDS["patients"] if f.name == "age")
    assert (age.low, age.high, age.stored_high) == (18, 120, contract.AGE_CAP)
    assert age.check_sql() == "age IS NULL OR (age >= 18 AND age <= 90)"


def test_architecture_md_names_every_package_of_analysis() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    packages = sorted(p.parent.name for p in ROOT.joinpath("analysis").glob("*/__init__.py"))
    assert packages and [p for p in packages if f"analysis/{p}/" not in text] == []


def test_the_streamlit_internal_the_pages_rely_on_still_exists() -> None:
    """``pages.common.ensure_entry_point`` leaves Streamlit's legacy ``pages/`` mode through
    ``PagesManager.uses_pages_directory`` (no public way exists in Streamlit 1.67). When an
    upgrade removes or renames it, this test fails: re-check the workaround (docs/architecture.md,
    "Streamlit and pages/") and the deep-link browser test."""
    import streamlit
    from streamlit.runtime.pages_manager import PagesManager

    pinned = re.search(r"^streamlit\[auth\]==([\w.]+)$", (ROOT / "requirements.txt").read_text(), re.M)
    assert pinned and streamlit.__version__ == pinned.group(1)
    if not hasattr(PagesManager, "uses_pages_directory"):
        pytest.fail(f"Streamlit {streamlit.__version__} has no PagesManager.uses_pages_directory")
    assert isinstance(PagesManager.uses_pages_directory, bool | None)
