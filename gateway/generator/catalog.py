"""The data tables behind the generator: seniority levels, the :class:`Family` type (the
families themselves are in :mod:`gateway.generator.families`), places, companies, and the
sentence material for descriptions.

Everything here is plain, frozen data; :mod:`gateway.generator.generate` holds the logic.
Lists are written as ``"a | b | c"`` strings split by :func:`pipes` so a table stays one
readable block. Order matters: the generator indexes these tuples with a
seeded ``random.Random``, so reordering or editing an entry changes generated postings
(the same seed and index still always give the same posting within one version of this
file).

Skills are written in display case ("PostgreSQL") for descriptions; postings carry them
in the domain's canonical form (lower case, single spaces), see :func:`canonical_skill`.
Salaries are annual, full-time equivalent, in whole units of the city's currency:
``family.base_usd`` (a US mid-level figure) x ``seniority.pay`` x ``country.pay``
(local units per US dollar of a comparable salary, not an exchange rate) x ``city.pay``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


def pipes(text: str) -> tuple[str, ...]:
    """``"a | b | c"`` -> ``("a", "b", "c")``: keeps long tables compact and diff-friendly."""
    return tuple(part.strip() for part in text.split("|") if part.strip())


def canonical_skill(skill: str) -> str:
    """The form the domain stores (``schemas.domain.text.skill``) for our ASCII skills."""
    return " ".join(skill.lower().split())


# --- seniority ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Seniority:
    """A level: its title prefix, experience range, pay factor and how common it is."""

    key: str
    prefix: str  # prepended to a family's base title ("Senior "); interns use a suffix
    min_years: tuple[int, int]  # experience_min_years is drawn from this inclusive range
    span_years: tuple[int, int]  # experience_max_years = min + a draw from this range
    pay: float  # multiplier on the family's mid-level base salary
    weight: float  # relative frequency among postings
    english_shift: int  # senior people talk to more (international) stakeholders


SENIORITIES: tuple[Seniority, ...] = (
    Seniority("intern", "", (0, 0), (0, 1), 0.40, 5, 0),
    Seniority("junior", "Junior ", (0, 1), (2, 3), 0.68, 18, 0),
    Seniority("mid", "", (2, 3), (3, 4), 1.00, 33, 0),
    Seniority("senior", "Senior ", (5, 6), (3, 5), 1.32, 27, 1),
    Seniority("lead", "Lead ", (7, 8), (4, 7), 1.55, 10, 1),
    Seniority("principal", "Principal ", (10, 12), (5, 10), 1.80, 7, 1),
)
SENIORITY: Mapping[str, Seniority] = MappingProxyType({s.key: s for s in SENIORITIES})
LEVELS: tuple[str, ...] = tuple(s.key for s in SENIORITIES)


# --- work-mode and contract profiles ------------------------------------------------------

# (ONSITE, HYBRID, REMOTE) weights by how location-bound a family's work is.
REMOTE_PROFILES: Mapping[str, tuple[int, int, int]] = MappingProxyType(
    {
        "remote": (20, 42, 38),
        "hybrid": (35, 50, 15),
        "office": (60, 35, 5),
        "onsite": (92, 8, 0),
    }
)

# (FULL_TIME, PART_TIME, CONTRACT) weights for non-intern postings.
CONTRACT_PROFILES: Mapping[str, tuple[int, int, int]] = MappingProxyType(
    {
        "standard": (84, 6, 10),
        "freelance": (72, 6, 22),
        "shifts": (70, 26, 4),
        "flexible": (68, 20, 12),
    }
)


# --- role family type --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Family:
    """A role family: coherent titles, skills, duties and teams, and its market profile.

    ``core`` skills are the ones nearly every posting of the family asks for; ``extra``
    ones vary between postings. ``titles_by_level`` replaces the prefix-built titles for
    a level where real job boards use other words ("Charge Nurse", not "Lead Nurse").
    """

    key: str
    label: str
    titles: tuple[str, ...]
    core: tuple[str, ...]
    extra: tuple[str, ...]
    duties: tuple[str, ...]
    teams: tuple[str, ...]
    sectors: tuple[str, ...]
    base_usd: int
    remote: str = "hybrid"
    contract: str = "standard"
    english_shift: int = 0
    weight: float = 1.0
    levels: tuple[str, ...] = LEVELS
    intern_titles: tuple[str, ...] = ()
    titles_by_level: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def skills(self) -> frozenset[str]:
        """Every skill a posting of this family may list, in canonical form."""
        return frozenset(canonical_skill(s) for s in self.core + self.extra)

    @property
    def query(self) -> str:
        """A natural search phrase for this family (benchmarks and demos use it)."""
        return f"{self.titles[0]} with {self.core[0]} and {self.core[1]} experience"

    def level_titles(self, level: str) -> tuple[str, ...]:
        """The titles used for a level (without focus or country suffixes)."""
        if level in self.titles_by_level:
            return self.titles_by_level[level]
        if level == "intern":
            return self.intern_titles or tuple(f"{title} Intern" for title in self.titles)
        prefix = SENIORITY[level].prefix
        return tuple(prefix + title for title in self.titles)


# --- places ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Country:
    """A country: its currency, salary scale and the English a typical job there expects."""

    code: str  # ISO 3166-1 alpha-2
    name: str
    currency: str  # ISO 4217
    pay: float  # local currency units for one US dollar of comparable salary
    english: int  # typical requirement (EnglishLevel value); 6 = English-speaking country
    gendered_titles: bool = False  # German-speaking boards add "(m/f/d)" to titles


@dataclass(frozen=True, slots=True)
class City:
    """A city, its country code and a local pay adjustment; ``weight`` = share of jobs."""

    name: str
    country: str
    pay: float
    weight: float


COUNTRIES: tuple[Country, ...] = (
    Country("US", "the United States", "USD", 1.0, 6),
    Country("GB", "the United Kingdom", "GBP", 0.56, 6),
    Country("IE", "Ireland", "EUR", 0.62, 6),
    Country("CA", "Canada", "CAD", 0.95, 6),
    Country("AU", "Australia", "AUD", 1.05, 6),
    Country("NZ", "New Zealand", "NZD", 1.05, 6),
    Country("DE", "Germany", "EUR", 0.58, 3, gendered_titles=True),
    Country("AT", "Austria", "EUR", 0.52, 3, gendered_titles=True),
    Country("CH", "Switzerland", "CHF", 0.90, 3, gendered_titles=True),
    Country("FR", "France", "EUR", 0.48, 3),
    Country("NL", "the Netherlands", "EUR", 0.58, 4),
    Country("ES", "Spain", "EUR", 0.36, 3),
    Country("PT", "Portugal", "EUR", 0.30, 3),
    Country("IT", "Italy", "EUR", 0.38, 3),
    Country("SE", "Sweden", "SEK", 5.2, 4),
    Country("DK", "Denmark", "DKK", 4.6, 4),
    Country("NO", "Norway", "NOK", 6.4, 4),
    Country("PL", "Poland", "PLN", 1.45, 3),
    Country("CZ", "Czechia", "CZK", 11.5, 3),
    Country("EE", "Estonia", "EUR", 0.36, 4),
    Country("IN", "India", "INR", 14.0, 4),
    Country("SG", "Singapore", "SGD", 1.05, 5),
    Country("JP", "Japan", "JPY", 68.0, 2),
    Country("KR", "South Korea", "KRW", 520.0, 2),
    Country("AE", "the United Arab Emirates", "AED", 2.9, 5),
    Country("IL", "Israel", "ILS", 2.9, 4),
    Country("BR", "Brazil", "BRL", 1.25, 2),
    Country("MX", "Mexico", "MXN", 8.5, 2),
    Country("ZA", "South Africa", "ZAR", 6.5, 5),
)
COUNTRY: Mapping[str, Country] = MappingProxyType({c.code: c for c in COUNTRIES})

CITIES: tuple[City, ...] = (
    City("San Francisco", "US", 1.25, 4),
    City("New York", "US", 1.20, 5),
    City("Seattle", "US", 1.15, 3),
    City("Austin", "US", 0.97, 3),
    City("Boston", "US", 1.10, 2.5),
    City("Chicago", "US", 1.00, 3),
    City("Denver", "US", 0.96, 2),
    City("Atlanta", "US", 0.92, 2),
    City("London", "GB", 1.15, 5),
    City("Manchester", "GB", 0.90, 2),
    City("Edinburgh", "GB", 0.92, 1.5),
    City("Bristol", "GB", 0.92, 1.5),
    City("Dublin", "IE", 1.05, 3),
    City("Cork", "IE", 0.92, 1),
    City("Toronto", "CA", 1.05, 3),
    City("Vancouver", "CA", 1.05, 2),
    City("Montreal", "CA", 0.95, 1.5),
    City("Sydney", "AU", 1.05, 2.5),
    City("Melbourne", "AU", 1.00, 2),
    City("Brisbane", "AU", 0.95, 1),
    City("Auckland", "NZ", 1.00, 1),
    City("Berlin", "DE", 1.00, 4),
    City("Munich", "DE", 1.10, 3),
    City("Hamburg", "DE", 1.00, 2),
    City("Frankfurt", "DE", 1.05, 2),
    City("Vienna", "AT", 1.00, 1.5),
    City("Zürich", "CH", 1.05, 1.5),
    City("Geneva", "CH", 1.00, 1),
    City("Paris", "FR", 1.10, 3.5),
    City("Lyon", "FR", 0.92, 1),
    City("Amsterdam", "NL", 1.05, 3),
    City("Rotterdam", "NL", 0.95, 1),
    City("Madrid", "ES", 1.05, 2),
    City("Barcelona", "ES", 1.05, 2),
    City("Lisbon", "PT", 1.05, 2),
    City("Porto", "PT", 0.95, 1),
    City("Milan", "IT", 1.05, 1.5),
    City("Stockholm", "SE", 1.05, 2),
    City("Gothenburg", "SE", 0.95, 1),
    City("Copenhagen", "DK", 1.00, 1.5),
    City("Oslo", "NO", 1.00, 1),
    City("Warsaw", "PL", 1.05, 2),
    City("Kraków", "PL", 0.95, 1.5),
    City("Wrocław", "PL", 0.93, 1),
    City("Prague", "CZ", 1.00, 1.5),
    City("Tallinn", "EE", 1.00, 1),
    City("Bengaluru", "IN", 1.10, 3),
    City("Hyderabad", "IN", 1.00, 2),
    City("Pune", "IN", 0.95, 1.5),
    City("Singapore", "SG", 1.00, 2.5),
    City("Tokyo", "JP", 1.05, 2.5),
    City("Osaka", "JP", 0.95, 1),
    City("Seoul", "KR", 1.00, 1.5),
    City("Dubai", "AE", 1.00, 1.5),
    City("Tel Aviv", "IL", 1.00, 1.5),
    City("São Paulo", "BR", 1.05, 2),
    City("Rio de Janeiro", "BR", 0.95, 1),
    City("Mexico City", "MX", 1.05, 1.5),
    City("Guadalajara", "MX", 0.95, 1),
    City("Cape Town", "ZA", 1.00, 1),
    City("Johannesburg", "ZA", 1.00, 1),
)


# --- companies ---------------------------------------------------------------------------

# Name parts by sector; names are the cross product, shuffled once with a fixed seed and cut
# to COMPANIES_PER_SECTOR so the list is stable, varied and a few hundred long.
_COMPANY_PARTS: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = MappingProxyType(
    {
        "tech": (
            pipes(
                "Nimbus | Bluefin | Quanta | Brightpath | Lumen | Vertex | Cobalt | Helix"
                " | Pixelwise | Orbital | Stratus | Novaline | Kitestring | Zenith | Atlas"
                " | Emberly | Silverline | Juniper | Polaris | Beacon | Tandem | Mosaic"
                " | Prism | Quillon | Sparrow | Tessera | Waypoint | Driftwood | Lattice"
            ),
            pipes("Labs | Systems | Technologies | Software | Analytics | AI | Cloud | Data"),
        ),
        "finance": (
            pipes(
                "Sterling | Crestview | Ironbridge | Goldleaf | Meridian | Pinnacle | Whitmore"
                " | Ashcombe | Harrington | Kingsley | Northbank | Fairhaven | Oakmont"
                " | Blackrose | Clearwater | Highgate"
            ),
            pipes(
                "Capital | Financial | Bank | Insurance | Asset Management | Payments | Partners"
            ),
        ),
        "health": (
            pipes(
                "Riverside | Saint Catherine's | Oakwood | Lakeshore | Northgate | Meadowbrook"
                " | Hillcrest | Westfield | Maple Grove | Bayview | Greenwood | Kingsbridge"
                " | Ashford | Fairview | Willowbank | Elmstead"
            ),
            pipes("Hospital | Medical Center | Health | Clinic | Care Group"),
        ),
        "pharmacy": (
            pipes(
                "Greenleaf | Wellspring | Parkside | Rowan | Hawthorn | Cornerstone | Bridgeview"
                " | Lakeside | Millbrook | Orchard | Silverbirch | Westbrook"
            ),
            pipes("Pharmacy | Pharmacies | Chemists | Pharmacy Group"),
        ),
        "education": (
            pipes(
                "Riverside | Oakwood | Hillcrest | Westfield | Greenwood | Kingsbridge"
                " | Ashford | Fairview | Willowbank | Elmstead | Brookfield | Linden"
                " | Harbourside | Southgate"
            ),
            pipes("Academy | School | College | International School | Learning Trust"),
        ),
        "industrial": (
            pipes(
                "Forgeline | Ironclad | Titan | Keystone | Granite | Steelhead | Northstar"
                " | Redwood | Vulcan | Bridgewater | Copperfield | Apex | Dynamo | Ridgeway"
            ),
            pipes(
                "Industries | Manufacturing | Engineering | Automotive | Aerospace | Energy"
                " | Robotics | Construction"
            ),
        ),
        "consumer": (
            pipes(
                "Harvest | Bramble | Sunny Lane | Marigold | Urban Nest | Fresh Fields"
                " | Pebble | Cotton & Co | Larkspur | Wildflower | Homestead | Bluebell"
                " | Copper Kettle | Parcelpoint"
            ),
            pipes("Retail | Foods | Brands | Logistics | Market | Apparel | Home"),
        ),
        "services": (
            pipes(
                "Calloway | Thornton | Bellamy | Ashworth | Lindqvist | Okafor | Moreau"
                " | Castellano | Novak | Brightwater | Halden | Everly | Rosewood | Vance"
            ),
            pipes("Consulting | Group | Partners | Agency | Media | Studio | Advisory"),
        ),
        "games": (
            pipes(
                "Pixel Forge | Moonlit | Red Kite | Ninefold | Paper Crane | Starfall"
                " | Hollow Oak | Tiny Titan | Lucid | Ironwolf | Bright Lantern | Dragonfly"
            ),
            pipes("Studios | Games | Interactive | Entertainment"),
        ),
    }
)
COMPANIES_PER_SECTOR = 60


def _companies(sector: str) -> tuple[str, ...]:
    firsts, seconds = _COMPANY_PARTS[sector]
    names = [f"{first} {second}" for first in firsts for second in seconds]
    random.Random(f"jobstream-companies:{sector}").shuffle(names)
    return tuple(names[:COMPANIES_PER_SECTOR])


COMPANIES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {sector: _companies(sector) for sector in _COMPANY_PARTS}
)
SECTORS: tuple[str, ...] = tuple(_COMPANY_PARTS)


# --- description material ----------------------------------------------------------------

# How a company of a sector describes itself ("We are {about}.").
SECTOR_ABOUT: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "tech": pipes(
            "a fast-growing software company | a B2B SaaS scale-up"
            " | a product company building tools for developers"
            " | an established enterprise software vendor | a venture-backed startup"
        ),
        "finance": pipes(
            "a digital bank | an insurance group modernising its products"
            " | an investment firm | a payments provider | a wealth management firm"
        ),
        "health": pipes(
            "a regional hospital group | a community healthcare provider"
            " | a network of outpatient clinics | a teaching hospital"
        ),
        "pharmacy": pipes(
            "a community pharmacy chain | an independent pharmacy group"
            " | a family-run group of pharmacies"
        ),
        "education": pipes(
            "an independent school | a state-funded school | an international school"
            " | a multi-academy trust"
        ),
        "industrial": pipes(
            "a manufacturer of industrial equipment | an engineering consultancy"
            " | an automotive supplier | a renewable energy company | a construction group"
        ),
        "consumer": pipes(
            "an online retailer | a consumer goods brand | a logistics company"
            " | a food delivery platform | a family-owned retail chain"
        ),
        "services": pipes(
            "a consulting firm | a creative agency | a professional services firm"
            " | a media company | a boutique advisory firm"
        ),
        "games": pipes(
            "an independent game studio | a mobile games publisher"
            " | a studio working on a cross-platform multiplayer title"
        ),
    }
)

# A second sentence about the company, by sector.
SECTOR_MISSION: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "tech": pipes(
            "Our products are used by thousands of businesses every day."
            " | We ship small changes often and care about well-tested code."
            " | We have grown from ten to two hundred people in four years."
        ),
        "finance": pipes(
            "We help our customers manage their money with confidence."
            " | We combine decades of experience with modern technology."
            " | We are regulated, profitable and growing steadily."
        ),
        "health": pipes(
            "We care for patients from across the region every day."
            " | Our teams are known for compassionate, high-quality care."
            " | We invest in the training and wellbeing of our staff."
        ),
        "pharmacy": pipes(
            "We serve thousands of patients in our local communities every week."
            " | Our pharmacists are trusted advisers to patients and local doctors."
            " | We are expanding our clinical services in every branch."
        ),
        "education": pipes(
            "We believe every student can succeed with the right support."
            " | Our school is known for its friendly, inclusive community."
            " | Our students achieve excellent results year after year."
        ),
        "industrial": pipes(
            "Our products run in factories and plants around the world."
            " | We combine engineering craftsmanship with modern tooling."
            " | We are investing heavily in cleaner, more efficient technology."
        ),
        "consumer": pipes(
            "Millions of customers shop with us every year."
            " | We are obsessed with quality and customer experience."
            " | Our brands are found in thousands of stores across the country."
        ),
        "services": pipes(
            "We work with some of the best-known brands in the market."
            " | Our clients range from startups to global enterprises."
            " | We are a small, senior team that values craft and trust."
        ),
        "games": pipes(
            "Our games are played by millions of players worldwide."
            " | We are a team of players making games we love."
            " | Our last title was nominated for several industry awards."
        ),
    }
)

BENEFITS: tuple[str, ...] = pipes(
    "a generous learning budget | flexible working hours | private health insurance"
    " | 28 days of paid holiday | a yearly team retreat | a pension plan with employer"
    " contributions | parental leave above the legal minimum | a home-office allowance"
    " | a public transport pass | a wellbeing budget | paid volunteering days"
    " | a modern office in the city centre | regular team lunches | a sabbatical scheme"
    " | an annual performance bonus | relocation support"
)
TECH_BENEFITS: tuple[str, ...] = pipes(
    "stock options | the latest hardware of your choice | a conference budget"
    " | dedicated time for open-source work"
)

CLOSINGS: tuple[str, ...] = pipes(
    "If this sounds like you, we would love to hear from you."
    " | Apply with your CV and a short note about work you are proud of."
    " | We welcome applicants from all backgrounds and are happy to discuss adjustments."
    " | Our hiring process has three short steps and usually takes two weeks."
    " | Even if you do not tick every box, we would like to hear from you."
)

ENGLISH_PHRASES: Mapping[int, str] = MappingProxyType(
    {4: "business-level", 5: "fluent", 6: "native or near-native"}
)
