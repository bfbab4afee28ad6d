"""Each finished run's outcome on every readable image, packed when the run finishes (`run_outcomes`, `outcome_keys`).

A paired comparison of runs on the same images (the robustness and PUG claims, the card beyond the paper) needs,
per image, which models have it and which got it right. Grouping the stored rows by image in DuckDB reads and
hashes every image id again on each cold open: ImageNet-C's 3 million rows cost about a second of CPU there.
Packed, a run is a few bit arrays in the order of its sorted image keys (DuckDB's 64-bit `hash(image_id)`); the
sorted keys themselves are stored once per distinct set (`outcome_keys`, named by their SHA-1), so runs on the same
images (every model on ImageNet-C) share one key set and align by position without reading it. Where the sets
differ (a `--limit` sample, unreadable files), the keys are read and aligned in numpy.

`ResultsStore.outcome_bits` (and `accuracy_counts`, each run's images and correct ones) reads them where every run
has them, still valid (written when the run finished; a run that gains rows or finishes again gets new ones), and
groups the stored rows otherwise. Both give the same frame (tested on the same store).

A row of a run here is a readable prediction (no `error`): `hit` (correct; NULL as a miss), `real_hit` (the
prediction is one of its ImageNet-ReaL labels), `has_real` (it has ReaL labels) and its condition, as a code into
the run's list of conditions (None first, for NULL). A run whose ids share a key (two ids hashing alike) is marked
`unique_keys = false`: the exact grouping by the id then decides, as it does in the SQL.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from core.store.schema import _has_table, still_valid

_VALID = still_valid("run_outcomes", "o")
"""The `run_outcomes` rows still true: written when the run finished, and it has not finished again since."""

_ROWS = ("SELECT hash(p.image_id) AS key, coalesce(p.correct, false) AS hit, "
         "coalesce(list_contains(p.labels, p.pred), false) AS real_hit, coalesce(len(p.labels) > 0, false) AS has_real"
         "{code} FROM predictions p{join} WHERE p.run_id = ? AND p.error IS NULL ORDER BY key")

_MAX_CONDITIONS = 2 ** 16 - 2
"""Distinct conditions a run's codes can name (uint16, NULL included); a run with more is read by grouping its rows."""


@dataclass(frozen=True)
class RunOutcome:
    """One run's readable images, in the order of its sorted keys (see the module's docstring)."""

    key_set: str
    hit: np.ndarray
    real_hit: np.ndarray
    has_real: np.ndarray
    conditions: list | None
    codes: np.ndarray
    unique_keys: bool

    @property
    def usable(self) -> bool:
        return self.unique_keys and self.conditions is not None


def _pack(values) -> bytes:
    return np.packbits(np.asarray(values, dtype=bool)).tobytes()


def _unpack(blob: bytes, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(blob, dtype=np.uint8), count=n).astype(bool)


