"""views/_state.parse and serialize: URL strings ↔ widget values, bad or stale values refused with a reason."""

from __future__ import annotations

import pytest

from views._state import parse, serialize


@pytest.mark.parametrize(("raw", "kind", "options", "value", "why"), [
    (["vit_sup", "convnext_sup"], "list", ["vit_sup", "convnext_sup", "vit_clip"], ["vit_sup", "convnext_sup"], ""),
    (["vit_sup", "gone"], "list", ["vit_sup"], ["vit_sup"], "not available here, left out: gone"),
    (["gone"], "list", ["vit_sup"], None, "not available here: gone"),
    ([""], "list", ["vit_sup"], [], ""),  # an emptied multiselect
    (["15"], "int", None, 15, ""),
    (["abc"], "int", None, None, "expected a whole number"),
    (["1.5"], "float", (1, 1.25, 1.5, 2, 3), 1.5, ""),
    (["1"], "float", (1, 1.25, 1.5), 1, ""),
    (["7"], "float", (1, 1.25, 1.5), None, "expected one of 1, 1.25, 1.5"),
    (["nan"], "float", None, None, "expected a finite number"),
    (["paper"], "str", ["paper", "library"], "paper", ""),
    (["other"], "str", ["paper", "library"], None, "not available here"),
    (["1"], "bool", None, True, ""),
    (["yes"], "bool", None, None, "expected 1 or 0"),
])
def test_parse(raw, kind, options, value, why):
    assert parse(raw, kind, options=options) == (value, why)


def test_parse_range_and_serialize_round_trip():
    assert parse(["60"], "int", lo=5, hi=50) == (None, "expected a number from 5 to 50")
    for value, kind in ((["a", "b"], "list"), ([], "list"), (True, "bool"), (1.25, "float"), (15, "int"),
                        ("paper", "str")):
        written = serialize(value, kind)
        raw = written if isinstance(written, list) else [written]
        assert parse(raw, kind)[0] == value


def test_tokens_put_keys_in_the_url_and_labels_from_older_links_still_parse():
    labels = ["ViT-B/16 CLIP · measured (paper)", "Humans (10 observers, pooled)"]
    tokens = {labels[0]: "vit_clip:paper", labels[1]: "humans"}
    assert serialize(labels, "list", tokens) == ["vit_clip:paper", "humans"]
    assert serialize(labels[0], "str", tokens) == "vit_clip:paper"
    assert parse(["vit_clip:paper", "humans"], "list", options=labels, tokens=tokens) == (labels, "")
    assert parse(labels, "list", options=labels, tokens=tokens) == (labels, "")  # an old link, with labels
    assert parse(["vit_clip:paper"], "str", options=labels, tokens=tokens) == (labels[0], "")
