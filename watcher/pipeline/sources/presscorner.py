"""The European Commission's press corner, through the JSON API behind its web page.

The press corner page is a JavaScript application whose HTML holds no news, so this kind
reads ``<api>/search`` for the listing and, for each NEW item only,
``<api>/documents?reference=IP/24/1234&language=en`` for the document, whose
``htmlContent`` becomes the item's text. The source URL is the API root,
``https://ec.europa.eu/commission/presscorner/api``. The API is undocumented: a search
answer is ``{"docuLanguageListResources": [{"refCode", "title", "leadText", "eventDate",
"docutype": {"code", "description"}, "languageCode"}, ...]}`` and a document answer
``{"docuLanguageResource": {"htmlContent", ...}, ...}``; a few other spellings are
accepted too. An answer without a list of documents is an error, not "no news".

``eventDate`` is a day (midnight UTC), so every item of a day would tie; ``publishDate``,
in the listing or the document, carries the time of publication and is preferred.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from watcher.config.model import Source
from watcher.errors import FetchError
from watcher.model import Item
from watcher.pipeline.sources.common import PageFetcher, item_key
from watcher.timeparse import parse_date

log = logging.getLogger(__name__)

PAGE_SIZE = 50
LISTS = ("docuLanguageListResources", "items", "results", "documents", "content", "data")
REFERENCE = ("refCode", "reference", "ref", "refcode")
TITLE = ("title", "docuTitle", "name")
DATE = ("publishDate", "publicationDate", "eventDate", "date", "created")
PUBLISHED = ("publishDate", "publicationDate")  # in a document answer: the time it went out
TYPE = ("docutype", "docuType", "docutypeResource", "documentType", "type")
SUMMARY = ("leadText", "lead", "summary", "description")
LANGUAGE = ("languageCode", "language", "lang")


def api_root(url: str) -> str:
    """The API root of a source URL that may end in /search or /documents."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    for tail in ("/search", "/documents"):
        if path.endswith(tail):
            path = path[: -len(tail)]
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def listing_url(source: Source, url: str) -> str:
    """The search URL for the source's language and document types, newest first."""
    query = {"language": source.language, "pagesize": str(PAGE_SIZE), "pagenumber": "1"}
    if source.document_types:
        query["documentTypeCodes"] = ",".join(source.document_types)
    return f"{api_root(url)}/search?{urlencode(query)}"


def document_url(root: str, reference: str, language: str) -> str:
    """The URL of one document of the API."""
    return f"{root}/documents?reference={quote(reference, safe='/')}&language={quote(language)}"


def detail_link(root: str, reference: str, language: str) -> str:
    """The public page of a document: .../presscorner/detail/en/ip_24_1234."""
    parts = urlsplit(root)
    base = parts.path.rsplit("/api", 1)[0]
    slug = reference.lower().replace("/", "_").replace(" ", "")
    return urlunsplit((parts.scheme, parts.netloc, f"{base}/detail/{language}/{slug}", "", ""))


def _field(record: dict[str, Any], names: tuple[str, ...]) -> str:
    for name in names:
        value = record.get(name)
        if isinstance(value, dict):  # {"code": "IP", "description": "Press release"}
            value = value.get("code") or value.get("description")
        if isinstance(value, (str, int)) and str(value).strip():
            return str(value).strip()
    return ""


def _published(record: dict[str, Any], names: tuple[str, ...]) -> str | None:
    """The first of `names` in `record` that reads as a date (epoch milliseconds too)."""
    for name in names:
        value = record.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 10**11:
            return datetime.fromtimestamp(value / 1000, UTC).isoformat(timespec="seconds")
        if isinstance(value, str) and (when := parse_date(value.strip())):
            return when
    return None


def _records(data: Any) -> list[dict[str, Any]] | None:
    """The list of documents in a search answer, wherever the API put it."""
    if isinstance(data, list):
        return [r for r in data if isinstance(r, dict)]
    if not isinstance(data, dict):
        return None
    for name in LISTS:
        value = data.get(name)
        if isinstance(value, list):
            return [r for r in value if isinstance(r, dict)]
        if isinstance(value, dict):  # one level of wrapping, e.g. {"data": {"items": [...]}}
            inner = _records(value)
            if inner is not None:
                return inner
    return None


def _json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise FetchError(
            f"the press corner's {what} is not JSON",
            hint="check that the source URL is the API root, "
            "https://ec.europa.eu/commission/presscorner/api",
        ) from None


def parse(
    body: bytes, headers: dict[str, str], url: str, source: Source | None = None
) -> list[Item]:
    """Items of a search answer; FetchError when it holds no list of documents."""
    records = _records(_json(body, "answer"))
    if records is None:
        raise FetchError(
            "no list of documents in the press corner's answer (the API may have changed)"
        )
    language = source.language if source else "en"
    wanted = set(source.document_types) if source else set()
    root = api_root(url)
    items = []
    for record in records:
        reference = _field(record, REFERENCE)
        title = " ".join(_field(record, TITLE).split())
        if not reference or not title:
            continue
        doc_type = _field(record, TYPE).upper()
        if wanted and doc_type and doc_type not in wanted:
            continue  # the API may ignore the filter: apply it here too
        lang = (_field(record, LANGUAGE) or language).lower()
        items.append(
            Item(
                key=item_key(reference, None),
                title=title,
                link=detail_link(root, reference, lang),
                published=_published(record, DATE),
                html=_field(record, SUMMARY),
                extra={"reference": reference, "type": doc_type, "language": lang},
            )
        )
    return items


def _html_content(data: Any, depth: int = 0) -> str | None:
    """The first ``htmlContent`` string in a document answer."""
    if depth > 5:
        return None
    if isinstance(data, dict):
        value = data.get("htmlContent")
        if isinstance(value, str):
            return value
        children: Any = data.values()
    elif isinstance(data, list):
        children = data
    else:
        return None
    for child in children:
        found = _html_content(child, depth + 1)
        if found is not None:
            return found
    return None


async def _enrich_one(item: Item, fetch_page: PageFetcher, root: str) -> None:
    url = document_url(root, item.extra["reference"], item.extra.get("language", "en"))
    try:
        resp = await fetch_page(url)
        item.captures.append(resp.capture("document"))
        data = _json(resp.body, "document")
    except FetchError as exc:
        log.warning("press corner document %s: %s", item.extra["reference"], exc.message)
        return  # keep the lead text: a missing document must not lose the item
    content = _html_content(data)
    if content:
        item.html = content
    if isinstance(data, dict):
        inner = data.get("docuLanguageResource")
        published = _published(data, PUBLISHED) or (
            _published(inner, PUBLISHED) if isinstance(inner, dict) else None
        )
        if published:
            item.published = published


async def enrich(items: list[Item], fetch_page: PageFetcher, source: Source) -> None:
    """Fetch the document of each new item; its htmlContent replaces the lead text."""
    root = api_root(source.url)
    await asyncio.gather(*(_enrich_one(i, fetch_page, root) for i in items if i.extra))
