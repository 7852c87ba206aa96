"""The web UI's gettext catalog: extract the texts, update the ``.po`` files, compile ``.mo``.

``python -m api.web.catalog`` after changing a text in a template or in api/web/*.py:
it extracts every message (Jinja2's ``{% trans %}``/``_()``, Python's ``N_``/``Text``/
``gettext``) into ``locale/messages.pot``, merges it into each ``locale/<lang>/LC_MESSAGES/
messages.po`` (new texts arrive untranslated, to be written by hand), and compiles the
``.mo`` the server loads. The compiled files are committed, so a checkout runs as is; a
unit test checks that each ``.mo`` is its ``.po`` and that no text lacks a translation.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from api.web.i18n import DOMAIN, LANGUAGES, LOCALE_DIR, SOURCE

WEB_DIR = Path(__file__).resolve().parent
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "N_": None,
    "Text": None,  # Text("msgid", {...}): the first argument
}
METHODS = [
    ("**.py", "python"),
    ("templates/**.html", "jinja2.ext:babel_extract"),
]
OPTIONS = {"templates/**.html": {"trimmed": "true", "extensions": ""}}


def extract() -> Catalog:
    """Every message the pages can show, with where it is used."""
    template = Catalog(project="JobStream web UI", domain=DOMAIN, locale=SOURCE)
    found = extract_from_dir(
        WEB_DIR,
        method_map=METHODS,
        options_map=OPTIONS,
        keywords=KEYWORDS,
        comment_tags=("Translators:",),
        strip_comment_tags=True,
    )
    for filename, lineno, message, comments, context in found:
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def po_path(code: str) -> Path:
    return LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"


def read(code: str) -> Catalog:
    with po_path(code).open("rb") as f:
        return read_po(f, locale=code, domain=DOMAIN)


def compiled(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def translated(message: Message) -> bool:
    """True when every plural form of ``message`` has a translation that is not fuzzy."""
    forms = message.string if isinstance(message.string, tuple) else (message.string,)
    return all(forms) and not message.fuzzy


def update() -> list[str]:
    """Write the template, merge it into every language, compile; the untranslated ids."""
    template = extract()
    LOCALE_DIR.mkdir(exist_ok=True)
    with (LOCALE_DIR / f"{DOMAIN}.pot").open("wb") as f:
        write_po(f, template, width=100, omit_header=False, no_location=False)
    missing: list[str] = []
    for code in LANGUAGES:
        if code == SOURCE:
            continue
        path = po_path(code)
        path.parent.mkdir(parents=True, exist_ok=True)
        catalog = read(code) if path.exists() else Catalog(locale=code, domain=DOMAIN, fuzzy=False)
        catalog.update(template, no_fuzzy_matching=True)
        with path.open("wb") as f:
            write_po(f, catalog, width=100, ignore_obsolete=True)
        path.with_suffix(".mo").write_bytes(compiled(catalog))
        missing += [f"{code}: {m.id!r}" for m in catalog if m.id and not translated(m)]
    return missing


def main() -> int:
    missing = update()
    for line in missing:
        print("untranslated", line, file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
