"""Pins: charts saved with their view state for the Findings page and its exports."""

from __future__ import annotations

import json

__all__ = ["Pins"]


class Pins:
    """The pins half of `ResultsStore` (a mixin: it uses the store's connections)."""

    def add_pin(self, page: str, title: str, state: dict, *, chart: str = "", table_csv: str = "",
                provenance: dict | None = None, note: str = "") -> str:
        """Save a view (page, its URL state, the chart's Vega-Lite spec and table) after the last pin."""
        import uuid

        self._ensure_schema()
        pin_id = uuid.uuid4().hex[:12]
        with self._connect(read_only=False) as connection:
            last = connection.execute("SELECT coalesce(max(position), 0) FROM pins").fetchone()[0]
            connection.execute("INSERT INTO pins VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, now())",
                               [pin_id, last + 1, page, title, json.dumps(state, sort_keys=True), note, chart,
                                table_csv, json.dumps(provenance or {}, sort_keys=True, default=str)])
        return pin_id

    def pins(self):
        """Every pin in presentation order (an empty frame when there are none or the store predates pins)."""
        import pandas as pd

        columns = ["pin_id", "position", "page", "title", "state", "note", "chart", "table_csv", "provenance",
                   "created_at"]
        if not self.path.exists():
            return pd.DataFrame(columns=columns)
        with self._reader() as connection:  # one connection for both
            has = connection.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'pins'")
            if int(has.fetchone()[0]) == 0:
                return pd.DataFrame(columns=columns)
            return connection.execute(f"SELECT {', '.join(columns)} FROM pins ORDER BY position").df()

    def update_pin_note(self, pin_id: str, note: str) -> None:
        self._ensure_schema()
        with self._connect(read_only=False) as connection:
            connection.execute("UPDATE pins SET note = ? WHERE pin_id = ?", [note, pin_id])

    def move_pin(self, pin_id: str, offset: int) -> None:
        """Swap a pin with its neighbour `offset` places away (−1: earlier, +1: later); no-op at the ends."""
        self._ensure_schema()
        with self._connect(read_only=False) as connection:
            order = [row[0] for row in connection.execute("SELECT pin_id FROM pins ORDER BY position").fetchall()]
            if pin_id not in order:
                return
            here = order.index(pin_id)
            there = here + offset
            if not 0 <= there < len(order):
                return
            order[here], order[there] = order[there], order[here]
            connection.execute("BEGIN TRANSACTION")
            for position, moved in enumerate(order, start=1):
                connection.execute("UPDATE pins SET position = ? WHERE pin_id = ?", [position, moved])
            connection.execute("COMMIT")

    def delete_pin(self, pin_id: str) -> None:
        self._ensure_schema()
        with self._connect(read_only=False) as connection:
            connection.execute("DELETE FROM pins WHERE pin_id = ?", [pin_id])
