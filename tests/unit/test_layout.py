"""The layout documents itself: README's tree names every package of connector/ and only
folders that exist, and every package's docstring says its role."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "connector"


def readme_tree() -> list[str]:
    """The folders of README's Layout tree, as paths from the repository root."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Layout\n", 1)[1].split("```\n", 2)[1]
    stack: list[str] = []
    folders = []
    for line in block.splitlines():
        match = re.match(r"( *)(\S+)", line)
        if match is None:
            continue
        depth, name = len(match.group(1)) // 2, match.group(2)
        stack[depth:] = [name.rstrip("/")]
        if name.endswith("/"):
            folders.append("/".join(stack))
    return folders


def test_every_folder_in_the_tree_exists() -> None:
    folders = readme_tree()
    assert "connector/core/policy" in folders
    assert [f for f in folders if not (ROOT / f).is_dir()] == []


def test_the_tree_names_each_folder_once() -> None:
    folders = readme_tree()
    assert sorted({f for f in folders if folders.count(f) > 1}) == []


def test_the_tree_names_every_package_of_connector() -> None:
    folders = set(readme_tree())
    packages = [p.parent for p in PACKAGE.glob("*/__init__.py")]
    packages += [p.parent for p in (PACKAGE / "core").glob("*/__init__.py")]
    unnamed = [p.relative_to(ROOT).as_posix() for p in packages]
    assert len(unnamed) >= 11
    assert [p for p in unnamed if p not in folders] == []


def test_every_package_has_a_docstring() -> None:
    missing = []
    for init in sorted(PACKAGE.rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        if not doc or len(doc.split()) < 5:
            missing.append(init.parent.relative_to(ROOT).as_posix())
    assert missing == []