def store_outcomes(connection, run_ids) -> None:
    """Write (replacing) the outcomes of each finished run of `run_ids`, on a writing `connection`; the caller
    holds the transaction."""
    import pyarrow as pa

    for run_id in run_ids:
        conditions = [row[0] for row in connection.execute(
            "SELECT DISTINCT condition FROM predictions WHERE run_id = ? AND error IS NULL AND condition IS NOT NULL "
            "ORDER BY condition", [run_id]).fetchall()]
        if conditions and len(conditions) <= _MAX_CONDITIONS:
            connection.register("outcome_conditions", pa.table({
                "condition": pa.array(conditions, pa.string()),
                "code": pa.array(np.arange(1, len(conditions) + 1, dtype=np.int32))}))
            try:
                found = connection.execute(_ROWS.format(
                    code=", coalesce(c.code, 0) AS code",
                    join=" LEFT JOIN outcome_conditions c ON c.condition = p.condition"), [run_id]).fetchnumpy()
            finally:
                connection.unregister("outcome_conditions")
        else:
            found = connection.execute(_ROWS.format(code="", join=""), [run_id]).fetchnumpy()
        keys = np.asarray(found["key"], dtype="<u8").tobytes()
        names = None if len(conditions) > _MAX_CONDITIONS else [None, *conditions]
        codes = np.asarray(found["code"] if "code" in found else np.zeros(len(found["key"])),
                           dtype=np.uint8 if len(conditions) < 2 ** 8 - 1 else "<u2")
        key_set = hashlib.sha1(keys).hexdigest()
        connection.execute("INSERT OR IGNORE INTO outcome_keys VALUES (?, ?)", [key_set, keys])
        connection.execute("DELETE FROM run_outcomes WHERE run_id = ?", [run_id])
        connection.execute(
            "INSERT INTO run_outcomes SELECT ?, (SELECT finished_at FROM runs WHERE run_id = ?), ?, ?, ?, ?, ?, ?, ?, ?",
            [run_id, run_id, len(found["key"]), not bool((np.diff(found["key"]) == 0).any()), key_set,
             _pack(found["hit"]), _pack(found["real_hit"]), _pack(found["has_real"]), json.dumps(names),
             codes.tobytes()])
    drop_unused_keys(connection)


def drop_unused_keys(connection) -> None:
    """Delete the key sets no run's outcomes name any longer (their runs were deleted or finished again)."""
    connection.execute("DELETE FROM outcome_keys WHERE key_set NOT IN (SELECT key_set FROM run_outcomes)")


def missing_outcomes(connection) -> list[str]:
    """The finished runs without valid outcomes (a store written before they existed, or by an older version)."""
    return [row[0] for row in connection.execute(
        f"SELECT run_id FROM runs WHERE status = 'done' AND run_id NOT IN (SELECT o.run_id {_VALID})").fetchall()]


def read_packed(connection, run_ids) -> dict[str, RunOutcome]:
    """{run_id: RunOutcome} of the runs of `run_ids` whose stored outcomes are valid (the others are left out)."""
    run_ids = list(dict.fromkeys(run_ids))
    if not run_ids:
        return {}
    rows = connection.execute(
        "SELECT o.run_id, o.n, o.unique_keys, o.key_set, o.hits, o.real_hits, o.has_real, o.conditions, "
        f"o.condition_codes {_VALID} WHERE o.run_id IN ({', '.join('?' for _ in run_ids)})", run_ids).fetchall()
    outcomes = {}
    for run_id, n, unique, key_set, hits, real_hits, has_real, conditions, codes in rows:
        outcomes[run_id] = RunOutcome(key_set, _unpack(hits, n), _unpack(real_hits, n), _unpack(has_real, n),
                                      json.loads(conditions),
                                      np.frombuffer(codes, dtype=np.uint8 if len(codes) == n else "<u2"),
                                      bool(unique))
    return outcomes


def read_keys(connection, runs: list[tuple[str, str, int]], outcomes: dict[str, RunOutcome]) -> dict:
    """{key_set: sorted keys} of the strata of `runs` ((run_id, stratum, column) triples) whose runs do not all
    share one key set (those that do align by position, without their keys)."""
    strata: dict[str, set] = {}
    for run_id, stratum, _ in runs:
        if run_id in outcomes:
            strata.setdefault(stratum, set()).add(outcomes[run_id].key_set)
    needed = sorted({key_set for sets in strata.values() if len(sets) > 1 for key_set in sets})
    if not needed:
        return {}
    return {key_set: np.frombuffer(blob, dtype="<u8") for key_set, blob in connection.execute(
        f"SELECT key_set, keys FROM outcome_keys WHERE key_set IN ({', '.join('?' for _ in needed)})",
        needed).fetchall()}


