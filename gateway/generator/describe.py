"""Compose a posting's description: 3-8 English sentences from templates.

Always an intro (role, company, team), one or two sentences of duties and the
requirements (experience, core skills); then a random subset of: what the company does,
nice-to-have skills, work mode, contract terms, English, pay, benefits and a closing line.
Sentences never contain an inner ". " so a naive splitter counts them right.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from gateway.generator import catalog as C
from gateway.generator.catalog import City, Country, Family

MAX_SENTENCES = 8

_INTROS = C.pipes(
    "{company} is looking for {a_title} to join the {team} team in {city}."
    " | At {company}, the {team} team is hiring {a_title}."
    " | We are {about}, and we are hiring {a_title} for our {team} team."
    " | {company}, {about}, is hiring {a_title} in {city}."
    " | Join {company} as {a_title} and help shape the work of our {team} team."
)
_DUTIES_ONE = C.pipes(
    "You will {d1} and {d2}. | In this role you will {d1}, {d2} and {d3}."
    " | Day to day, you will {d1} and {d2}. | Your main job is to {d1}."
)
_DUTIES_TWO = C.pipes(
    "You will also {d1}. | Beyond that, you will {d1}. | On top of that, you will {d1}."
)
_REQUIREMENTS = C.pipes(
    "We are looking for someone with {exp} and solid knowledge of {skills}."
    " | You bring {exp} and are comfortable with {skills}."
    " | The ideal candidate has {exp} working with {skills}."
    " | You should have {exp} and hands-on skills in {skills}."
)
_INTERN_REQUIREMENTS = C.pipes(
    "No previous experience is required, but you should be curious about {skills}."
    " | You are a student or recent graduate with a keen interest in {skills}."
    " | This is a great first step if you have studied or tinkered with {skills}."
)
_NICE = C.pipes(
    "Experience with {skills} is a plus. | Bonus points for familiarity with {skills}."
    " | Knowledge of {skills} would be a strong advantage."
)
_WORK = {
    "REMOTE": C.pipes(
        "This is a fully remote role, open to candidates anywhere in {country}."
        " | The role is remote-first, with an optional office in {city}."
    ),
    "HYBRID": C.pipes(
        "We work in a hybrid model, with two or three days a week at our {city} office."
        " | This hybrid role combines working from home with regular days in {city}."
    ),
    "ONSITE": C.pipes(
        "This role is based on site in {city}. | You will work on site at our {city} location."
    ),
}
_CONTRACT = {
    "CONTRACT": "This is a {months}-month contract with a good chance of extension.",
    "PART_TIME": "This is a part-time position of around {hours} hours a week.",
    "INTERNSHIP": "The paid internship lasts {months} months and can lead to a permanent offer.",
    "FULL_TIME": "This is a permanent, full-time position.",
}
_BENEFITS = C.pipes(
    "We offer {b1}, {b2} and {b3}. | Benefits include {b1} and {b2}."
    " | On top of your salary, you get {b1}, {b2} and {b3}."
)
_TECH_SECTORS = ("tech", "games")


def describe(
    rng: random.Random,
    *,
    family: Family,
    sector: str,
    company: str,
    team: str,
    title: str,
    city: City,
    country: Country,
    remote: str,
    employment: str,
    english: int,
    years: tuple[int, int],
    core: list[str],
    extra: list[str],
    salary: dict[str, Any] | None,
    intern: bool,
) -> str:
    """3-8 sentences: intro, duties and requirements always; then a random subset of the
    company, nice-to-haves, work mode, contract, English, pay, benefits and a closing."""
    about = rng.choice(C.SECTOR_ABOUT[sector])
    intro = rng.choice(_INTROS).format(
        company=company, a_title=_a(title), team=team, city=city.name, about=about
    )
    duties = rng.sample(family.duties, min(3, len(family.duties)))
    duty_lines = [rng.choice(_DUTIES_ONE).format(d1=duties[0], d2=duties[1], d3=duties[-1])]
    if len(family.duties) > 3 and rng.random() < 0.4:
        spare = [d for d in family.duties if d not in duties]
        duty_lines.append(rng.choice(_DUTIES_TWO).format(d1=rng.choice(spare)))
    asked = _join(core[:3])
    if intern:
        requirement = rng.choice(_INTERN_REQUIREMENTS).format(skills=asked)
    else:
        requirement = rng.choice(_REQUIREMENTS).format(exp=_experience(*years), skills=asked)

    optional: list[tuple[int, str]] = []  # (slot order, sentence)
    if rng.random() < 0.35:
        optional.append((0, rng.choice(C.SECTOR_MISSION[sector])))
    if rng.random() < 0.45:
        optional.append((1, rng.choice(_NICE).format(skills=_join(extra[:2]))))
    if rng.random() < 0.5:
        sentence = rng.choice(_WORK[remote]).format(city=city.name, country=country.name)
        optional.append((2, sentence))
    if employment != "FULL_TIME" or rng.random() < 0.15:
        months, hours = rng.choice((3, 6, 6, 9, 12)), rng.choice((16, 20, 24, 30))
        optional.append((3, _CONTRACT[employment].format(months=months, hours=hours)))
    if country.english != 6 and english >= 4 and rng.random() < 0.5:
        phrase = C.ENGLISH_PHRASES[english]
        optional.append((4, f"Our team works in English, so {phrase} English is required."))
    if salary is not None and rng.random() < 0.3:
        optional.append((5, _pay_sentence(salary)))
    if rng.random() < 0.6:
        pool = C.BENEFITS + C.TECH_BENEFITS if sector in _TECH_SECTORS else C.BENEFITS
        b1, b2, b3 = rng.sample(pool, 3)
        optional.append((6, rng.choice(_BENEFITS).format(b1=b1, b2=b2, b3=b3)))
    if rng.random() < 0.4:
        optional.append((7, rng.choice(C.CLOSINGS)))

    room = MAX_SENTENCES - 2 - len(duty_lines)
    while len(optional) > room:
        optional.pop(rng.randrange(len(optional)))
    head = [intro] + [s for slot, s in optional if slot == 0]
    tail = [s for slot, s in optional if slot > 0]
    return " ".join([*head, *duty_lines, requirement, *tail])


def _a(title: str) -> str:
    """Title with its indefinite article: "an iOS Developer", "a UX Designer", "an HR ..."."""
    first = title.split()[0]
    if first.isupper() and len(first) > 1:  # an initialism is read letter by letter
        vowel_sound = first[0] in "AEFHILMNORSX"
    else:
        vowel_sound = first[0].lower() in "aeiou" and not first.lower().startswith(("uni", "use"))
    return f"{'an' if vowel_sound else 'a'} {title}"


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def _experience(low: int, high: int) -> str:
    if high == 0:
        return "no prior professional experience"
    if low == 0:
        return f"up to {high} {'year' if high == 1 else 'years'} of experience"
    return (
        f"{low} to {high} years of experience" if high - low <= 3 else f"{low}+ years of experience"
    )


def _pay_sentence(salary: dict[str, Any]) -> str:
    return (
        f"The salary range is {salary['min']:,} to {salary['max']:,} "
        f"{salary['currency']} a year, depending on experience."
    )
