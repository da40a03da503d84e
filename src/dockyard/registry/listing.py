"""Tag lists and the catalog, paged with `n` and `last` in lexical order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from dockyard.errors import Code, RegistryError
from dockyard.meta.base import MetadataStore


@dataclass(frozen=True, slots=True)
class Page:
    items: list[str]
    next_last: str | None  # set when more items follow this page


def parse_page_size(text: str | None) -> int | None:
    if text is None or text == "":
        return None
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise RegistryError(
            Code.PAGINATION_NUMBER_INVALID, f"n must be a non-negative integer, got {text!r}"
        )
    return n


class ListingService:
    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    async def tags(self, repository: str, n: int | None, last: str | None) -> Page:
        async with self.store.transaction(readonly=True) as tx:
            if not await tx.repos.exists(repository):
                raise RegistryError(
                    Code.NAME_UNKNOWN, f"repository {repository!r} is not known to this registry"
                )
            items = await tx.tags.list(repository, last, None if n is None else n + 1)
        return _page(items, n)

    async def catalog(self, n: int | None, last: str | None) -> Page:
        async with self.store.transaction(readonly=True) as tx:
            items = await tx.repos.list(last, None if n is None else n + 1)
        return _page(items, n)

    async def catalog_filtered(
        self, n: int | None, last: str | None, visible: Callable[[str], Awaitable[bool]]
    ) -> Page:
        """The catalog as one principal may see it: pages hold `n` visible names."""
        found: list[str] = []
        batch = 500
        while n is None or len(found) <= n:
            async with self.store.transaction(readonly=True) as tx:
                items = await tx.repos.list(last, batch)
            for name in items:
                if await visible(name):
                    found.append(name)
            if len(items) < batch:
                break
            last = items[-1]
        return _page(found, n)


def _page(items: list[str], n: int | None) -> Page:
    if n is not None and len(items) > n:
        items = items[:n]
        return Page(items, items[-1] if items else None)
    return Page(items, None)
