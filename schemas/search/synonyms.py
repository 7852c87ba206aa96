"""Skill aliases: "k8s" is "kubernetes", "golang" is "go".

The shipped table (``skill_aliases.txt`` beside this module, versioned) maps each alias to
the canonical spelling postings use; ``JOBSTREAM_SKILL_ALIASES_FILE`` names a file in the
same format merged over it (its entries win). Both sides go through
:func:`schemas.domain.text.skill`, the normalisation postings' skills get, so a table
entry means exactly what a filter value means.

The API canonicalises filter skills (``skills_all: ["K8s"]`` becomes ``kubernetes``, one
cache entry with ``kubernetes``) and matches every spelling of the group at query time
(:meth:`SkillAliases.spellings`), so stored postings never change when the table does.

One table serves a process: :func:`install` it at start (the API does, from the
setting), :func:`active` reads it; until then the shipped table is active.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from schemas.domain import limits as L
from schemas.domain.errors import InvalidPosting
from schemas.domain.text import skill

SHIPPED = Path(__file__).resolve().parent / "skill_aliases.txt"
_VERSION = re.compile(r"^@version\s+(\S+)$")


class AliasFileError(ValueError):
    """A line of an alias file cannot be used; the message starts with ``file:line:``."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One ``alias = canonical`` line and where it was written."""

    alias: str
    canonical: str
    source: str  # "path:line"


@dataclass(frozen=True)
class SkillAliases:
    """A validated alias table: no alias is the canonical of another (so no chains, no
    cycles), every skill is in the domain's normal form."""

    entries: Mapping[str, Entry]
    version: str
    groups: Mapping[str, frozenset[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        groups: dict[str, set[str]] = {}
        for entry in self.entries.values():
            groups.setdefault(entry.canonical, {entry.canonical}).add(entry.alias)
        frozen = {c: frozenset(g) for c, g in groups.items()}
        object.__setattr__(self, "groups", MappingProxyType(frozen))

    def canonical(self, name: str) -> str:
        """The canonical skill for ``name`` (already normalised); ``name`` itself if it is
        no alias."""
        entry = self.entries.get(name)
        return name if entry is None else entry.canonical

    def spellings(self, name: str) -> frozenset[str]:
        """Every spelling of ``name``'s group, itself included: what a stored posting may
        say for the same skill ({"kubernetes", "k8s", "kube"} for "k8s")."""
        canonical = self.canonical(name)
        return self.groups.get(canonical, frozenset({canonical}))

    def expand(self, term: str) -> frozenset[str]:
        """The spellings of a free-text term for lexical matching, normalised like skills;
        empty for a term that cannot be a skill (blank, too long, control characters)."""
        try:
            name = skill(term, "term", L.SKILL_MAX_LEN)
        except InvalidPosting:
            return frozenset()
        return self.spellings(name)

    def vocabulary(self) -> frozenset[str]:
        """Every alias and canonical named by the table."""
        return frozenset(self.entries) | {e.canonical for e in self.entries.values()}


def parse(text: str, source: str) -> tuple[str | None, list[Entry]]:
    """The version (if the file states one) and the entries of an alias file's text;
    raises :class:`AliasFileError` naming ``source:line``."""
    version: str | None = None
    entries: list[Entry] = []
    seen: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        where = f"{source}:{number}"
        line = raw.strip()
        if not line or line.startswith("#"):  # whole-line comments only: "c#" is a skill
            continue
        found = _VERSION.match(line)
        if found:
            if version is not None:
                raise AliasFileError(f"{where}: a second @version line")
            version = found.group(1)
            continue
        if line.count("=") != 1:
            raise AliasFileError(f"{where}: expected 'alias = canonical', got {raw.strip()!r}")
        left, right = (part.strip() for part in line.split("="))
        alias = _normal(left, where, "alias")
        canonical = _normal(right, where, "canonical")
        if alias == canonical:
            raise AliasFileError(f"{where}: {alias!r} is an alias of itself")
        if alias in seen:
            raise AliasFileError(f"{where}: alias {alias!r} is already defined at {seen[alias]}")
        seen[alias] = where
        entries.append(Entry(alias, canonical, where))
    return version, entries


def build(*layers: Iterable[Entry], version: str) -> SkillAliases:
    """Merge layers of entries (a later layer's alias replaces an earlier one) and check
    the result; raises :class:`AliasFileError` naming the offending line."""
    merged: dict[str, Entry] = {}
    layer_of: dict[Entry, int] = {}
    for number, layer in enumerate(layers):
        for entry in layer:
            merged[entry.alias] = entry
            layer_of[entry] = number
    targets: dict[str, Entry] = {}
    for entry in merged.values():
        targets.setdefault(entry.canonical, entry)
    for entry in merged.values():
        if entry.alias in targets:
            other = targets[entry.alias]
            # blame the later layer's line: the user's file, not the shipped table
            late, early = (other, entry) if layer_of[other] > layer_of[entry] else (entry, other)
            raise AliasFileError(
                f"{late.source}: {late.alias!r} -> {late.canonical!r} and {early.alias!r} ->"
                f" {early.canonical!r} ({early.source}) chain {entry.alias!r}; an alias may"
                " not be another entry's canonical: map both to one name"
            )
    return SkillAliases(MappingProxyType(merged), version)


def load(extra: Path | None = None) -> SkillAliases:
    """The shipped table, with ``extra``'s entries merged over it when given. The version
    is the shipped one, plus ``+`` and the extra file's own (or its content hash)."""
    shipped_version, shipped = parse(SHIPPED.read_text(encoding="utf-8"), SHIPPED.name)
    if shipped_version is None:
        raise AliasFileError(f"{SHIPPED.name}:1: the shipped table has no @version line")
    if extra is None:
        return build(shipped, version=shipped_version)
    try:
        text = extra.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AliasFileError(f"{extra}:0: cannot read the alias file ({exc})") from None
    extra_version, entries = parse(text, str(extra))
    if extra_version is None:
        extra_version = hashlib.sha256(text.encode()).hexdigest()[:12]
    return build(shipped, entries, version=f"{shipped_version}+{extra_version}")


def _normal(value: str, where: str, side: str) -> str:
    if not value:
        raise AliasFileError(f"{where}: the {side} is empty")
    try:
        return skill(value, side, L.SKILL_MAX_LEN)
    except InvalidPosting as exc:
        raise AliasFileError(f"{where}: {exc.message}") from None


_active: SkillAliases | None = None


def install(table: SkillAliases) -> None:
    """Make ``table`` the one this process's filters and matching use."""
    global _active
    _active = table


def active() -> SkillAliases:
    """The installed table, else the shipped one (loaded once)."""
    global _active
    if _active is None:
        _active = load()
    return _active


def canonical(name: str) -> str:
    """:meth:`SkillAliases.canonical` of the active table."""
    return active().canonical(name)


def expand(term: str) -> frozenset[str]:
    """:meth:`SkillAliases.expand` of the active table."""
    return active().expand(term)
