"""The saved searches in memory: for a batch of changed postings, the (posting, saved
search) pairs that may match, fast enough for a thousand postings a second.

Invariant: every pair the exact predicate (:mod:`streams.alerts.sql`) accepts is among
the candidates of a saved search this index holds as written. The index proposes, SQL
decides: the matcher verifies each candidate with the predicate before it writes the
ledger, so a candidate too many costs a lookup, never a false alert. Proposed:

- semantic: matrix products of the batch's vectors with the saved queries' of the same
  model and a country the posting is in (or none): cosine >= ``min_score``, exact, no
  approximate index to miss one;
- lexical: a lexical match holds every lexeme of the saved search
  (``saved_searches.lexemes``), so its ``anchor`` lexeme is among the posting's; the
  anchor's bucket is then narrowed by the full lexeme set, and a query whose units have
  several spellings by some spelling of each (:mod:`.units`);
- the rest (no query, or no lexeme common to a unit's spellings) propose every posting;

then narrowed, pair by pair in numpy, by the filter's cheap columns (country, city,
remote mode, English level, employment type, experience, salary, currency, posting date),
and the few pairs whose saved search names skills by the posting's canonical skills.
The index is refreshed from the table before every batch (:func:`refresh`); what it may
not hold yet -- rows whose writer had not committed when it last looked (``written_xid >=
horizon``) -- the matcher evaluates in SQL in full.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import numpy as np
import numpy.typing as npt

from streams.alerts.units import Unit, holds, units_of

# Float32 products differ from PostgreSQL's float8 cosine in the 7th digit; proposing a
# little below the floor keeps the proposal a superset.
SLACK = 1e-4
CHUNK = 64  # postings per matrix product: 64 x 100,000 float32 = 25 MB
LEXEMES = 8  # lexemes per saved search checked here (more: the first 8, SQL checks all)
_BITS = 62  # values per categorical field a mask can hold; beyond, the field proposes all

COLUMNS = (
    "id, deleted, mode, query, min_score, embedding, embedding_model, lexemes, anchor,"
    " country_code, city, remote_modes, english_levels, employment_types, experience_min_years,"
    " experience_max_years, salary_min, currency, extract(epoch FROM posted_after) AS after,"
    " skills_all, skills_any, lexical_query::text AS lexical_query"
)
_CHANGED = f"SELECT {COLUMNS} FROM saved_searches WHERE written_xid >= $1::text::xid8"
_HORIZON = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text"

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


class _Codes:
    """Strings to small integers, per field (a country, a remote mode, a model)."""

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}

    def code(self, value: str | None) -> int:
        """-1 for None; a new value gets the next code."""
        if value is None:
            return -1
        return self._codes.setdefault(value, len(self._codes))

    def known(self, value: str | None) -> int:
        """The value's code, or -2 (equal to no saved search's) when never seen."""
        return -2 if value is None else self._codes.get(value, -2)

    def mask(self, values: Iterable[str]) -> int:
        """A bit per value; 0 (accept any) when empty or a code is past the mask."""
        out = 0
        for value in values:
            bit = self.code(value)
            if bit >= _BITS:
                return 0
            out |= 1 << bit
        return out

    def bit(self, value: str | None) -> int:
        code = self.known(value)
        return 1 << code if 0 <= code < _BITS else 0


class _Buckets:
    """Slots grouped by an integer key, each group also as an array (rebuilt lazily
    after a change), so a posting's candidates are a few concatenations."""

    def __init__(self) -> None:
        self._sets: dict[int, set[int]] = {}
        self._arrays: dict[int, I64] = {}
        self._key_of: dict[int, int] = {}

    def add(self, key: int, slot: int) -> None:
        self._sets.setdefault(key, set()).add(slot)
        self._key_of[slot] = key
        self._arrays.pop(key, None)

    def discard(self, slot: int) -> bool:
        """Take ``slot`` out of its group; whether it was in one."""
        key = self._key_of.pop(slot, None)
        if key is None:
            return False
        self._sets[key].discard(slot)
        self._arrays.pop(key, None)
        return True

    def get(self, key: int) -> I64 | None:
        found = self._arrays.get(key)
        if found is None:
            members = self._sets.get(key)
            if not members:
                return None
            found = self._arrays[key] = np.fromiter(members, np.int64, len(members))
        return found


