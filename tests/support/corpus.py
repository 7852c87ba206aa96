"""The API tests' fixed corpus: ~40 postings in a few clearly separated role families, so
real MiniLM embeddings rank known queries predictably, and with varied filterable fields so
every filter has matches and non-matches; plus the documented filter semantics in Python.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

BASE_DATE = datetime(2026, 10, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Doc:
    """One corpus posting (the fields the filters look at, plus text)."""

    id: str
    family: str
    title: str
    skills: tuple[str, ...]
    description: str
    country: str = "DE"
    city: str = "Berlin"
    remote: str = "HYBRID"
    employment: str = "FULL_TIME"
    exp: tuple[int, int] = (2, 5)
    english: str = "BUSINESS"
    salary: tuple[int, int, str] | None = (60_000, 80_000, "EUR")
    days: int = 0  # posted BASE_DATE + days
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def posted_at(self) -> datetime:
        return BASE_DATE + timedelta(days=self.days)

    def input(self, version: int = 1, **changes: Any) -> dict[str, Any]:
        """The GraphQL PostingInput of this posting."""
        out: dict[str, Any] = {
            "id": self.id,
            "version": version,
            "title": self.title,
            "company": f"{self.family.title()} Co",
            "city": self.city,
            "countryCode": self.country,
            "remoteMode": self.remote,
            "employmentType": self.employment,
            "experienceMinYears": self.exp[0],
            "experienceMaxYears": self.exp[1],
            "englishLevel": self.english,
            "skills": list(self.skills),
            "salary": None
            if self.salary is None
            else {"min": self.salary[0], "max": self.salary[1], "currency": self.salary[2]},
            "description": self.description,
            "postedAt": self.posted_at.isoformat(),
        }
        out.update(changes)
        return out


def _docs() -> list[Doc]:
    d = Doc
    return [
        # python backend
        d(
            "py-1",
            "python",
            "Senior Python Backend Engineer",
            ("python", "django", "postgresql"),
            "Design and build REST APIs and backend services in Python with Django.",
            exp=(5, 8),
            english="FLUENT",
            salary=(80_000, 100_000, "EUR"),
            days=1,
        ),
        d(
            "py-2",
            "python",
            "Python Backend Developer",
            ("python", "fastapi", "sql"),
            "Develop backend microservices in Python using FastAPI and PostgreSQL.",
            country="PL",
            city="Warsaw",
            remote="REMOTE",
            salary=(15_000, 22_000, "PLN"),
            days=2,
        ),
        d(
            "py-3",
            "python",
            "Backend Software Engineer (Python)",
            ("python", "flask", "redis"),
            "Python server-side development: APIs, background jobs, databases.",
            country="GB",
            city="London",
            salary=(70_000, 90_000, "GBP"),
            days=3,
            english="NATIVE",
        ),
        d(
            "py-4",
            "python",
            "Junior Python Developer",
            ("python", "django"),
            "Join our backend team writing Python web services.",
            exp=(0, 2),
            english="CONVERSATIONAL",
            salary=(40_000, 50_000, "EUR"),
            days=4,
        ),
        d(
            "py-5",
            "python",
            "Lead Python Backend Architect",
            ("python", "kafka", "postgresql"),
            "Lead the architecture of Python backend systems and event streaming.",
            exp=(10, 15),
            remote="REMOTE",
            country="US",
            city="Austin",
            salary=(170_000, 210_000, "USD"),
            days=5,
            english="NATIVE",
        ),
        # frontend
        d(
            "fe-1",
            "frontend",
            "Senior React Frontend Developer",
            ("react", "typescript", "css"),
            "Build user interfaces for our web app with React and TypeScript.",
            days=6,
        ),
        d(
            "fe-2",
            "frontend",
            "Frontend Engineer (Vue.js)",
            ("vue", "javascript", "html"),
            "Create responsive web frontends with Vue.js.",
            country="PL",
            city="Krakow",
            salary=(12_000, 18_000, "PLN"),
            days=7,
        ),
        d(
            "fe-3",
            "frontend",
            "UI Developer React",
            ("react", "javascript"),
            "Develop reusable React components and design systems.",
            remote="REMOTE",
            employment="CONTRACT",
            salary=None,
            days=8,
        ),
        d(
            "fe-4",
            "frontend",
            "Angular Frontend Developer",
            ("angular", "typescript"),
            "Maintain Angular single page applications.",
            country="FR",
            city="Paris",
            salary=(45_000, 55_000, "EUR"),
            days=9,
        ),
        # data science / ML
        d(
            "ds-1",
            "data",
            "Data Scientist",
            ("python", "pandas", "statistics"),
            "Analyse data, build statistical models and machine learning experiments.",
            days=10,
            english="FLUENT",
        ),
        d(
            "ds-2",
            "data",
            "Machine Learning Engineer",
            ("pytorch", "python", "mlops"),
            "Train and deploy deep learning models to production.",
            country="US",
            city="Seattle",
            salary=(150_000, 190_000, "USD"),
            remote="REMOTE",
            days=11,
        ),
        d(
            "ds-3",
            "data",
            "Data Analyst",
            ("sql", "tableau", "excel"),
            "Build dashboards and reports to answer business questions with data.",
            exp=(1, 3),
            days=12,
            employment="PART_TIME",
        ),
        d(
            "ds-4",
            "data",
            "NLP Research Scientist",
            ("nlp", "transformers", "python"),
            "Research natural language processing and large language models.",
            exp=(5, 10),
            english="NATIVE",
            country="GB",
            city="Cambridge",
            salary=None,
            days=13,
        ),
        # devops / SRE
        d(
            "ops-1",
            "devops",
            "DevOps Engineer Kubernetes",
            ("kubernetes", "terraform", "aws"),
            "Run our Kubernetes clusters and infrastructure as code on AWS.",
            days=14,
        ),
        d(
            "ops-2",
            "devops",
            "Site Reliability Engineer",
            ("linux", "prometheus", "kubernetes"),
            "Keep production reliable: monitoring, on-call, incident response.",
            remote="REMOTE",
            country="NL",
            city="Amsterdam",
            days=15,
        ),
        d(
            "ops-3",
            "devops",
            "Cloud Infrastructure Engineer",
            ("azure", "ansible", "docker"),
            "Automate cloud infrastructure and CI/CD pipelines.",
            employment="CONTRACT",
            salary=(600, 800, "EUR"),
            days=16,
        ),
        d(
            "ops-4",
            "devops",
            "Platform Engineer",
            ("kubernetes", "go", "helm"),
            "Build the internal developer platform on Kubernetes.",
            country="PL",
            city="Warsaw",
            salary=(20_000, 28_000, "PLN"),
            days=17,
        ),
        # mobile
        d(
            "mob-1",
            "mobile",
            "iOS Developer",
            ("swift", "ios", "xcode"),
            "Build native iPhone apps in Swift.",
            days=18,
        ),
        d(
            "mob-2",
            "mobile",
            "Android Developer",
            ("kotlin", "android"),
            "Develop Android apps in Kotlin.",
            country="ES",
            city="Madrid",
            salary=(40_000, 50_000, "EUR"),
            days=19,
        ),
        d(
            "mob-3",
            "mobile",
            "Flutter Mobile Engineer",
            ("flutter", "dart"),
            "Cross-platform mobile apps with Flutter.",
            remote="REMOTE",
            days=20,
        ),
        # healthcare
        d(
            "med-1",
            "health",
            "Registered Nurse",
            ("patient care", "nursing"),
            "Provide patient care on a hospital ward; nursing shifts including nights.",
            remote="ONSITE",
            english="BASIC",
            salary=(38_000, 45_000, "EUR"),
            days=21,
        ),
        d(
            "med-2",
            "health",
            "Intensive Care Nurse",
            ("icu", "nursing"),
            "Care for critically ill patients in the intensive care unit of a hospital.",
            remote="ONSITE",
            city="Munich",
            english="BASIC",
            days=22,
        ),
        d(
            "med-3",
            "health",
            "Pharmacist",
            ("pharmacy", "medication"),
            "Dispense medication and advise patients in a community pharmacy.",
            remote="ONSITE",
            country="AT",
            city="Vienna",
            english="NONE",
            salary=None,
            days=23,
        ),
        # finance
        d(
            "fin-1",
            "finance",
            "Accountant",
            ("accounting", "bookkeeping", "excel"),
            "Prepare financial statements, bookkeeping and tax returns.",
            remote="ONSITE",
            city="Hamburg",
            days=24,
        ),
        d(
            "fin-2",
            "finance",
            "Financial Controller",
            ("controlling", "sap"),
            "Budgeting, forecasting and monthly closing.",
            exp=(6, 10),
            days=25,
        ),
        d(
            "fin-3",
            "finance",
            "Tax Advisor",
            ("tax", "accounting"),
            "Advise clients on corporate tax law.",
            remote="ONSITE",
            country="CH",
            city="Zurich",
            salary=(100_000, 130_000, "CHF"),
            days=26,
        ),
        # sales / marketing
        d(
            "mkt-1",
            "marketing",
            "Digital Marketing Manager",
            ("seo", "sem", "analytics"),
            "Plan online marketing campaigns, SEO and paid advertising.",
            days=27,
        ),
        d(
            "mkt-2",
            "marketing",
            "Sales Representative",
            ("b2b sales", "crm"),
            "Sell our products to business customers and grow accounts.",
            remote="ONSITE",
            employment="FULL_TIME",
            exp=(0, 3),
            english="CONVERSATIONAL",
            days=28,
        ),
        d(
            "mkt-3",
            "marketing",
            "Content Writer",
            ("copywriting", "seo"),
            "Write blog posts and website content.",
            employment="PART_TIME",
            remote="REMOTE",
            salary=None,
            days=29,
        ),
        # java
        d(
            "jv-1",
            "java",
            "Java Backend Developer",
            ("java", "spring", "microservices"),
            "Build backend microservices with Java and Spring Boot.",
            days=30,
        ),
        d(
            "jv-2",
            "java",
            "Senior Kotlin/Java Engineer",
            ("kotlin", "java", "spring"),
            "JVM backend services with Spring.",
            exp=(5, 9),
            country="DE",
            city="Munich",
            days=31,
        ),
        # design
        d(
            "ux-1",
            "design",
            "UX Designer",
            ("figma", "user research"),
            "Design user experiences, wireframes and prototypes in Figma.",
            days=32,
        ),
        d(
            "ux-2",
            "design",
            "Graphic Designer",
            ("photoshop", "illustrator"),
            "Create visual designs for print and brand campaigns.",
            remote="ONSITE",
            employment="INTERNSHIP",
            exp=(0, 1),
            salary=(1_000, 1_500, "EUR"),
            days=33,
        ),
        # education
        d(
            "edu-1",
            "education",
            "Primary School Teacher",
            ("teaching", "pedagogy"),
            "Teach children in a primary school classroom.",
            remote="ONSITE",
            english="BASIC",
            salary=(45_000, 55_000, "EUR"),
            days=34,
        ),
        d(
            "edu-2",
            "education",
            "English Teacher",
            ("teaching", "english"),
            "Teach English as a foreign language to adults.",
            english="NATIVE",
            employment="PART_TIME",
            country="PL",
            city="Gdansk",
            days=35,
        ),
        # logistics
        d(
            "log-1",
            "logistics",
            "Truck Driver",
            ("driving licence ce", "logistics"),
            "Deliver goods across Europe with a heavy truck.",
            remote="ONSITE",
            english="NONE",
            exp=(1, 5),
            salary=(30_000, 36_000, "EUR"),
            days=36,
        ),
        d(
            "log-2",
            "logistics",
            "Warehouse Operative",
            ("forklift", "picking"),
            "Pick and pack orders in our warehouse.",
            remote="ONSITE",
            english="NONE",
            employment="PART_TIME",
            exp=(0, 1),
            days=37,
        ),
        # hospitality
        d(
            "hos-1",
            "hospitality",
            "Chef de Cuisine",
            ("cooking", "menu planning"),
            "Lead our restaurant kitchen and design seasonal menus.",
            remote="ONSITE",
            english="CONVERSATIONAL",
            city="Hamburg",
            days=38,
        ),
        d(
            "hos-2",
            "hospitality",
            "Hotel Receptionist",
            ("front desk", "customer service"),
            "Welcome guests at the hotel front desk.",
            remote="ONSITE",
            country="ES",
            city="Barcelona",
            english="FLUENT",
            exp=(0, 2),
            days=39,
        ),
    ]


CORPUS: list[Doc] = _docs()
BY_ID: dict[str, Doc] = {doc.id: doc for doc in CORPUS}
PYTHON_BACKEND = {"py-1", "py-2", "py-3", "py-5"}  # py-4 is junior, still python backend


def matches(doc: Doc, f: dict[str, Any]) -> bool:
    """The documented PostingFilter semantics, computed in Python for the corpus."""
    lo, hi = f.get("experienceMinYears"), f.get("experienceMaxYears")
    if lo is not None and doc.exp[1] < lo:
        return False
    if hi is not None and doc.exp[0] > hi:
        return False
    checks: list[tuple[str, Callable[[Any], bool]]] = [
        ("englishLevels", lambda v: doc.english in v),
        ("remoteModes", lambda v: doc.remote in v),
        ("employmentTypes", lambda v: doc.employment in v),
        ("countryCode", lambda v: doc.country == v.upper()),
        ("city", lambda v: doc.city.lower() == v.lower()),
        ("skillsAll", lambda v: {s.lower() for s in v} <= set(doc.skills)),
        ("skillsAny", lambda v: bool({s.lower() for s in v} & set(doc.skills))),
        ("salaryMin", lambda v: doc.salary is not None and doc.salary[1] >= v),
        ("currency", lambda v: doc.salary is not None and doc.salary[2] == v),
        (
            "postedAfter",
            lambda v: doc.posted_at > datetime.fromisoformat(v),
        ),
    ]
    return all(check(f[name]) for name, check in checks if f.get(name) is not None)
