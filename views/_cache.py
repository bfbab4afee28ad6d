"""Caches shared by every session of the server, keyed by what they read, each missing key computed once.

A finished run cannot change, so what is read from it is keyed by its run key (`run_key`: run id, status and
row count): an evaluation that commits rows to run B every second leaves everything read from run A in place.
Only the list of runs follows the store version, and while a run is running that list is read again at most
every `RUNNING_REFRESH_S` seconds, so a view that includes the running run sees its new rows that often.

`KeyedCache.get(key, compute)` is single-flight: when several sessions miss the same key together, one
computes it and the others wait for that result (a per-key lock), instead of each computing it in full.
Values are shared, never copied: callers treat them as read-only (`fresh` copies a frame a page will modify).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Hashable

__all__ = ["KeyedCache", "cache", "memo", "fresh", "purge_runs", "run_key", "run_keys", "key_map", "RunsSnapshot",
           "RUNNING_REFRESH_S"]

RUNNING_REFRESH_S = 5.0
"""While a run is running, the list of runs (and so the running run's key) refreshes at most this often."""


class KeyedCache:
    """An LRU map from hashable keys to computed values, safe across threads, single-flight per key."""

    def __init__(self, name: str, max_entries: int = 64) -> None:
        self.name, self.max_entries = name, max_entries
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._computing: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()
        self.computed = 0  # how many times a value was computed (tests, benchmarks)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._values

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The value of `key`, computing it with `compute()` if missing; concurrent misses of one key compute
        once (the others wait). An exception reaches the caller that computed and is not cached: each waiter
        then tries once itself."""
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
            flight = self._computing.setdefault(key, threading.Lock())
        with flight:
            with self._lock:
                if key in self._values:  # computed by the caller we waited for
                    self._values.move_to_end(key)
                    return self._values[key]
            value = compute()
            with self._lock:
                self.computed += 1
                self._values[key] = value
                self._values.move_to_end(key)
                while len(self._values) > self.max_entries:
                    self._values.popitem(last=False)
                if self._computing.get(key) is flight:
                    del self._computing[key]
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def purge(self, stale: set) -> int:
        """Drop every entry whose key holds one of the `stale` run keys (at any depth); returns how many."""
        with self._lock:
            gone = [key for key in self._values if _holds(key, stale)]
            for key in gone:
                del self._values[key]
        return len(gone)


def _holds(key, stale: set) -> bool:
    if isinstance(key, tuple):
        return key in stale or any(_holds(part, stale) for part in key)
    return False


_CACHES: dict[str, KeyedCache] = {}
_CACHES_LOCK = threading.Lock()


def cache(name: str, max_entries: int = 64) -> KeyedCache:
    """The process-wide cache called `name` (created on first use)."""
    with _CACHES_LOCK:
        if name not in _CACHES:
            _CACHES[name] = KeyedCache(name, max_entries)
        return _CACHES[name]


def memo(max_entries: int = 64, *, name: str | None = None):
    """Decorator: cache a function's result by its (hashable) arguments, single-flight, in `cache(name)`."""
    def wrap(function):
        store = cache(name or f"{function.__module__}.{function.__qualname__}", max_entries)

        def cached(*args):
            return store.get(args, lambda: function(*args))

        cached.cache = store
        cached.__wrapped__ = function
        cached.__doc__ = function.__doc__
        cached.__name__ = function.__name__
        return cached
    return wrap


def purge_runs(stale: set) -> int:
    """Drop, from every cache, the entries read from these (superseded) run keys: a running run's earlier keys
    are never asked for again, so they would only push finished runs' entries out."""
    with _CACHES_LOCK:
        caches = list(_CACHES.values())
    return sum(store.purge(stale) for store in caches) if stale else 0


def fresh(value):
    """A copy a page may modify (frames and series copied; tuples and lists element-wise); others as is."""
    if hasattr(value, "copy") and hasattr(value, "columns") or type(value).__name__ == "Series":
        return value.copy()
    if isinstance(value, tuple):
        return tuple(fresh(item) for item in value)
    if isinstance(value, list):
        return [fresh(item) for item in value]
    return value


# --- run keys -----------------------------------------------------------------------------------------

def run_key(run) -> tuple:
    """(run id, status, rows stored) of one run (a row of the runs table): what its reads depend on."""
    return (str(run["run_id"]), str(run.get("status", "")), int(run.get("done", 0) or 0))


def key_map(runs, store: str = "") -> dict[str, tuple]:
    """{run id: run key} of every run of the runs table; `store` (the store's path) ends each key, so two
    stores with the same run ids (run ids are content keys) never share an entry."""
    if runs is None or len(runs) == 0:
        return {}
    status = runs["status"].astype(str) if "status" in runs else [""] * len(runs)
    done = runs["done"].fillna(0).astype(int) if "done" in runs else [0] * len(runs)
    return {str(run_id): (str(run_id), s, int(d), *((store,) if store else ()))
            for run_id, s, d in zip(runs["run_id"], status, done)}


def run_keys(runs, run_ids=None, *, keys: dict | None = None) -> tuple:
    """Run keys of some runs of the runs table (all when `run_ids` is None), in the order asked for; `keys` is
    the table's `key_map` when the caller has it already."""
    keys = key_map(runs) if keys is None else keys
    ids = list(keys) if run_ids is None else [str(run_id) for run_id in run_ids]
    return tuple(keys.get(run_id, (run_id, "missing", 0)) for run_id in ids)


class RunsSnapshot:
    """The runs table, read again only when the store changed, and while a run is running at most every
    `refresh_s` seconds (an evaluation commits about once a second; each read groups every stored row)."""

    def __init__(self, read: Callable[[], Any], version: Callable[[], str], refresh_s: float = RUNNING_REFRESH_S,
                 clock: Callable[[], float] = time.monotonic, store: str = "") -> None:
        self._read, self._version, self.refresh_s, self._clock = read, version, refresh_s, clock
        self.store = store
        self._lock = threading.Lock()
        self._flight = threading.Lock()
        self._table, self._table_version, self._read_at, self._keys, self._running = None, None, 0.0, {}, False
        self.reads = 0

    def _current(self, version: str):
        if self._table is None:
            return None
        if version == self._table_version:
            return self._table
        if self._running and self._clock() - self._read_at < self.refresh_s:
            return self._table  # a run is writing: its new rows show within refresh_s
        return None

    def get(self):
        version = self._version()
        with self._lock:
            found = self._current(version)
        if found is not None:
            return found
        with self._flight:  # one reader at a time; the others take its result
            with self._lock:
                found = self._current(version)
            if found is not None:
                return found
            table = self._read()
            keys = key_map(table, self.store)
            running = any(key[1] == "running" for key in keys.values())
            with self._lock:
                previous = self._keys
                self._table, self._table_version, self._read_at, self._keys = table, version, self._clock(), keys
                self._running = running
                self.reads += 1
            purge_runs(set(previous.values()) - set(keys.values()))
            return table

    @property
    def version(self) -> str | None:
        """The store version the current runs list was read at: a key for other lists of the store (probes,
        pins) that follows the same rule (read again at most every `refresh_s` while a run is running)."""
        self.get()
        with self._lock:
            return self._table_version

    def keys(self, run_ids=None) -> tuple:
        """Run keys of these runs (all when None) in the current table."""
        self.get()
        with self._lock:
            keys = self._keys
        return run_keys(None, run_ids, keys=keys)
