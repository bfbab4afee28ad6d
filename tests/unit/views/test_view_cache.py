"""views._cache: single-flight keyed caches and the throttled runs list (no Streamlit runtime needed)."""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest

from views._cache import KeyedCache, RunsSnapshot, fresh, memo, run_keys


def test_two_concurrent_callers_of_one_missing_key_compute_once():
    cache, calls, started = KeyedCache("t"), [], threading.Barrier(2)

    def compute():
        calls.append(threading.get_ident())
        time.sleep(0.3)  # long enough for the second caller to arrive while the first computes
        return object()

    results = []

    def caller():
        started.wait()
        results.append(cache.get(("run-a", "done", 10), compute))

    threads = [threading.Thread(target=caller) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and cache.computed == 1
    assert results[0] is results[1]  # the waiter got the computed value itself


def test_other_keys_do_not_wait_for_a_slow_key():
    cache, release = KeyedCache("t"), threading.Event()
    slow = threading.Thread(target=lambda: cache.get("slow", lambda: release.wait(5) and "slow"))
    slow.start()
    time.sleep(0.05)
    began = time.perf_counter()
    assert cache.get("fast", lambda: "fast") == "fast"
    assert time.perf_counter() - began < 1.0
    release.set()
    slow.join()
    assert cache.get("slow", lambda: "again") == "slow"


def test_an_exception_is_not_cached_and_lru_evicts_the_oldest():
    cache = KeyedCache("t", max_entries=2)
    with pytest.raises(ValueError):
        cache.get("k", lambda: (_ for _ in ()).throw(ValueError("boom")))
    assert "k" not in cache and cache.get("k", lambda: 1) == 1
    cache.get("a", lambda: 2)
    cache.get("k", lambda: 99)  # a hit refreshes "k"
    cache.get("b", lambda: 3)  # evicts "a", the least recently used
    assert "a" not in cache and "k" in cache and "b" in cache


def test_memo_keys_by_arguments():
    calls = []

    @memo(8, name="test_memo_keys_by_arguments")
    def square(x):
        calls.append(x)
        return x * x

    assert [square(3), square(3), square(4)] == [9, 9, 16] and calls == [3, 4]


def test_fresh_copies_frames_so_a_page_cannot_modify_the_cached_one():
    frame = pd.DataFrame({"a": [1, 2]})
    copy, same = fresh((frame, 5))
    copy["b"] = 1
    assert list(frame.columns) == ["a"] and same == 5


def test_run_keys_follow_status_and_rows():
    runs = pd.DataFrame({"run_id": ["a", "b"], "status": ["done", "running"], "done": [10, 3]})
    assert run_keys(runs, ["b", "a", "gone"]) == (("b", "running", 3), ("a", "done", 10), ("gone", "missing", 0))


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_runs_list_follows_the_store_and_a_running_run_at_most_every_few_seconds():
    clock, state = _Clock(), {"version": "v1", "status": "done", "done": 5}
    snapshot = RunsSnapshot(lambda: pd.DataFrame({"run_id": ["a"], "status": [state["status"]],
                                                  "done": [state["done"]]}),
                            lambda: state["version"], refresh_s=3.0, clock=clock)
    assert snapshot.get()["done"][0] == 5 and snapshot.reads == 1
    assert snapshot.get() is snapshot.get() and snapshot.reads == 1  # same version: no read
    state.update(version="v2", status="running", done=6)  # a run started: nothing was running, read at once
    assert snapshot.get()["done"][0] == 6 and snapshot.reads == 2
    state.update(version="v3", done=7)  # a commit 1 s later: the running list is kept
    clock.now = 1.0
    assert snapshot.get()["done"][0] == 6 and snapshot.reads == 2
    clock.now = 3.5  # after refresh_s: read again, the new rows show
    assert snapshot.get()["done"][0] == 7 and snapshot.reads == 3
    state.update(version="v4", status="done", done=8)
    clock.now = 4.0  # within refresh_s of the last read, and the list still shows a running run: kept
    assert snapshot.get()["done"][0] == 7
    clock.now = 7.0
    assert snapshot.get()["status"][0] == "done" and snapshot.reads == 4
    state.update(version="v5")
    clock.now = 7.1  # nothing running: a change is read at once
    assert snapshot.get() is not None and snapshot.reads == 5


def test_a_superseded_run_key_is_purged_and_other_runs_stay():
    from views._cache import cache

    store = cache("test_purge", 16)
    store.get((("a", "done", 10),), lambda: "A")
    store.get(((("a", "done", 10), ("b", "running", 3)), ("col",)), lambda: "A+B")
    store.get((("b", "running", 3),), lambda: "B")
    state = {"version": "1", "done": 3}
    snapshot = RunsSnapshot(lambda: pd.DataFrame({"run_id": ["a", "b"], "status": ["done", "running"],
                                                  "done": [10, state["done"]]}), lambda: state["version"],
                            refresh_s=0.0)
    snapshot.get()
    state.update(version="2", done=4)  # a commit to run b
    snapshot.get()
    assert (("a", "done", 10),) in store  # run a's read stays
    assert (("b", "running", 3),) not in store and len(store) == 1  # b's old reads (and the mixed one) went


def test_a_chart_spec_is_built_once_per_input_and_matches_altairs():
    import json

    from core.analysis import charts
    from views._charts import Lazy, spec

    def table(top):
        return pd.DataFrame({"label": ["A", "B"], "benchmark": ["val", "val"], "accuracy": [top, 0.5],
                             "ci_low": [top - 0.1, 0.4], "ci_high": [top + 0.05, 0.6]})

    first = spec(Lazy.of(charts.grouped_bars, table(0.7), x="benchmark", order=["val"], value="accuracy", title="t"))
    from views._charts import _SPECS

    computed = _SPECS.computed
    again = spec(Lazy.of(charts.grouped_bars, table(0.7), x="benchmark", order=["val"], value="accuracy", title="t"))
    assert again is first and _SPECS.computed == computed  # equal inputs (other objects): no rebuild
    other = spec(Lazy.of(charts.grouped_bars, table(0.8), x="benchmark", order=["val"], value="accuracy", title="t"))
    assert _SPECS.computed == computed + 1 and other != first
    validated = json.loads(charts.grouped_bars(table(0.7), x="benchmark", order=["val"], value="accuracy",
                                               title="t").to_json())
    validated.pop("config", None)  # Altair's default 300 × 300 view, which Streamlit drops too
    assert {k: v for k, v in first.items() if k != "config"} == validated


def test_a_cached_chart_draws_the_message_streamlit_draws_from_its_spec():
    """`show` hands Streamlit the cached chart's datasets as Arrow bytes made once; the element must equal
    the one `st.vega_lite_chart` makes from the plain spec (same spec text, same dataset bytes)."""
    from streamlit.testing.v1 import AppTest

    def script():
        import json

        import pandas as pd
        import streamlit as st

        from core.analysis import charts
        from views._charts import Lazy, show, spec

        frame = pd.DataFrame({"label": ["A", "B", "A", "B"], "benchmark": ["val", "val", "v2", "v2"],
                              "accuracy": [0.7, 0.5, 0.6, None], "ci_low": [0.6, 0.4, 0.5, None],
                              "ci_high": [0.8, 0.6, 0.7, None]})
        reference = pd.DataFrame({"label": ["A"], "benchmark": ["val"], "value": [0.9], "tag": ["P"]})
        chart = Lazy.of(charts.grouped_bars, frame, x="benchmark", order=["val", "v2"], value="accuracy",
                        title="top-1", reference=reference)
        show(chart)
        show(chart)  # a second draw of the cached chart
        st.vega_lite_chart(json.loads(json.dumps(spec(chart))), width="stretch")

    app = AppTest.from_function(script).run(timeout=60)
    assert not app.exception
    drawn = [node.proto for node in app.get("vega_lite_chart") or app.get("arrow_vega_lite_chart")]
    assert len(drawn) == 3
    ours, again, streamlit_own = drawn
    assert len(streamlit_own.datasets) >= 1  # the spec had named datasets: moved to the message as Arrow
    for message in (ours, again):
        assert message.spec == streamlit_own.spec
        assert [(d.name, d.data.data) for d in message.datasets] == \
            [(d.name, d.data.data) for d in streamlit_own.datasets]


def test_arrow_table_keeps_the_values_and_falls_back_to_the_frame_for_mixed_columns():
    from views._widgets import arrow_table

    frame = pd.DataFrame({"model": ["a", "b"], "accuracy": [0.5, None], "n": [3, 4]})
    table = arrow_table(frame)
    assert table.num_rows == 2 and table.column_names == ["model", "accuracy", "n"]
    assert table.to_pandas().equals(frame)
    mixed = pd.DataFrame({"value": [1, "x"]})  # Arrow cannot hold this column as one type
    assert arrow_table(mixed) is mixed
