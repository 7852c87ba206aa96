"""View models: what the templates show, computed from PostingView and Facets.

Templates stay logic-free (no formatting rules in Jinja); everything a page prints about
a posting -- location line, key facts, salary, snippet -- is decided here, once, and
unit-testable without a server. Every text is told in the page's :class:`Lang`; the
labels below are catalog msgids (``N_``), translated where they are shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from api.search import Facets, PostingView
from api.search.highlight import Highlight, HighlightField, HighlightKind
from api.web.i18n import ENGLISH, N_, Lang
from schemas.domain import EmploymentType, EnglishLevel, RemoteMode

SNIPPET_CHARS = 220
EN_DASH = "\u2013"  # ranges print as "2\u20135 years", as typeset text does

ENGLISH_LABELS = {
    "NONE": N_("No English needed"),
    "BASIC": N_("Basic"),
    "CONVERSATIONAL": N_("Conversational"),
    "BUSINESS": N_("Business"),
    "FLUENT": N_("Fluent"),
    "NATIVE": N_("Native"),
}
REMOTE_LABELS = {"ONSITE": N_("On site"), "HYBRID": N_("Hybrid"), "REMOTE": N_("Remote")}
TYPE_LABELS = {
    "FULL_TIME": N_("Full time"),
    "PART_TIME": N_("Part time"),
    "CONTRACT": N_("Contract"),
    "INTERNSHIP": N_("Internship"),
}


def label(mapping: dict[str, str], name: str, lang: Lang = ENGLISH) -> str:
    """A human label for an enum name (falls back to "Title case" for new values)."""
    known = mapping.get(name)
    return lang.gettext(known) if known else name.replace("_", " ").capitalize()


def experience_text(lo: int, hi: int, lang: Lang = ENGLISH) -> str:
    if hi <= 0:
        return lang.gettext("No experience required")
    if lo == hi:
        return lang.ngettext("%(num)s year of experience", "%(num)s years of experience", lo)
    return lang.gettext("%(lo)s\u2013%(hi)s years of experience", lo=lo, hi=hi)


def salary_text(lo: int | None, hi: int | None, currency: str | None) -> str | None:
    if lo is None or hi is None or not currency:
        return None
    if lo == hi:
        return f"{lo:,} {currency}"
    return f"{lo:,}{EN_DASH}{hi:,} {currency}"


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The first sentences of a description, cut at a word boundary with an ellipsis."""
    flat = re.sub(r"\s+", " ", text).strip()
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0].rstrip(",.;:")
    return cut + "…"


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of a highlighted text; the template wraps marked ones in <mark> and
    escapes every one (the text is the posting's, never markup)."""

    text: str
    marked: bool = False


def segments(text: str, ranges: tuple[tuple[int, int], ...] = ()) -> tuple[Segment, ...]:
    """``text`` cut at the highlight ranges (code-point offsets, in order)."""
    out: list[Segment] = []
    at = 0
    for start, length in ranges:
        if start < at or start + length > len(text):
            continue
        if start > at:
            out.append(Segment(text[at:start]))
        out.append(Segment(text[start : start + length], True))
        at = start + length
    if at < len(text):
        out.append(Segment(text[at:]))
    return tuple(out)


def marked_snippet(
    description: str, highlights: tuple[Highlight, ...]
) -> tuple[Segment, ...] | None:
    """The description's highlighted fragments as a snippet, "…" where text is left out
    (a nearest sentence unmarked: it is shown, not claimed to contain the words); None
    when there is no description highlight (the card keeps its plain snippet)."""
    found = [h for h in highlights if h.field is HighlightField.DESCRIPTION]
    if not found:
        return None
    whole = re.sub(r"\s", " ", description).rstrip()
    parts: list[Segment] = []
    end = 0
    for h in found:
        if sum(len(p.text) for p in parts) > SNIPPET_CHARS:
            break
        text = re.sub(r"\s", " ", h.text)  # one for one: the ranges keep their offsets
        at = whole.find(text)
        if at != 0:
            parts.append(Segment("… " if not parts else " … "))
        parts.extend(segments(text, h.ranges if h.kind is HighlightKind.TERMS else ()))
        end = at + len(text) if at >= 0 else 0
    if end < len(whole) - 1:  # ts_headline leaves out a fragment's final full stop
        parts.append(Segment(" …"))
    return tuple(parts)


def location_text(view: PostingView, lang: Lang = ENGLISH) -> str:
    place = ", ".join(p for p in (view.city, view.country_code) if p)
    return place or lang.gettext("Anywhere")


def posting_url(posting_id: str, lang: Lang = ENGLISH) -> str:
    return lang.link("/postings/" + quote(posting_id, safe=""))


@dataclass(frozen=True, slots=True)
class Card:
    """One result in a list: enough to decide whether to open the posting."""

    id: str
    url: str
    title: str
    company: str
    location: str
    facts: tuple[str, ...]
    salary: str | None
    skills: tuple[str, ...]
    skills_line: str | None
    snippet: str
    posted: str
    posted_iso: str
    score: float | None
    title_marked: tuple[Segment, ...] = ()
    snippet_marked: tuple[Segment, ...] | None = None

    @classmethod
    def of(
        cls,
        view: PostingView,
        score: float | None = None,
        lang: Lang = ENGLISH,
        highlights: tuple[Highlight, ...] = (),
    ) -> Card:
        title = next((h for h in highlights if h.field is HighlightField.TITLE), None)
        return cls(
            id=view.id,
            url=posting_url(view.id, lang),
            title=view.title,
            company=view.company,
            location=location_text(view, lang),
            facts=(
                label(REMOTE_LABELS, view.remote_mode, lang),
                label(TYPE_LABELS, view.employment_type, lang),
                experience_text(view.experience_min_years, view.experience_max_years, lang),
                lang.gettext(
                    "English: %(level)s", level=label(ENGLISH_LABELS, view.english_level, lang)
                ),
            ),
            salary=salary_text(view.salary_min, view.salary_max, view.salary_currency),
            skills=view.skills[:6],
            skills_line=(
                lang.gettext("Skills: %(skills)s", skills=", ".join(view.skills[:6]))
                if view.skills
                else None
            ),
            snippet=snippet(view.description),
            posted=lang.date(view.posted_at),
            posted_iso=view.posted_at.isoformat(),
            score=score,
            title_marked=segments(view.title, title.ranges) if title else (Segment(view.title),),
            snippet_marked=marked_snippet(view.description, highlights),
        )


@dataclass(frozen=True, slots=True)
class Detail:
    """The detail page's posting: every field, formatted."""

    card: Card
    paragraphs: tuple[str, ...]
    skills: tuple[str, ...]
    version: int
    meta_description: str

    @classmethod
    def of(cls, view: PostingView, lang: Lang = ENGLISH) -> Detail:
        card = Card.of(view, lang=lang)
        sentences = re.split(r"(?<=[.!?])\s+", view.description.strip())
        paragraphs = tuple(
            " ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3) if sentences[i]
        )
        return cls(
            card=card,
            paragraphs=paragraphs,
            skills=view.skills,
            version=view.version,
            meta_description=snippet(
                lang.gettext(
                    "%(title)s at %(company)s, %(location)s.",
                    title=view.title,
                    company=view.company,
                    location=card.location,
                )
                + " "
                + view.description,
                155,
            ),
        )


@dataclass(frozen=True, slots=True)
class Option:
    """A filter checkbox: URL value, label, count in the current result set, checked."""

    value: str
    label: str
    count: int | None
    checked: bool


def options(
    names: list[str],
    labels: dict[str, str],
    counts: dict[str, int] | None,
    chosen: tuple[str, ...],
    lang: Lang = ENGLISH,
) -> list[Option]:
    return [
        Option(
            value=name.lower(),
            label=label(labels, name, lang),
            count=None if counts is None else counts.get(name, 0),
            checked=name in chosen,
        )
        for name in names
    ]


@dataclass(frozen=True, slots=True)
class FilterOptions:
    english: list[Option]
    remote: list[Option]
    types: list[Option]

    @classmethod
    def of(
        cls,
        facets: Facets | None,
        english: tuple[str, ...],
        remote: tuple[str, ...],
        types: tuple[str, ...],
        lang: Lang = ENGLISH,
    ) -> FilterOptions:
        return cls(
            english=options(
                [m.name for m in EnglishLevel],
                ENGLISH_LABELS,
                facets.english_level if facets else None,
                english,
                lang,
            ),
            remote=options(
                [m.name for m in RemoteMode],
                REMOTE_LABELS,
                facets.remote_mode if facets else None,
                remote,
                lang,
            ),
            types=options(
                [m.name for m in EmploymentType],
                TYPE_LABELS,
                facets.employment_type if facets else None,
                types,
                lang,
            ),
        )
