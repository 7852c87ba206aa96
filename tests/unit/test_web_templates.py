"""The pages can run under a strict Content-Security-Policy: no inline script, style or
event handler in any template (api.web.headers allows only the origin's own files)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.web import TEMPLATES

INLINE = [
    re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),  # a script without src
    re.compile(r"<style\b", re.I),
    re.compile(r"\sstyle\s*=", re.I),
    re.compile(r"\son[a-z]+\s*=", re.I),  # onclick=, onload=, ...
    re.compile(r"javascript:", re.I),
]


@pytest.mark.parametrize("template", sorted(TEMPLATES.glob("*.html")), ids=lambda p: p.name)
def test_no_inline_script_or_style(template: Path) -> None:
    text = template.read_text()
    found = [m.group(0) for pattern in INLINE for m in pattern.finditer(text)]
    assert found == [], f"{template.name}: move {found} to a static file"
