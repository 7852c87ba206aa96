"""GraphQL output types: postings, the search connection, facets, cache stats, payloads.

``Long`` carries versions and salaries: both are int64 in the domain, and GraphQL's
``Int`` is 32-bit, so a producer's epoch-millisecond version would not fit ``Int``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, NewType

import strawberry
from graphql import IntValueNode, StringValueNode, ValueNode, print_ast

from api.graphql.context import ContextInfo
from api.search import Facets as FacetsData
from api.search import PostingView
from api.search.highlight import HighlightField, HighlightKind
from api.search.ranking import SearchMode
from schemas.domain import EmploymentType, EnglishLevel, RemoteMode
from schemas.domain.text import shown

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


_INT64_LITERAL = re.compile(r"-?[0-9]{1,19}")


def _parse_long(value: Any) -> int:
    """A JSON variable as a Long: an integer (or an integral float, or its decimal string)
    within int64; ``ValueError`` naming what is wrong otherwise (graphql-core reports it
    against the variable)."""
    if isinstance(value, bool):
        raise ValueError(f"Long cannot represent {value!r}: expected an integer")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        value = _long_from_digits(value)
    if not isinstance(value, int):
        raise ValueError(f"Long cannot represent {shown(value)}: expected an integer")
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"Long cannot represent {shown(value)}: outside the 64-bit range")
    return value


def _long_from_digits(digits: str) -> int:
    """Decimal digits as an int, refusing anything longer than an int64 can be before
    converting (Python refuses 4,300+ digits with a message about its own settings)."""
    if not _INT64_LITERAL.fullmatch(digits):
        if re.fullmatch(r"-?[0-9]+", digits):
            raise ValueError(
                f"Long cannot represent an integer of {len(digits.lstrip('-'))} digits:"
                " outside the 64-bit range"
            )
        raise ValueError(f"Long cannot represent {shown(digits)}: expected an integer")
    return int(digits)


def _parse_long_literal(node: ValueNode, _variables: Any = None) -> int:
    """An integer literal (or a string of digits) as a Long; a float, ``1e3`` or anything
    else is refused naming the literal."""
    if isinstance(node, IntValueNode | StringValueNode):
        return _parse_long(_long_from_digits(node.value))
    raise ValueError(f"Long cannot represent {shown(print_ast(node))}: expected an integer")


Long = NewType("Long", int)
LONG_SCALAR = strawberry.scalar(
    name="Long",
    description="A 64-bit signed integer (JSON number; versions and salaries).",
    serialize=int,
    parse_value=_parse_long,
    parse_literal=_parse_long_literal,
)


# The domain enums themselves: GraphQL exposes the member names, so there is no mirror
# to keep in step with schemas.domain.
strawberry.enum(RemoteMode, description="Where the work happens.")
strawberry.enum(EmploymentType, description="Kind of contract.")
strawberry.enum(EnglishLevel, description="Required English, from least to most.")
strawberry.enum(
    SearchMode,
    description="How a search ranks: by the words and the meaning fused (HYBRID), by "
    "meaning only (SEMANTIC), by the words only (KEYWORD).",
)


def _name(value: object) -> str:
    """An enum value from the read model as its name, whether stored as str or enum."""
    return str(getattr(value, "name", value))


@strawberry.type(description="A stated salary range in whole units of an ISO 4217 currency.")
class Salary:
    min: Long
    max: Long
    currency: str


@strawberry.type(description="A live job posting at its latest version.")
class Posting:
    id: strawberry.ID
    version: Long
    title: str
    company: str
    city: str
    country_code: str
    remote_mode: RemoteMode
    employment_type: EmploymentType
    experience_min_years: int
    experience_max_years: int
    english_level: EnglishLevel
    skills: list[str]
    salary: Salary | None
    description: str
    posted_at: datetime
    embedding_model: str

    @classmethod
    def from_view(cls, view: PostingView) -> Posting:
        salary = None
        if view.salary_min is not None and view.salary_max is not None and view.salary_currency:
            salary = Salary(
                min=Long(view.salary_min),
                max=Long(view.salary_max),
                currency=view.salary_currency,
            )
        return cls(
            id=strawberry.ID(view.id),
            version=Long(view.version),
            title=view.title,
            company=view.company,
            city=view.city or "",
            country_code=view.country_code,
            remote_mode=RemoteMode[_name(view.remote_mode)],
            employment_type=EmploymentType[_name(view.employment_type)],
            experience_min_years=view.experience_min_years,
            experience_max_years=view.experience_max_years,
            english_level=EnglishLevel[_name(view.english_level)],
            skills=list(view.skills),
            salary=salary,
            description=view.description or "",
            posted_at=view.posted_at,
            embedding_model=view.embedding_model,
        )

    @strawberry.field(description="The postings most similar to this one, best first.")  # type: ignore[untyped-decorator]  # strawberry types it Any
    async def similar(
        self,
        info: ContextInfo,
        first: Annotated[int | None, strawberry.argument(description="How many (default 5).")] = 5,
    ) -> list[SimilarPosting]:
        first = info.context.service.check_first(5 if first is None else first)
        pairs = await info.context.similar().load((str(self.id), first))
        return [
            SimilarPosting(node=Posting.from_view(view), score=hit.score) for hit, view in pairs
        ]


@strawberry.type(description="A posting similar to another one, with its cosine similarity.")
class SimilarPosting:
    node: Posting
    score: float


@strawberry.type(description="One search hit.")
class PostingEdge:
    cursor: str
    node: Posting
    score: float = strawberry.field(
        description="Higher is better: cosine similarity to the query (SEMANTIC), the "
        "lexical rank in [0, 1) (KEYWORD), the fused reciprocal rank (HYBRID)."
    )
    highlight_of: strawberry.Private[Any] = None  # api.highlighting.PageHighlights

    @strawberry.field(  # type: ignore[untyped-decorator]  # strawberry types it Any
        description="Why the posting matched: title and description fragments with the "
        "query's terms as ranges (TERMS), or, when no term occurs and the ranking uses "
        "meaning, the description's sentence nearest to the query (SENTENCE; within "
        "JOBSTREAM_HIGHLIGHT_SENTENCE_BUDGET per request). Computed for the page only "
        "when selected."
    )
    async def highlights(self) -> list[Highlight]:
        if self.highlight_of is None:
            return []
        found = await self.highlight_of.of(str(self.node.id))
        return [
            Highlight(
                field=h.field,
                kind=h.kind,
                text=h.text,
                ranges=[HighlightRange(start=start, length=n) for start, n in h.ranges],
            )
            for h in found
        ]


strawberry.enum(HighlightField, description="The posting field a highlight comes from.")
strawberry.enum(
    HighlightKind,
    description="TERMS: the ranges mark the query's terms (stemmed forms too); SENTENCE: "
    "the text is the sentence nearest to the query's meaning, one range over all of it.",
)


@strawberry.type(
    description="Characters [start, start + length) of a highlight's text, counted in "
    "Unicode code points (not UTF-16 units: use Array.from(text) in JavaScript)."
)
class HighlightRange:
    start: int
    length: int


@strawberry.type(description="A fragment of a posting field with what matched marked.")
class Highlight:
    field: HighlightField
    kind: HighlightKind
    text: str = strawberry.field(description="Plain text, never markup: escape it to show.")
    ranges: list[HighlightRange]


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


TOTAL_COUNT_DESCRIPTION = (
    "Live postings matching the filter and the query: its words (KEYWORD, HYBRID) or its "
    "meaning above JOBSTREAM_SEMANTIC_MATCH_FLOOR (SEMANTIC, HYBRID; counted among the "
    "JOBSTREAM_SEARCH_COUNT_WINDOW nearest)."
)


@strawberry.type(description="A page of search hits (Relay connection).")
class PostingConnection:
    edges: list[PostingEdge]
    page_info: PageInfo
    count_total: strawberry.Private[Any]  # () -> Awaitable[int], run only when asked
    skill_suggestions: strawberry.Private[Any] = None  # () -> Awaitable[tuple[Suggestion]]

    @strawberry.field(description=TOTAL_COUNT_DESCRIPTION)  # type: ignore[untyped-decorator]  # strawberry types it Any
    async def total_count(self) -> int:
        result: int = await self.count_total()
        return result

    @strawberry.field(  # type: ignore[untyped-decorator]  # strawberry types it Any
        description="Did you mean: each query word that matches no posting, with the "
        "term it was matched as instead, and each filter skill no live posting carries in "
        "any alias spelling, with the most similar skill postings do carry (typos: "
        "kubernets -> kubernetes); empty when every word and skill matches."
    )
    async def suggestions(self) -> list[SkillSuggestion]:
        found = await self.skill_suggestions() if self.skill_suggestions is not None else ()
        return [SkillSuggestion(term=s.term, suggestion=s.suggestion) for s in found]


@strawberry.type(
    description="A query word or filter skill that matches nothing and what it may mean."
)
class SkillSuggestion:
    term: str
    suggestion: str


@strawberry.type
class FacetCount:
    value: str
    count: int


@strawberry.type(description="How many matching postings have each value.")
class Facets:
    english_level: list[FacetCount]
    remote_mode: list[FacetCount]
    employment_type: list[FacetCount]
    experience: list[FacetCount]
    skills: list[FacetCount] = strawberry.field(
        description="The 20 most frequent canonical skills, most first; a posting saying "
        "an alias (k8s) counts under its canonical (kubernetes)."
    )

    @classmethod
    def from_data(cls, data: FacetsData) -> Facets:
        def counts(values: dict[str, int]) -> list[FacetCount]:
            return [FacetCount(value=str(k), count=int(v)) for k, v in values.items()]

        return cls(
            english_level=counts(data.english_level),
            remote_mode=counts(data.remote_mode),
            employment_type=counts(data.employment_type),
            experience=counts(data.experience),
            skills=counts(data.skills),
        )


@strawberry.type(description="Hits and misses of one cache level.")
class CacheLevelStats:
    level: str
    hits: int
    misses: int
    hit_rate: float


@strawberry.type(description="The API process's caches: L1 in-process, L2 Redis.")
class CacheStats:
    levels: list[CacheLevelStats]
    hits: int
    misses: int
    hit_rate: float
    generation: int
    redis_healthy: bool


@strawberry.type(description="A problem with one field of a mutation's input.")
class FieldError:
    field: str
    code: str
    message: str


@strawberry.type(description="The event written to the log (the read model follows).")
class Accepted:
    id: strawberry.ID
    version: Long


@strawberry.type(description="accepted is set when Kafka acknowledged the event; else errors.")
class PublishResult:
    accepted: Accepted | None
    errors: list[FieldError]


@strawberry.type
class CacheFlushResult:
    cleared: int = strawberry.field(description="L1 entries dropped in this process.")
