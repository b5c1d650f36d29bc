"""Channel title/body templates: ``$title`` / ``${entity}`` placeholders over fixed fields.

Templates come from the config; feed data is only ever substituted as a value (string.Template
never re-reads a substituted value), so a title like ``$hit_id`` or ``{0.__class__}`` stays text.
"""

from __future__ import annotations

import string
from collections.abc import Mapping

FIELDS = (
    "entity",
    "title",
    "link",
    "source",
    "published",
    "snippet",
    "topics",
    "hit_id",
    "matched",
    "story",
    "sources",
    "hit_url",
)


def check_template(text: str) -> str | None:
    """None when `text` is a valid template, else what is wrong with it."""
    template = string.Template(text)
    if not template.is_valid():
        # Find the culprit for the message: substitute with every field to trigger the error.
        try:
            template.substitute({name: "" for name in FIELDS})
        except ValueError as exc:
            return f"invalid placeholder ({exc}); write $name or ${{name}}, and $$ for a dollar"
        return "invalid placeholder; write $name or ${name}, and $$ for a dollar"
    unknown = [name for name in template.get_identifiers() if name not in FIELDS]
    if unknown:
        return f"unknown field ${unknown[0]}; fields: " + ", ".join(FIELDS)
    return None


def fill_template(text: str, values: Mapping[str, str]) -> str:
    """`text` with each placeholder replaced by its (already escaped) value."""
    return string.Template(text).substitute({name: values.get(name, "") for name in FIELDS})


def uses_field(text: str, name: str) -> bool:
    """True when the template mentions the field `name`."""
    return name in string.Template(text).get_identifiers()
