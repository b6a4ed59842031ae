"""orchestration.bounded_cache: the least recently used entry goes first when the cache is full."""

from __future__ import annotations

from orchestration.bounded_cache import BoundedCache


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: BoundedCache[str, int] = BoundedCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recently used
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_update_keeps_the_newest_within_the_bound() -> None:
    cache: BoundedCache[int, str] = BoundedCache(3)
    cache.update({i: str(i) for i in range(5)})
    assert [cache.get(i) for i in range(5)] == [None, None, "2", "3", "4"]
    cache.put(2, "two")
    assert cache.get(2) == "two"
