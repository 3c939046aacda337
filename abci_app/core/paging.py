"""Pages of a listing query (docs/modules.md §13).

Queries run on the app's one event loop, between consensus requests, so a listing reads
one page of rows, never the whole table. A page is asked for in the query's ``data`` as
JSON, ``{"key": "<first key of the page>", "limit": <rows>}`` (both optional; empty data
is the first page of :data:`DEFAULT_PAGE_LIMIT` rows), and every listing answers
``"pagination": {"next_key": ...}``: the key to ask for next, or "" after the last page.
A key is the listing's own key as text (a proposal id, an address, a module name).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from abci_app.core.errors import BAD_QUERY
from abci_app.store import Key, Row, TableView

DEFAULT_PAGE_LIMIT = 100
MAX_PAGE_LIMIT = 1_000
MAX_PAGE_KEY_CHARS = 256


@dataclass(frozen=True)
class PageRequest:
    """Where a page starts (``key``, "" for the beginning) and how many rows it holds."""

    key: str = ""
    limit: int = DEFAULT_PAGE_LIMIT


def page_request(data: bytes, default_limit: int = DEFAULT_PAGE_LIMIT) -> PageRequest:
    """The page a query's ``data`` asks for; BAD_QUERY when it is not one."""
    if not data:
        return PageRequest("", default_limit)
    try:
        asked = json.loads(data)
    except (ValueError, RecursionError):
        raise BAD_QUERY('query data must be JSON: {"key": "...", "limit": N}') from None
    if not isinstance(asked, dict) or set(asked) - {"key", "limit"}:
        raise BAD_QUERY('query data must be {"key": "...", "limit": N}')
    key = asked.get("key", "")
    limit = asked.get("limit", default_limit)
    if not isinstance(key, str) or len(key) > MAX_PAGE_KEY_CHARS:
        raise BAD_QUERY(f"key must be a string of at most {MAX_PAGE_KEY_CHARS} characters")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_LIMIT:
        raise BAD_QUERY(f"limit must be an integer from 1 to {MAX_PAGE_LIMIT}")
    return PageRequest(key, limit)


def pagination(next_key: Any) -> dict[str, str]:
    """The ``pagination`` member of a listing's answer."""
    return {"next_key": "" if next_key is None else str(next_key)}


def scan_page(view: TableView, prefix: Any = (), start: Any = None, limit: int = 1
              ) -> tuple[list[tuple[Key, Row]], Key | None]:
    """Up to ``limit`` rows of ``view`` from ``start`` on, and the key the next page starts
    at (None after the last): it reads ``limit + 1`` rows, never the whole table."""
    rows = list(view.scan(prefix, start=start, limit=limit + 1))
    if len(rows) > limit:
        return rows[:limit], rows[limit][0]
    return rows, None