@dataclass(frozen=True, slots=True)
class Posting:
    """What the index reads of one live posting (the matcher fetches it)."""

    id: str
    embedding: npt.NDArray[np.float32] | None
    model: str | None
    lexemes: frozenset[str]
    country: str | None
    city: str | None
    remote: str | None
    english: str | None
    employment: str | None
    experience_min: float
    experience_max: float
    salary_max: float
    currency: str | None
    posted: float  # epoch seconds
    skills: frozenset[str] = frozenset()  # canonical (the alias table applied)


class CandidateIndex:
    """Saved searches by slot (numpy columns) plus the lexical anchors; see the module."""

    _vectors: npt.NDArray[np.float32]
    _threshold: npt.NDArray[np.float32]
    _model: npt.NDArray[np.int32]
    _country: I64
    _city: I64
    _currency: I64
    _masks: I64
    _ranges: F64
    _lexeme_codes: npt.NDArray[np.int32]
    _has_skills: npt.NDArray[np.bool_]
    _spelling: I64

    def __init__(self, dim: int, capacity: int = 1024) -> None:
        self.dim = dim
        self.horizon = "0"  # xid8 as text: rows written at or after it may be missing
        self._slot: dict[str, int] = {}
        self._free: list[int] = []
        self._ids: list[str | None] = []
        # lexical: slots by anchor lexeme, and each slot's lexemes as codes (0: padding)
        self._anchors = _Buckets()
        # no query, or no anchor: slots by country code (-1: any), proposed to every posting
        self._always = _Buckets()
        fields = ("model", "country", "city", "currency", "remote", "english", "job")
        self._codes = {f: _Codes() for f in fields}
        self._lexicon: dict[str, int] = {}
        # lexical queries whose units have several spellings, one entry per distinct query
        self._spellings: list[tuple[Unit, ...]] = []
        self._spelling_ids: dict[str, int] = {}
        self._skills: dict[int, tuple[frozenset[str], frozenset[str]]] = {}  # all, any
        self._grow(capacity)

    def __len__(self) -> int:
        return len(self._slot)

    def _grow(self, capacity: int) -> None:
        """Room for ``capacity`` slots (the columns keep what they hold)."""
        start = len(self._ids)

        def grown(name: str, fill: Any, dtype: Any, *shape: int) -> None:
            new = np.full((capacity, *shape), fill, dtype=dtype)
            if start:
                new[:start] = getattr(self, name)
            setattr(self, name, new)

        grown("_vectors", 0, np.float32, self.dim)
        grown("_threshold", np.inf, np.float32)  # +inf: no semantic side
        grown("_model", -1, np.int32)
        grown("_country", -1, np.int64)  # -1: any
        grown("_city", -1, np.int64)  # lower-cased; -1: any (or not ASCII: SQL decides)
        grown("_currency", -1, np.int64)
        grown("_masks", 0, np.int64, 3)  # remote, English, employment; 0: any
        grown("_ranges", np.nan, np.float64, 4)  # experience min/max, salary, after
        grown("_lexeme_codes", 0, np.int32, LEXEMES)
        grown("_has_skills", False, np.bool_)
        grown("_spelling", -1, np.int64)  # index into _spellings; -1: none
        self._ids.extend([None] * (capacity - start))
        self._free.extend(range(capacity - 1, start - 1, -1))

    def clear(self) -> None:
        for saved_id in list(self._slot):
            self.remove(saved_id)

    # --- writes ---------------------------------------------------------------------

    def upsert(self, row: Mapping[str, Any]) -> None:
        """Hold ``row`` (a :data:`COLUMNS` row) as written; a deleted row is dropped."""
        self.remove(row["id"])
        if row["deleted"]:
            return
        if not self._free:
            self._grow(len(self._ids) * 2)
        slot = self._free.pop()
        self._slot[row["id"]] = slot
        self._ids[slot] = row["id"]
        query, mode = row["query"], row["mode"]
        vector = row["embedding"]
        if query and mode != "KEYWORD" and vector is not None:
            self._vectors[slot] = as_vector(vector)
            self._threshold[slot] = float(row["min_score"]) - SLACK
            self._model[slot] = self._codes["model"].code(row["embedding_model"])
        lexemes = sorted(set(row["lexemes"] or ()))
        anchor = row["anchor"] if lexemes else None
        c = self._codes
        self._country[slot] = country = c["country"].code(row["country_code"])
        city = row["city"]
        self._city[slot] = c["city"].code(city.lower() if city and city.isascii() else None)
        if not query or (mode != "SEMANTIC" and anchor is None):
            self._always.add(country, slot)
        elif mode != "SEMANTIC" and anchor is not None:
            codes = [self._lexicon.setdefault(x, len(self._lexicon) + 1) for x in lexemes]
            self._lexeme_codes[slot, : len(codes[:LEXEMES])] = codes[:LEXEMES]
            key = self._lexicon.setdefault(anchor, len(self._lexicon) + 1)
            self._anchors.add(key, slot)
            self._spelling[slot] = self._spelling_of(row["lexical_query"])
        skills = frozenset(row["skills_all"] or ()), frozenset(row["skills_any"] or ())
        if skills[0] or skills[1]:
            self._skills[slot] = skills
            self._has_skills[slot] = True
        self._currency[slot] = c["currency"].code(row["currency"])
        self._masks[slot] = (
            c["remote"].mask(row["remote_modes"]),
            c["english"].mask(row["english_levels"]),
            c["job"].mask(row["employment_types"]),
        )
        self._ranges[slot] = [
            as_float(row["experience_min_years"]),
            as_float(row["experience_max_years"]),
            as_float(row["salary_min"]),
            as_float(row["after"]),
        ]

    def remove(self, saved_id: str) -> None:
        slot = self._slot.pop(saved_id, None)
        if slot is None:
            return
        self._ids[slot] = None
        self._threshold[slot] = np.inf
        self._always.discard(slot)
        if self._anchors.discard(slot):
            self._lexeme_codes[slot] = 0
        self._spelling[slot] = -1
        self._skills.pop(slot, None)
        self._has_skills[slot] = False
        self._free.append(slot)

    # --- reads ----------------------------------------------------------------------

    def candidates(self, postings: Sequence[Posting]) -> list[tuple[str, str]]:
        """(posting id, saved search id) pairs that may match; see the module docstring."""
        if not postings or not self._slot:
            return []
        p_idx, s_idx = self._proposed(postings)
        keep = self._filters_accept(postings, p_idx, s_idx)
        width = len(self._ids)
        pairs = np.unique(p_idx[keep] * width + s_idx[keep])
        posting_ids = np.array([p.id for p in postings], dtype=object)[pairs // width]
        saved_ids = np.array(self._ids, dtype=object)[pairs % width]
        return list(zip(posting_ids.tolist(), saved_ids.tolist(), strict=True))

    def _proposed(self, postings: Sequence[Posting]) -> tuple[I64, I64]:
        ps: list[I64] = []
        ss: list[I64] = []
        for near_p, near_s in self._semantic(postings):
            ps.append(near_p)
            ss.append(near_s)
        held = np.zeros(len(self._lexicon) + 1, dtype=bool)
        for i, p in enumerate(postings):
            codes = [c for x in p.lexemes if (c := self._lexicon.get(x)) is not None]
            found = [a for c in codes if (a := self._anchors.get(c)) is not None]
            if found:  # an anchor's saved searches whose every lexeme the posting holds
                slots = np.concatenate(found)
                held[:] = False
                held[[0, *codes]] = True
                slots = slots[held[self._lexeme_codes[slots]].all(axis=1)]
                if self._spellings:  # and some spelling of each of its units
                    slots = self._spelled(slots, p.lexemes)
                ss.append(slots)
                ps.append(np.full(len(slots), i, dtype=np.int64))
            country = self._codes["country"].known(p.country)
            always = [a for k in {-1, country} if (a := self._always.get(k)) is not None]
            if always:
                ss.extend(always)
                ps.extend(np.full(len(a), i, dtype=np.int64) for a in always)
        if not ps:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        return np.concatenate(ps), np.concatenate(ss)

    def _spelling_of(self, query: str | None) -> int:
        """The id of ``query``'s units with spellings (shared by every saved search with
        that query), or -1."""
        if query is None:
            return -1
        found = self._spelling_ids.get(query)
        if found is None:
            units = units_of(query)
            found = -1 if units is None else len(self._spellings)
            if units is not None:
                self._spellings.append(units)
            self._spelling_ids[query] = found
        return found

    def _spelled(self, slots: I64, lexemes: frozenset[str]) -> I64:
        """``slots`` whose units the posting holds: one test per distinct query."""
        ids = self._spelling[slots]
        tested = np.unique(ids[ids >= 0])
        if not len(tested):
            return slots
        held = np.ones(len(self._spellings) + 1, dtype=bool)  # [-1]: no spellings
        for i in tested.tolist():
            held[i] = holds(self._spellings[i], lexemes)
        return slots[held[ids]]

    def _semantic(self, postings: Sequence[Posting]) -> Iterable[tuple[I64, I64]]:
        """Postings grouped by model and country, each group's vectors against the saved
        queries of that model naming that country or none: most saved searches name a
        country, so each posting meets a fraction of the matrix."""
        groups: dict[tuple[int, int], list[int]] = {}
        for i, p in enumerate(postings):
            code = self._codes["model"].known(p.model)
            if p.embedding is not None and code >= 0:
                country = self._codes["country"].known(p.country)
                groups.setdefault((code, country), []).append(i)
        width = len(self._ids)
        semantic = np.isfinite(self._threshold[:width])
        for (model, country), members in groups.items():
            here = self._country[:width]
            cols = np.flatnonzero(
                semantic & (self._model[:width] == model) & ((here == -1) | (here == country))
            )
            if not len(cols):
                continue
            saved, floor = self._vectors[cols], self._threshold[cols]
            for start in range(0, len(members), CHUNK):
                rows = members[start : start + CHUNK]
                vectors = np.stack([as_vector(postings[i].embedding) for i in rows])
                ii, jj = np.nonzero(vectors @ saved.T >= floor)
                yield np.asarray(rows, dtype=np.int64)[ii], cols[jj]

    def _filters_accept(self, postings: Sequence[Posting], i: I64, j: I64) -> npt.NDArray[np.bool_]:
        c = self._codes
        country = np.array([c["country"].known(p.country) for p in postings], np.int64)
        city = np.array([_city_code(c["city"], p.city) for p in postings], np.int64)
        currency = np.array([c["currency"].known(p.currency) for p in postings], np.int64)
        bits = np.array(
            [
                (c["remote"].bit(p.remote), c["english"].bit(p.english), c["job"].bit(p.employment))
                for p in postings
            ],
            np.int64,
        ).reshape(-1, 3)
        values = np.array(
            [(p.experience_min, p.experience_max, p.salary_max, p.posted) for p in postings],
            np.float64,
        ).reshape(-1, 4)
        s_country = self._country[j]
        ok = (s_country == -1) | (s_country == country[i])
        s_city, p_city = self._city[j], city[i]
        ok &= (s_city == -1) | (s_city == p_city) | (p_city == ANY_CITY)
        s_currency = self._currency[j]
        ok &= (s_currency == -1) | (s_currency == currency[i])
        masks = self._masks[j]
        ok &= ((masks == 0) | ((masks & bits[i]) != 0)).all(axis=1)
        r = self._ranges[j]
        v = values[i]
        with np.errstate(invalid="ignore"):
            ok &= np.isnan(r[:, 0]) | (v[:, 1] >= r[:, 0])  # posting's max >= wanted min
            ok &= np.isnan(r[:, 1]) | (v[:, 0] <= r[:, 1])
            ok &= np.isnan(r[:, 2]) | (v[:, 2] >= r[:, 2])
            ok &= np.isnan(r[:, 3]) | (v[:, 3] > r[:, 3])
        for k in np.flatnonzero(ok & self._has_skills[j]).tolist():  # few: checked one by one
            every, some = self._skills[int(j[k])]
            have = postings[int(i[k])].skills
            if not every <= have or (some and not some & have):
                ok[k] = False
        accepted: npt.NDArray[np.bool_] = ok
        return accepted


ANY_CITY = -3


def _city_code(codes: _Codes, city: str | None) -> int:
    """A posting's city as the saved cities' codes; a non-ASCII name may lower-case in
    PostgreSQL to what Python does not (it is then left to SQL: any city code)."""
    if city is None:
        return -2
    return codes.known(city.lower()) if city.isascii() else ANY_CITY


def as_vector(vector: Any) -> npt.NDArray[np.float32]:
    """A pgvector value (or any array-like) as float32."""
    if hasattr(vector, "to_numpy"):
        vector = vector.to_numpy()
    return np.asarray(vector, dtype=np.float32)


def as_float(value: Any) -> float:
    """A nullable number as a float, NULL as NaN (which no comparison accepts)."""
    return np.nan if value is None else float(value)


async def refresh(conn: asyncpg.Connection, index: CandidateIndex, *, full: bool = False) -> int:
    """Bring ``index`` up to the table (everything when ``full``); rows read. One
    repeatable-read snapshot: its xmin becomes the index's new horizon."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        horizon = await conn.fetchval(_HORIZON)
        rows = await conn.fetch(_CHANGED, "0" if full else index.horizon)
    if full:
        index.clear()
    for row in rows:
        index.upsert(row)
    index.horizon = str(horizon)
    return len(rows)
