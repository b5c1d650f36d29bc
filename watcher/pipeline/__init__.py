"""From a source's URL to matched items: fetch, sources (parse), fulltext, text, match, poll."""
