"""The evaluation's background writer: many model-batches per transaction, readers let in between."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.store.schema import RowBlock

if TYPE_CHECKING:
    from core.store.results import ResultsStore

__all__ = ["StoreWriter", "WriterStats"]

_READER_GAP_S = 0.05
"""Pause between back-to-back commits: readers retry every ≤ 0.05 s (+ jitter) and get in here."""


@dataclass
class WriterStats:
    """What a `StoreWriter` did: rows committed, transactions, and seconds spent inside them."""

    rows: int = 0
    commits: int = 0
    seconds: float = 0.0
    commit_seconds: list = field(default_factory=list)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else float("nan")


class StoreWriter:
    """Writes `RowBlock`s on a background thread, many per transaction.

    `put` returns at once (it waits only when more than `8 × max_rows` rows are queued, so memory
    stays bounded if the disk is slower than the models). The thread commits what is queued (up to
    `2 × max_rows` rows per transaction) once `flush_s` has passed since its last commit or `max_rows`
    rows are waiting, then closes the file and pauses briefly, so readers in other processes get in
    between (DuckDB admits one process at a time). Blocks are never split: a reader sees whole model-batches only. `close()` (or leaving
    the `with` block) commits the rest; a failure on the thread is raised by the next `put`/`close`.
    A SIGKILL loses only what was not yet committed, which a resumed run recomputes.
    """

    def __init__(self, store: ResultsStore, *, flush_s: float = 1.0, max_rows: int = 8192) -> None:
        if flush_s <= 0 or max_rows < 1:
            raise ValueError(f"Expected flush_s > 0 and max_rows >= 1, got {flush_s} and {max_rows}.")
        self.store, self.flush_s, self.max_rows = store, flush_s, max_rows
        self.stats = WriterStats()
        self._pending: list[RowBlock] = []
        self._pending_rows = 0
        self._in_flight = 0
        self._closing = False
        self._flush_now = False
        self._error: BaseException | None = None
        self._condition = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="results-store-writer", daemon=True)
        self._thread.start()

    def __enter__(self) -> "StoreWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def put(self, block: RowBlock) -> None:
        if not len(block):
            return
        with self._condition:
            self._raise_error()
            while self._pending_rows >= 8 * self.max_rows and self._error is None:
                self._condition.wait(0.1)
            self._raise_error()
            self._pending.append(block)
            self._pending_rows += len(block)
            self._condition.notify_all()

    def flush(self) -> None:
        """Commit everything put so far, and wait for it."""
        with self._condition:
            self._flush_now = True
            self._condition.notify_all()
            while (self._pending or self._in_flight) and self._error is None:
                self._condition.wait(0.05)
            self._raise_error()

    def close(self) -> None:
        with self._condition:
            self._closing = True
            self._condition.notify_all()
        self._thread.join()
        self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self) -> None:
        last_commit = time.monotonic()
        while True:
            with self._condition:
                while not (self._closing or self._flush_now or self._pending_rows >= self.max_rows
                           or (self._pending and time.monotonic() - last_commit >= self.flush_s)):
                    self._condition.wait(max(0.01, self.flush_s - (time.monotonic() - last_commit)))
                taken, rows = 0, 0
                while taken < len(self._pending) and (taken == 0 or rows + len(self._pending[taken]) <= 2 * self.max_rows):
                    rows += len(self._pending[taken])
                    taken += 1
                blocks, self._pending = self._pending[:taken], self._pending[taken:]
                self._pending_rows -= rows
                self._in_flight = rows
                self._flush_now = False
                closing = self._closing
            if blocks:
                began = time.perf_counter()
                try:
                    self.store.write_blocks(blocks)
                except BaseException as error:  # handed to the caller's next put/close
                    with self._condition:
                        self._error, self._in_flight = error, 0
                        self._pending, self._pending_rows = [], 0
                        self._condition.notify_all()
                    return
                took = time.perf_counter() - began
                with self._condition:
                    self.stats.rows += self._in_flight
                    self.stats.commits += 1
                    self.stats.seconds += took
                    self.stats.commit_seconds.append(took)
                    self._in_flight = 0
                    self._condition.notify_all()
                last_commit = time.monotonic()
                if self._pending and not closing:
                    time.sleep(_READER_GAP_S)  # a reader waiting for the file gets in before the next commit
            if closing:
                with self._condition:
                    if self._pending:
                        continue
                try:
                    self.store.checkpoint()  # leave a file that opens without replaying a log
                except BaseException as error:
                    with self._condition:
                        self._error = error
                return
