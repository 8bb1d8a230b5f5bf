"""
The tests' own layout: shared helpers live in ``tests/helpers/`` or ``tests/conftest.py``,
never in a test module that another one imports from.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _is_test_module(name: str) -> bool:
    return name.split(".")[-1].startswith("test_")


def imports_of_test_modules(source: str) -> list[str]:
    """
    The test modules (``test_*``) that ``source`` imports, however spelled.

    :param source: A Python file's text.
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if _is_test_module(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if _is_test_module(module):
                found.append(module)
            elif module.rstrip(".") in {"tests", ""}:  # from tests import test_x / from . import test_x
                found += [f"{module}.{alias.name}" for alias in node.names if _is_test_module(alias.name)]
    return found


def test_the_check_sees_every_spelling() -> None:
    source = (
        "from tests.test_hook import helper\n"
        "import tests.test_trigger\n"
        "from tests import test_sensor\n"
        "from .test_durability import thing\n"
        "from tests.helpers.calls import place\n"
        "from tests.conftest import CONN_ID\n"
    )
    assert imports_of_test_modules(source) == [
        "tests.test_hook",
        "tests.test_trigger",
        "tests.test_sensor",
        ".test_durability",
    ]


def test_no_test_module_or_helper_imports_a_test_module() -> None:
    files = sorted(TESTS.rglob("*.py"))
    assert len(files) > 40, "the check should cover the whole test suite"
    offenders = {
        str(path.relative_to(TESTS)): found
        for path in files
        if (found := imports_of_test_modules(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}, "move shared helpers to tests/helpers/ or tests/conftest.py"