def outcome_frame(runs: list[tuple[str, str, int]], outcomes: dict[str, RunOutcome], keys: dict, *,
                  by_condition: bool, real: bool | str, n_models: int):
    """`ResultsStore.outcome_bits`' frame (stratum[, condition], hits, present, n, extra) from the runs' stored
    outcomes (`read_packed`, `read_keys`), in its order; None where the SQL grouping must decide: a run without valid outcomes
    or with repeated keys, two runs of one stratum in one model column, or an image whose condition differs
    between runs."""
    import pandas as pd

    if any(run_id not in outcomes or not outcomes[run_id].usable for run_id, _, _ in runs):
        return None
    names = sorted({name for run_id, _, _ in runs for name in outcomes[run_id].conditions if name is not None})
    names.append(None)  # NULL sorts last, as in DuckDB's ORDER BY
    index = {name: code for code, name in enumerate(names)}
    strata: dict[str, list] = {}
    for run_id, stratum, column in runs:
        strata.setdefault(stratum, []).append((outcomes[run_id], int(column)))
    frames = []
    for stratum in sorted(strata):
        members = strata[stratum]
        if len({column for _, column in members}) < len(members):
            return None
        counted = _patterns(members, keys, by_condition=by_condition, real=real, n_models=n_models, index=index,
                            bits_for_names=len(names).bit_length())
        if counted is None:
            return None
        frame = {"stratum": [stratum] * len(counted[0])}
        if by_condition:
            frame["condition"] = [names[code] for code in counted[0].tolist()]
        frames.append(pd.DataFrame({**frame, "hits": counted[1], "present": counted[2], "n": counted[3],
                                    "extra": np.zeros(len(counted[3]), np.int64)}))
    columns = ["stratum", *(["condition"] if by_condition else []), "hits", "present", "n", "extra"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _patterns(members, keys: dict, *, by_condition: bool, real: bool | str, n_models: int, index: dict,
              bits_for_names: int):
    """(condition codes, hits, present, counts) of one stratum's distinct patterns, sorted; None: SQL decides."""
    if len({outcome.key_set for outcome, _ in members}) == 1:  # the same images: aligned by position
        size = len(members[0][0].hit)
        positions = [None] * len(members)
    else:
        if any(outcome.key_set not in keys for outcome, _ in members):
            return None
        universe = np.unique(np.concatenate([keys[outcome.key_set] for outcome, _ in members]))
        size = len(universe)
        positions = [np.searchsorted(universe, keys[outcome.key_set]) for outcome, _ in members]
    hits = np.zeros(size, np.int64)
    present = np.zeros(size, np.int64)
    condition = np.full(size, -1, np.int64)
    for (outcome, column), position in zip(members, positions):
        keep = outcome.has_real if real is True else None
        where = position if keep is None else np.flatnonzero(keep) if position is None else position[keep]
        where = slice(None) if where is None else where
        bit = np.int64(1) << column
        if real == "paired":
            shifted = bit << n_models
            hits[where] |= np.where(outcome.hit, bit, 0) | np.where(outcome.real_hit, shifted, 0)
            present[where] |= bit | np.where(outcome.has_real, shifted, 0)
        else:
            right = outcome.real_hit if real is True else outcome.hit
            hits[where] |= np.where(right if keep is None else right[keep], bit, 0)
            present[where] |= bit
        if by_condition:
            mapped = np.array([index[name] for name in outcome.conditions], np.int64)
            codes = mapped[outcome.codes if keep is None else outcome.codes[keep]]
            before = condition[where]
            if ((before >= 0) & (before != codes)).any():
                return None
            condition[where] = codes
    seen = present > 0  # images some run kept (ReaL: the ones with labels)
    hits, present, condition = hits[seen], present[seen], condition[seen]
    width = max(int(present.max()).bit_length(), 1) if len(present) else 1
    if 2 * width + bits_for_names > 62:
        return None
    mask = (1 << width) - 1
    code = (hits << width) | present
    if by_condition:
        code |= condition << (2 * width)
    if len(code) and int(code.max()) < 1 << 22:  # a few million possible patterns at most: counted, not sorted
        counts = np.bincount(code)
        patterns = np.flatnonzero(counts)
        counts = counts[patterns]
    else:
        patterns, counts = np.unique(code, return_counts=True)
    return patterns >> (2 * width), (patterns >> width) & mask, patterns & mask, counts.astype(np.int64)


def counts_from_outcomes(outcomes: dict[str, RunOutcome], *, by_condition: bool, real: bool):
    """`ResultsStore.accuracy_counts`' frame (run_id[, condition], n, correct) of the runs in `outcomes`, in its
    order, from their packed outcomes (None where a run's conditions were too many to code)."""
    import pandas as pd

    rows = []
    for run_id in sorted(outcomes):
        outcome = outcomes[run_id]
        if by_condition and outcome.conditions is None:
            return None
        keep = outcome.has_real if real else np.ones(len(outcome.hit), bool)
        right = (outcome.real_hit if real else outcome.hit) & keep
        if not by_condition:
            if keep.any():
                rows.append((run_id, int(keep.sum()), int(right.sum())))
            continue
        size = len(outcome.conditions)
        n = np.bincount(outcome.codes, weights=keep, minlength=size).astype(np.int64)
        correct = np.bincount(outcome.codes, weights=right, minlength=size).astype(np.int64)
        for code in [*range(1, size), 0]:  # by name (sorted when stored), NULL last, as DuckDB orders them
            if n[code]:
                rows.append((run_id, outcome.conditions[code], int(n[code]), int(correct[code])))
    columns = ["run_id", *(["condition"] if by_condition else []), "n", "correct"]
    return pd.DataFrame(rows, columns=columns).astype({"n": np.int64, "correct": np.int64})


class OutcomeReads:
    """`ResultsStore`'s reads of per-image outcomes (a mixin: it uses the store's connections): the patterns of
    several runs on shared images (`outcome_bits`) and each run's counts (`accuracy_counts`), from the packed
    outcomes where the runs have them and from the stored rows otherwise."""

    def outcome_bits(self, runs: list[tuple[str, str, int]], *, by_condition: bool = False, real: bool | str = False,
                     n_models: int = 0):
        """Per image (and stratum, and condition with `by_condition`) of the readable rows of `runs` ((run_id,
        stratum, model column) triples): `hits` and `present`, one bit per model column (right; has a row), and
        the images sharing each pattern counted: columns stratum[, condition], hits, present, n, extra.
        `real`: ImageNet-ReaL hits on the images that have ReaL labels; `"paired"`: both in one scan, the val
        bits in the low `n_models` bits and the ReaL bits shifted above them (an image without ReaL labels has no
        ReaL bit). `core.analysis.differences.outcome_cells` decodes it.

        Read from the runs' packed outcomes (`core.store.outcomes`) where every run has them; grouped from the
        stored rows otherwise (the same frame)."""
        if runs and self.path.exists():
            with self._reader() as connection:  # closed before the numpy work: a writer waits for no computation
                outcomes = self._packed(connection, [run[0] for run in runs])
                keys = read_keys(connection, runs, outcomes)
            frame = outcome_frame(runs, outcomes, keys, by_condition=by_condition, real=real, n_models=n_models)
            if frame is not None:
                return frame
        paired = real == "paired"
        hit = "list_contains(p.labels, p.pred)" if real is True else "p.correct"
        # one bit per model column: which models have the image, and which got it right (bit_or: a duplicate
        # row of an image in a run cannot carry into another model's bit). The `run_id IN` filter lets DuckDB
        # skip other runs' row groups before the join.
        values = ", ".join("(?, ?, ?)" for _ in runs)
        condition = ", p.condition" if by_condition else ""

        bits = f"bit_or(CASE WHEN {hit} THEN m.bit ELSE 0 END)::BIGINT AS hits, bit_or(m.bit)::BIGINT AS present"
        if paired:
            bits = (f"bit_or((CASE WHEN p.correct THEN m.bit ELSE 0 END) | (CASE WHEN list_contains(p.labels, p.pred) "
                    f"THEN m.bit << {int(n_models)} ELSE 0 END))::BIGINT AS hits, bit_or(m.bit | (CASE WHEN "
                    f"len(p.labels) > 0 THEN m.bit << {int(n_models)} ELSE 0 END))::BIGINT AS present")

        def sql(key: str) -> str:
            return (f"WITH map(run_id, stratum, bit) AS (VALUES {values}), "
                    f"wide AS (SELECT {key} AS image, m.stratum{condition}, {bits}, "
                    f"count(*) - bit_count(bit_or(m.bit)) AS extra FROM predictions p JOIN map m ON p.run_id = m.run_id "
                    f"WHERE p.run_id IN ({', '.join('?' for _ in runs)}) AND p.error IS NULL"
                    f"{' AND len(p.labels) > 0' if real is True else ''} GROUP BY ALL) "
                    f"SELECT stratum{condition.replace('p.', '')}, hits, present, count(*)::BIGINT AS n, "
                    f"max(extra)::BIGINT AS extra FROM wide GROUP BY ALL ORDER BY ALL")

        parameters = [*(value for run in runs for value in (run[0], run[1], 1 << int(run[2]))), *(run[0] for run in runs)]
        # grouping by the 64-bit hash of the image id is a third faster than by the string; two ids sharing a
        # hash (or an image listed twice in a run) would show as more rows than models in a group: then the
        # exact grouping by the string decides
        frame = self.query(sql("hash(p.image_id)"), parameters)
        if len(frame) and frame["extra"].max() > 0:
            frame = self.query(sql("p.image_id"), parameters)
        return frame

    @staticmethod
    def _packed(connection, run_ids) -> dict:
        """The valid packed outcomes (`core.store.outcomes`) of `run_ids`; none in a store written before them."""
        return read_packed(connection, run_ids) if _has_table(connection, "outcome_keys") else {}

    def accuracy_counts(self, run_ids=None, *, by_condition: bool = False, real: bool = False):
        """Readable images (`n`) and correct ones (`correct`) per run (and condition); every run when `run_ids` is
        None. From the packed outcomes of the finished runs of `run_ids`, counted in DuckDB for the others.
        `real`: only images with ImageNet-ReaL labels, correct when the prediction is one of them."""
        import pandas as pd

        group = "run_id, condition" if by_condition else "run_id"
        empty = pd.DataFrame(columns=[*group.split(", "), "n", "correct"])
        run_ids = None if run_ids is None else list(dict.fromkeys(run_ids))
        if run_ids is not None and not run_ids:
            return empty
        if run_ids is not None and self.path.exists():
            with self._reader() as connection:
                packed = self._packed(connection, run_ids)
            counted = counts_from_outcomes(packed, by_condition=by_condition, real=real) if packed else None
            if counted is not None:
                rest = [run_id for run_id in run_ids if run_id not in packed]
                parts = [part for part in (counted, self._counted(rest, group, real) if rest else empty) if len(part)]
                if len(parts) < 2:
                    return parts[0] if parts else empty
                return pd.concat(parts, ignore_index=True).sort_values(group.split(", "), na_position="last",
                                                                       kind="stable", ignore_index=True)
        frame = self._counted(run_ids, group, real)
        return empty if frame.empty else frame

    def _counted(self, run_ids, group: str, real: bool):
        """`accuracy_counts` of `run_ids` (None: every run) counted from the stored rows."""
        hit = "list_contains(labels, pred)" if real else "correct"
        where = "error IS NULL" + (" AND len(labels) > 0" if real else "")
        if run_ids is not None:
            where += f" AND run_id IN ({', '.join('?' for _ in run_ids)})"
        return self.query(f"SELECT {group}, count(*) AS n, sum(CASE WHEN {hit} THEN 1 ELSE 0 END)::BIGINT AS "
                          f"correct FROM predictions WHERE {where} GROUP BY {group} ORDER BY {group}", run_ids)
