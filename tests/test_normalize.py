"""Normalisation: what is folded, what is removed, and offsets back into the original."""

from __future__ import annotations

import random
import unicodedata

import pytest

from watcher.text.fold import exact, fold

SHY, ZWSP, NBSP = "\u00ad", "\u200b", "\u00a0"


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        pytest.param("Société", "societe", id="accents"),
        pytest.param("SOCIETE", "societe", id="case"),
        pytest.param("Straße", "strasse", id="sharp-s-expands"),
        pytest.param("ＭＩＣＲＯＳＯＦＴ", "microsoft", id="fullwidth-nfkc"),
        pytest.param("ﬁnance", "finance", id="ligature-nfkc"),
        pytest.param("Socie\u0301te\u0301", "societe", id="combining-accents"),
        pytest.param("OpenAI’s", "openai's", id="typographic-apostrophe"),
        pytest.param("d‘OpenAI ʼx", "d'openai 'x", id="other-apostrophes"),
        pytest.param("“OpenAI” «x»", '"openai" "x"', id="quotes"),
        pytest.param("Microsoft‑Konzern – x — y", "microsoft-konzern - x - y", id="hyphens"),
        pytest.param(f"Mic{SHY}ro{SHY}soft", "microsoft", id="soft-hyphen"),
        pytest.param(f"Open{ZWSP}AI\u200d\ufeff", "openai", id="zero-width"),
        pytest.param(f"Mistral{NBSP}AI", "mistral ai", id="nbsp"),
        pytest.param("Mistral\n  \tAI", "mistral ai", id="whitespace-run"),
    ],
)
def test_fold(text, folded):
    assert fold(text).text == folded


@pytest.mark.parametrize(
    ("text", "exact_form"),
    [
        pytest.param("Société", "Société", id="keeps-accents"),
        pytest.param("Socie\u0301te\u0301", "Société", id="composes"),
        pytest.param("MSFT", "MSFT", id="keeps-case"),
        pytest.param("ＭＳＦＴ", "MSFT", id="fullwidth"),
        pytest.param(f"Open{SHY}\nAI’s", "Open AI's", id="unifies-and-removes"),
    ],
)
def test_exact(text, exact_form):
    assert exact(text).text == exact_form


def test_offsets_point_into_the_original_text():
    text = f"Die Straße  von Mic{SHY}rosoft\n\nund Socie\u0301te\u0301."
    norm = fold(text)
    for word, original in [("microsoft", f"Mic{SHY}rosoft"), ("societe", "Socie\u0301te\u0301")]:
        start = norm.text.index(word)
        s, e = norm.span(start, start + len(word))
        assert text[s:e] == original
    start = norm.text.index("strasse")
    assert text[slice(*norm.span(start, start + 7))] == "Straße"


def _reference(text: str) -> tuple[str, list[int], list[int]]:
    """Character by character, the obvious way: what the fast paths must agree with."""
    from watcher.text.fold import _fold_piece

    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i = 0
    while i < len(text):
        j = i + 1
        while j < len(text) and unicodedata.combining(text[j]):
            j += 1
        for ch in _fold_piece(text[i:j]):
            if ch == " " and out and out[-1] == " ":
                ends[-1] = j
                continue
            out.append(ch)
            starts.append(i)
            ends.append(j)
        i = j
    return "".join(out), starts, ends


def test_fast_paths_agree_with_the_reference_on_random_text():
    alphabet = f"aAéE\u0301ßﬁ \n{NBSP}{SHY}{ZWSP}’İxyz-–'Ｍ\u3000µÖª“—\u202fŁ"
    rng = random.Random(7)
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        norm = fold(text)
        expected, starts, ends = _reference(text)
        assert norm.text == expected, repr(text)
        for a in range(len(expected)):
            for b in range(a + 1, len(expected) + 1):
                assert norm.span(a, b) == (starts[a], ends[b - 1]), repr(text)
