"""A newcomer's path, README → docs/ → ARCHITECTURE.md, resolves inside a clone (issue 34): every
relative link of every Markdown page names a file or folder of the repository, and nothing in the
repository points outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _tracked(*patterns: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", *patterns], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / line for line in out.stdout.splitlines()]


def _pages() -> list[Path]:
    pages = [p for p in _tracked("*.md") if p.exists()]
    assert ROOT / "README.md" in pages
    return pages


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_of_a_page_resolves_inside_the_clone(page: Path) -> None:
    broken = []
    for target in _LINK.findall(page.read_text()):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue  # a web address, or an anchor in the same page
        path = (page.parent / target.split("#", 1)[0]).resolve()
        if not path.exists() or ROOT not in (path, *path.parents):
            broken.append(target)
    assert broken == [], f"{page.relative_to(ROOT)} links to what a clone does not have"


def test_the_newcomers_path_is_linked_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for page in (
        "docs/configuration.md",
        "docs/api.md",
        "docs/ingest.md",
        "docs/operations.md",
        "ARCHITECTURE.md",
    ):
        assert f"]({page})" in readme
    architecture = (ROOT / "ARCHITECTURE.md").read_text()
    assert "](docs/design/" in architecture
    assert "](docs/decisions/" in architecture


def test_nothing_in_the_repository_points_outside_it() -> None:
    outside = re.compile(r"\.\./shared\b|\b(shared/)?(BATU|STYLE|MEASUREMENTS)\.md")
    found = [
        str(p.relative_to(ROOT))
        for p in _tracked("*.py", "*.md", "*.toml", "*.yaml", "*.yml", "*.sh", "scripts/*")
        if p.exists() and p.is_file() and outside.search(p.read_text(errors="replace"))
    ]
    assert found == []


def test_readme_and_architecture_stay_short() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150
    assert len((ROOT / "ARCHITECTURE.md").read_text().splitlines()) <= 250
