"""Did-you-mean links and the skill facet of the search page (issue #12).

A suggestion names a query word or a filter skill as the search normalised it (NFKC,
case folded); its link is the same search with that word or skill replaced, page 1. The
skill facet's links add a skill to the filter.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from api.search.skills import Suggestion
from api.service import normalise_query
from api.web.params import SearchParams

SKILL_LINKS = 8  # of the facet's skills, the most frequent the page offers


@dataclass(frozen=True, slots=True)
class DidYouMean:
    term: str
    suggestion: str
    url: str


@dataclass(frozen=True, slots=True)
class SkillLink:
    skill: str
    count: int
    url: str


def did_you_mean(p: SearchParams, found: Sequence[Suggestion]) -> list[DidYouMean]:
    """A link per suggestion: the search with the word (or filter skill) replaced."""
    out: list[DidYouMean] = []
    for s in found:
        words = [s.suggestion if normalise_query(w) == s.term else w for w in p.q.split()]
        skills = tuple(s.suggestion if normalise_query(k) == s.term else k for k in p.skills)
        changed = dataclasses.replace(p, q=" ".join(words), skills=skills, after=None)
        if changed != p:
            out.append(DidYouMean(s.term, s.suggestion, changed.url()))
    return out


def skill_links(p: SearchParams, counts: Mapping[str, int]) -> list[SkillLink]:
    """The most frequent skills of the matches not yet in the filter, each a link adding
    it (counts are the matches that have it)."""
    chosen = {normalise_query(k) for k in p.skills}
    out: list[SkillLink] = []
    for skill, n in counts.items():
        if skill not in chosen and n > 0 and len(out) < SKILL_LINKS:
            added = dataclasses.replace(p, skills=(*p.skills, skill), after=None)
            out.append(SkillLink(skill, n, added.url()))
    return out
