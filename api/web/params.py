"""The search page's URL: query-string parameters <-> :class:`SearchParams`.

Filters and the page live in the URL so a search can be shared, bookmarked and reloaded.
Parsing is strict (a bad value is a 400 page naming the parameter, never a silently
ignored filter) but forgiving about form noise: empty fields mean "any", enum values are
case-insensitive, unknown parameters (``utm_source`` …) are ignored.

| parameter | meaning | maps to |
| --- | --- | --- |
| ``q`` | free text, ranked by meaning | the query (empty: newest first) |
| ``exp_min`` / ``exp_max`` | years of experience the job should accept | experience overlap |
| ``english`` (repeatable) | English levels | ``english_levels`` |
| ``remote`` (repeatable) | remote modes | ``remote_modes`` |
| ``type`` (repeatable) | employment types | ``employment_types`` |
| ``country`` | ISO 3166-1 alpha-2 code | ``country_code`` |
| ``city`` | city name, case-insensitive | ``city`` |
| ``skills`` | comma-separated; the posting has all of them | ``skills_all`` |
| ``after`` | the page cursor of the previous page | keyset cursor |
| ``lang`` | the pages' language, ``en`` or ``ko`` (kept in every link) | -- |
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

from api.search import PostingFilter
from api.web.i18n import LANGUAGES, PARAM, Text, known
from schemas.domain import EmploymentType, EnglishLevel, RemoteMode
from schemas.domain import limits as L
from schemas.errors import BadInputError

MAX_QUERY_STRING = 4096
MAX_CURSOR_CHARS = 512
MAX_SKILLS_CHARS = 600

# PostingFilter field -> URL parameter, so a filter error names what the user can edit.
FIELD_TO_PARAM = {
    "experience_min_years": "exp_min",
    "experience_max_years": "exp_max",
    "english_levels": "english",
    "remote_modes": "remote",
    "employment_types": "type",
    "country_code": "country",
    "city": "city",
    "skills_all": "skills",
    "query": "q",
    "after": "after",
}


class BadParam(BadInputError):
    """A query-string value the page cannot use; ``param`` (the ``field``) is the URL
    parameter's name. ``text`` is the message for the page's language when it is one of
    the catalog's (the shared filter's own messages are English only)."""

    field: str

    def __init__(self, param: str, message: str | Text) -> None:
        super().__init__(str(message), field=param)
        self.text = message if isinstance(message, Text) else None

    @property
    def param(self) -> str:
        return self.field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True)
class SearchParams:
    """A parsed search URL: the query text, the filter fields and the page cursor."""

    q: str = ""
    exp_min: int | None = None
    exp_max: int | None = None
    english: tuple[str, ...] = ()
    remote: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    country: str | None = None
    city: str | None = None
    skills: tuple[str, ...] = ()
    after: str | None = None
    lang: str | None = None
    extra: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def to_filter(self) -> PostingFilter:
        return PostingFilter(
            experience_min_years=self.exp_min,
            experience_max_years=self.exp_max,
            english_levels=self.english,
            remote_modes=self.remote,
            employment_types=self.types,
            country_code=self.country,
            city=self.city,
            skills_all=self.skills,
        )

    @property
    def has_filters(self) -> bool:
        return not self.to_filter().is_empty

    def pairs(self, *, after: str | None = None) -> list[tuple[str, str]]:
        """The canonical query-string pairs (empty values left out), page ``after``."""
        out: list[tuple[str, str]] = []
        if self.q:
            out.append(("q", self.q))
        if self.exp_min is not None:
            out.append(("exp_min", str(self.exp_min)))
        if self.exp_max is not None:
            out.append(("exp_max", str(self.exp_max)))
        out += [("english", v.lower()) for v in self.english]
        out += [("remote", v.lower()) for v in self.remote]
        out += [("type", v.lower()) for v in self.types]
        if self.country:
            out.append(("country", self.country))
        if self.city:
            out.append(("city", self.city))
        if self.skills:
            out.append(("skills", ", ".join(self.skills)))
        if after:
            out.append(("after", after))
        if self.lang:
            out.append((PARAM, self.lang))
        return out

    def url(self, *, after: str | None = None) -> str:
        query = urlencode(self.pairs(after=after))
        return "/?" + query if query else "/"

    def without(self, param: str, value: str | None = None) -> str:
        """The URL of this search with one filter (or one value of it) removed, page 1."""
        changes: dict[str, object] = {}
        if param in ("english", "remote", "types", "skills"):
            current: tuple[str, ...] = getattr(self, param)
            changes[param] = tuple(v for v in current if value is not None and v != value)
        else:
            changes[param] = "" if param == "q" else None
        return replace(self, **changes).url()  # type: ignore[arg-type]  # field named at run time


def _one(values: Sequence[str], name: str) -> str | None:
    """The single value of a parameter; repeated with different values is an error."""
    cleaned = [v.strip() for v in values if v.strip()]
    if not cleaned:
        return None
    if len(set(cleaned)) > 1:
        raise BadParam(
            name,
            Text(
                "%(param)s is given %(n)s times with different values",
                {"param": name, "n": len(cleaned)},
            ),
        )
    return cleaned[0]


def _years(values: Sequence[str], name: str) -> int | None:
    raw = _one(values, name)
    if raw is None:
        return None
    try:
        return int(raw)  # the range is the filter's rule, checked by check()
    except ValueError:
        raise BadParam(
            name,
            Text(
                "%(param)s must be a whole number of years (got %(value)r)",
                {"param": name, "value": raw},
            ),
        ) from None


def _enums(values: Sequence[str], name: str, names: Iterable[str]) -> tuple[str, ...]:
    known = list(names)
    chosen: set[str] = set()
    for value in values:
        for part in value.split(","):
            key = part.strip().upper().replace("-", "_").replace(" ", "_")
            if not key:
                continue
            if key not in known:
                expected = ", ".join(k.lower() for k in known)
                raise BadParam(
                    name,
                    Text(
                        "unknown %(param)s value %(value)r; use one of %(expected)s",
                        {"param": name, "value": part.strip(), "expected": expected},
                    ),
                )
            chosen.add(key)
    return tuple(k for k in known if k in chosen)


def parse(params: Mapping[str, Sequence[str]], *, raw_length: int = 0) -> SearchParams:
    """A :class:`SearchParams` from the parsed query string; :class:`BadParam` if unusable.

    The values are checked here only as far as the URL goes (numbers, enum names, sizes);
    :func:`check` then runs the shared PostingFilter validation and maps its field
    names back to parameter names.
    """
    if raw_length > MAX_QUERY_STRING:
        raise BadParam(
            "query string",
            Text("the query string is longer than %(n)s bytes", {"n": MAX_QUERY_STRING}),
        )

    def get(name: str) -> Sequence[str]:
        return params.get(name, ())

    skills_raw = _one(get("skills"), "skills") or ""
    if len(skills_raw) > MAX_SKILLS_CHARS:
        raise BadParam(
            "skills", Text("skills is longer than %(n)s characters", {"n": MAX_SKILLS_CHARS})
        )
    unique: dict[str, str] = {}  # first spelling wins; "Python" and "python" are one skill
    for part in skills_raw.split(","):
        if part.strip():
            unique.setdefault(" ".join(part.split()).casefold(), part.strip())
    skills = tuple(unique.values())
    if len(skills) > L.SKILLS_MAX_COUNT:
        raise BadParam(
            "skills",
            Text(
                "at most %(max)s skills (got %(n)s)",
                {"max": L.SKILLS_MAX_COUNT, "n": len(skills)},
            ),
        )
    after = _one(get("after"), "after")
    if after is not None and len(after) > MAX_CURSOR_CHARS:
        raise BadParam("after", Text("after is not a page cursor this site made (too long)"))
    country = _one(get("country"), "country")
    parsed = SearchParams(
        q=(_one(get("q"), "q") or ""),
        exp_min=_years(get("exp_min"), "exp_min"),
        exp_max=_years(get("exp_max"), "exp_max"),
        english=_enums(get("english"), "english", (m.name for m in EnglishLevel)),
        remote=_enums(get("remote"), "remote", (m.name for m in RemoteMode)),
        types=_enums(get("type"), "type", (m.name for m in EmploymentType)),
        country=country.upper() if country else None,
        city=_one(get("city"), "city"),
        skills=skills,
        after=after,
        lang=_lang(get(PARAM)),
    )
    check(parsed)
    return parsed


def _lang(values: Sequence[str]) -> str | None:
    """The ``lang`` the visitor chose (``ko``, ``KO``, ``ko-KR`` → ``ko``), None if none."""
    raw = _one(values, PARAM)
    if raw is None:
        return None
    code = known(raw)
    if code is None:
        raise BadParam(
            PARAM,
            Text(
                "unknown %(param)s value %(value)r; use one of %(expected)s",
                {"param": PARAM, "value": raw, "expected": ", ".join(LANGUAGES)},
            ),
        )
    return code


def check(parsed: SearchParams) -> None:
    """Run the shared filter validation; errors name the URL parameter."""
    try:
        parsed.to_filter().validate()
    except BadInputError as exc:
        raise in_url_terms(exc) from None


def in_url_terms(exc: BadInputError) -> BadParam:
    """Any bad-input error, told in URL parameter names (the page's own are already)."""
    if isinstance(exc, BadParam):
        return exc
    if exc.field == "after":  # the service's or the search's cursor: the visitor has a link
        return BadParam("after", Text("the page link is out of date or was edited; start again"))
    return field_error(exc.field or "query string", exc.message)


def field_error(field_name: str, message: str) -> BadParam:
    """A filter or search error about ``field_name``, told in URL parameter names."""
    for name, param in FIELD_TO_PARAM.items():
        message = message.replace(name, param)
    return BadParam(FIELD_TO_PARAM.get(field_name, field_name), message)
