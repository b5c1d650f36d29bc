"""The spellings of an alias that real text uses: joined, spaced and hyphenated.

Published text writes "ChatGPT" as "Chat GPT" and "chat-gpt", "OpenAI" as "Open-AI", and
"Mistral AI" as "#MistralAI". An alias is split where a word, a CamelCase part or a run of
digits begins ("ChatGPT" -> Chat|GPT, "OpenAI" -> Open|AI, "Microsoft365" -> Microsoft|365,
"Mistral AI" -> Mistral|AI), and its variants are the parts joined, spaced and hyphenated.

A spaced variant is two ordinary-looking words, so it counts only when each part that
starts with a capital in the alias starts with one in the text: "Open AI" and "OPEN AI" are
OpenAI, "open AI models" is not; nor are parts on two lines or in two blocks of HTML.
Joined and hyphenated forms ("chat-gpt", "Open-AI") count in any case, like the alias.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ALIAS = re.compile(r"[^\W_]+(?:[ -][^\W_]+)*")
MIN_PART = 2  # "A1" or "X 5" would turn any code into a name


@dataclass(frozen=True)
class Variant:
    """One generated spelling of an alias; `capitals` is set for a spaced one."""

    text: str
    capitals: tuple[bool, ...] | None = None  # per part: must it start with a capital?


def split_parts(alias: str) -> list[str]:
    """The parts of an alias at spaces, hyphens, CamelCase and letter/digit boundaries."""
    if not _ALIAS.fullmatch(alias):
        return []  # punctuation inside ("Moody's", "S.A."): no variants
    parts: list[str] = []
    for word in re.split(r"[ -]", alias):
        parts += _camel_parts(word)
    return parts


def _camel_parts(word: str) -> list[str]:
    """ChatGPT -> Chat, GPT; GPTModel -> GPT, Model; Microsoft365 -> Microsoft, 365."""
    if word.isalpha() and (word[1:].islower() or word.isupper()):
        return [word]  # most names: no inner capital, no digit (a quarter of a build's time)
    parts: list[str] = []
    start = 0
    for i in range(1, len(word)):
        a, b = word[i - 1], word[i]
        nxt = word[i + 1] if i + 1 < len(word) else ""
        if (
            (a.islower() and b.isupper())
            or (a.isupper() and b.isupper() and nxt.islower())
            or (a.isdigit() != b.isdigit())
        ):
            parts.append(word[start:i])
            start = i
    parts.append(word[start:])
    return parts


def alias_variants(alias: str) -> list[Variant]:
    """The joined, spaced and hyphenated spellings of `alias` other than itself."""
    parts = split_parts(alias)
    if len(parts) < 2 or any(len(p) < MIN_PART for p in parts):
        return []
    capitals = tuple(p[0].isupper() for p in parts)
    forms = [Variant("".join(parts)), Variant(" ".join(parts), capitals), Variant("-".join(parts))]
    return [v for v in forms if v.text != alias]


def has_capitals(found: str, capitals: tuple[bool, ...]) -> bool:
    """True when the words of `found` start with a capital wherever the alias's parts do,
    on one line: "Open" closing a paragraph and "AI" opening the next are two words."""
    if "\n" in found:
        return False
    words = found.split()
    if len(words) != len(capitals):
        return False
    return all(w[:1].isupper() or not must for w, must in zip(words, capitals, strict=True))
