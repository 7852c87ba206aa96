"""The pages' language: English (the source text) or Korean, one per request.

Chosen, first match wins, by the ``lang`` URL parameter (the visible switch sets it and
every link the page makes keeps it), the ``lang`` cookie (the switch's choice remembered
for a bare ``/``), then ``Accept-Language`` (negotiated by Babel), else English. Texts come
from the gettext catalog ``locale/ko/LC_MESSAGES/messages.mo`` (compiled from its ``.po``
by ``python -m api.web.catalog``); templates use ``{% trans %}``/``_()`` through Jinja2's
i18n extension, Python code :func:`N_` for constants and :class:`Text` for messages that
are built before the language is known (errors).
"""

from __future__ import annotations

import gettext as gettext_module
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from babel import negotiate_locale
from babel.dates import format_date
from babel.support import Translations
from jinja2 import pass_context
from jinja2.runtime import Context

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
SOURCE = "en"  # the msgids are the English text
LANGUAGES = {"en": "English", "ko": "한국어"}  # code -> the language's own name
PARAM = "lang"
COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
VARY = "Accept-Language, Cookie"
_DATE_FORMATS = {"en": "d MMM y", "ko": "long"}  # 27 Nov 2026 / 2026년 11월 27일


def N_(message: str) -> str:
    """Marks a constant for the catalog; it is translated where it is shown."""
    return message


@dataclass(frozen=True, slots=True)
class Text:
    """A message whose language is decided later: msgid plus its ``%(name)s`` values.

    ``str()`` is the English text (logs, JSON errors); :meth:`Lang.text` the page's."""

    msgid: str
    args: Mapping[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.msgid % self.args if self.args else self.msgid


@cache
def translations(code: str) -> gettext_module.NullTranslations:
    """The compiled catalog of ``code`` (English needs none: its msgids are the text)."""
    if code == SOURCE:
        return gettext_module.NullTranslations()
    return Translations.load(str(LOCALE_DIR), [code], DOMAIN)


@dataclass(frozen=True, slots=True)
class Lang:
    """The language of one response; ``explicit`` when the URL chose it (links keep it)."""

    code: str
    explicit: bool = False

    def gettext(self, message: str, **values: object) -> str:
        text = translations(self.code).gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: object) -> str:
        text = translations(self.code).ngettext(singular, plural, n)
        return text % {"num": n, **values}

    def text(self, message: Text) -> str:
        return self.gettext(message.msgid, **message.args)

    def date(self, when: datetime) -> str:
        return format_date(when, _DATE_FORMATS.get(self.code, "medium"), locale=self.code)

    def link(self, url: str) -> str:
        """``url`` keeping this language when the visitor chose it in the URL."""
        if not self.explicit or PARAM in dict(parse_qsl(url.partition("?")[2])):
            return url
        return url + ("&" if "?" in url else "?") + urlencode({PARAM: self.code})

    @property
    def name(self) -> str:
        return LANGUAGES[self.code]

    @property
    def others(self) -> list[str]:
        return [code for code in LANGUAGES if code != self.code]


ENGLISH = Lang(SOURCE)


def known(value: str) -> str | None:
    """The supported language a ``lang`` value names (``ko``, ``KO``, ``ko-KR``), or None."""
    base = value.strip().replace("_", "-").split("-", 1)[0].lower()
    return base if base in LANGUAGES else None


def from_accept_language(header: str | None) -> str | None:
    """The best supported language of an ``Accept-Language`` header (q-values honoured)."""
    if not header:
        return None
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, position, tag.strip()))
    preferred = [tag for _, _, tag in sorted(weighted)]
    found = negotiate_locale(preferred, list(LANGUAGES), sep="-")
    return found.lower() if found else None


def choose(url_values: Sequence[str], cookie: str | None, accept_language: str | None) -> Lang:
    """The response's language; a ``lang`` the site does not offer is ignored here (the
    search page's strict parser refuses it with a 400 page)."""
    for value in url_values:
        code = known(value)
        if code:
            return Lang(code, explicit=True)
    code = (known(cookie) if cookie else None) or from_accept_language(accept_language)
    return Lang(code or SOURCE)


def switch_url(path: str, query: Sequence[tuple[str, str]], code: str) -> str:
    """This page in language ``code``: the same path and parameters, ``lang`` replaced."""
    kept = [(k, v) for k, v in query if k != PARAM]
    return path + "?" + urlencode([*kept, (PARAM, code)])


def template_globals() -> dict[str, Any]:
    """gettext callables for Jinja2's i18n extension that read the render's ``lang``."""

    @pass_context
    def gettext(context: Context, message: str) -> str:
        return _of(context).gettext(message)

    @pass_context
    def ngettext(context: Context, singular: str, plural: str, n: int) -> str:
        return translations(_of(context).code).ngettext(singular, plural, n)

    return {"gettext": gettext, "ngettext": ngettext}


def _of(context: Context) -> Lang:
    lang = context.get("lang")
    return lang if isinstance(lang, Lang) else ENGLISH
