"""The design lives in the repository, in docs/architecture.md.

Code and READMEs cite its numbered invariants; these tests keep every citation pointing
at an invariant that is defined there, and keep the documents' relative links working,
so that nobody who clones the repository follows a dead link.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
CITING_TREES = ("schemas", "gateway", "streams", "api", "infra", "tests")
SKIPPED_PARTS = {"__pycache__", "node_modules", "artifacts"}

CITATION = re.compile(r"\binvariants?\s+(\d+)", re.IGNORECASE)
NUMBERED_ITEM = re.compile(r"^(\d+)\.\s")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
OUTSIDE_DESIGN = re.compile(r"\.\./shared/|DESIGN\.md")


def _sources() -> Iterator[Path]:
    """Every Python and Markdown file that may cite the design."""
    yield ROOT / "README.md"
    for tree in CITING_TREES:
        for pattern in ("*.py", "*.md"):
            for path in sorted((ROOT / tree).rglob(pattern)):
                if not SKIPPED_PARTS.intersection(path.relative_to(ROOT).parts):
                    yield path


def _markdown_files() -> list[Path]:
    return [ARCHITECTURE, *(p for p in _sources() if p.suffix == ".md")]


def _section(text: str, title: str) -> list[str]:
    """The lines under the level-2 heading ``title`` up to the next level-2 heading."""
    lines = text.splitlines()
    start = lines.index(f"## {title}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start:end]


def _defined_invariants() -> list[int]:
    section = _section(ARCHITECTURE.read_text(encoding="utf-8"), "Invariants")
    return [int(m.group(1)) for line in section if (m := NUMBERED_ITEM.match(line))]


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(markdown: Path) -> set[str]:
    text = markdown.read_text(encoding="utf-8")
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+)$", text, re.MULTILINE)}


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_invariants_are_numbered_one_to_n() -> None:
    defined = _defined_invariants()
    assert defined, "docs/architecture.md has no numbered invariants under '## Invariants'"
    assert defined == list(range(1, len(defined) + 1))


def test_every_cited_invariant_is_defined_and_the_citing_file_points_at_the_design() -> None:
    defined = set(_defined_invariants())
    undefined: list[str] = []
    unpointed: list[str] = []
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        cited = [
            (text.count("\n", 0, m.start()) + 1, int(m.group(1))) for m in CITATION.finditer(text)
        ]
        undefined += [f"{_rel(path)}:{line}: {n}" for line, n in cited if n not in defined]
        if cited and "architecture.md" not in text:
            unpointed.append(_rel(path))
    assert not undefined, f"invariants cited but not defined in docs/architecture.md: {undefined}"
    assert not unpointed, (
        f"files citing invariants without pointing at docs/architecture.md: {unpointed}"
    )


def test_nothing_refers_to_a_design_outside_the_repository() -> None:
    found: set[str] = set()
    for path in _sources():
        if path == Path(__file__).resolve():
            continue
        text = path.read_text(encoding="utf-8")
        found.update(
            f"{_rel(path)}:{text.count(chr(10), 0, m.start()) + 1}"
            for m in OUTSIDE_DESIGN.finditer(text)
        )
    assert not found, f"references to a design file outside the repository: {found}"


def _leads_somewhere(markdown: Path, target: str) -> bool:
    """A relative link resolves to a file in the repository (and to a heading there)."""
    file_part, _, anchor = target.partition("#")
    resolved = (markdown.parent / file_part).resolve() if file_part else markdown
    if not resolved.is_relative_to(ROOT) or not resolved.exists():
        return False
    return not anchor or resolved.suffix != ".md" or anchor in _anchors(resolved)


@pytest.mark.parametrize("markdown", _markdown_files(), ids=_rel)
def test_relative_links_resolve(markdown: Path) -> None:
    targets = LINK.findall(markdown.read_text(encoding="utf-8"))
    relative = [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]  # not http: ...
    broken = [t for t in relative if not _leads_somewhere(markdown, t)]
    assert not broken, f"{_rel(markdown)}: links that lead nowhere: {broken}"
