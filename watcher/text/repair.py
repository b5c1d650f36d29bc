"""Repair text that was decoded with the wrong charset upstream, before it is stored and matched.

Feeds pass on mojibake: UTF-8 read as Windows-1252 or Latin-1 somewhere upstream turns
"Microsoft’s" into "Microsoftâ€™s" and "«" into "Â«", and the garbage touching a name hides
it from the matcher (a letter touching an alias is no word boundary). Some feeds also
escape their HTML twice, so "&rsquo;" is left in the text once the HTML is cleaned.

`ftfy` (https://ftfy.readthedocs.io) undoes both. It costs about half a millisecond on a
typical summary, so a cheap check first sends it only text carrying the marks of
mojibake; clean text (nearly all of it) costs a regular-expression search. The repair runs
on the cleaned title and text before they are stored and matched, so the stored text is
the repaired one and a mention's offsets point into it.

What cannot be repaired: mojibake whose invisible control characters were dropped on the
way ("Microsoftâs" for "Microsoft’s": the two bytes that said which character it was are
gone) stays as it is.
"""

from __future__ import annotations

import re
from typing import Any

# Marks of mojibake in European text: Ã and Â start the Windows-1252 reading of UTF-8 for
# accented letters and for «, », non-breaking spaces; â€ that of ’ “ ” – —; C1 control
# characters the Latin-1 reading; ï»¿ a byte-order mark. Each is looked for with `in` or a
# one-class pattern: an alternation costs ~40 µs on a 1.5 kB summary, these ~2 µs.
_MARKS = ("Ã", "Â", "â€", "ï»¿")
_CONTROLS = re.compile("[\x80-\x9f]")
_ENTITY = re.compile("&(?:#[0-9]{2,7}|#x[0-9a-fA-F]{2,6}|[a-zA-Z]{2,8});")  # left after cleaning

_config: Any = None  # ftfy's settings, made on the first repair


def needs_repair(text: str) -> bool:
    """True when `text` shows a mark of mojibake or of a leftover HTML entity."""
    if not text.isascii() and (any(mark in text for mark in _MARKS) or _CONTROLS.search(text)):
        return True
    return "&" in text and _ENTITY.search(text) is not None


def repair_text(text: str) -> str:
    """`text` with its mojibake and leftover HTML entities undone; clean text is returned as is.

    Only the encoding is repaired: typographic quotes, ligatures, full-width characters and
    line breaks are left as the source wrote them (the matcher handles those itself).
    """
    if not text or not needs_repair(text):
        return text
    global _config
    import ftfy  # only for suspect text: most polls never need it

    if _config is None:
        _config = ftfy.TextFixerConfig(
            unescape_html=True,
            remove_terminal_escapes=False,
            fix_latin_ligatures=False,
            fix_character_width=False,
            uncurl_quotes=False,
            fix_line_breaks=False,
            fix_surrogates=False,
            remove_control_chars=False,
            normalization=None,
            explain=False,
        )
    return str(ftfy.fix_text(text, _config))
