"""What the Compare page shows about several models on one image: agreement, matrix, charts (no Streamlit)."""

from __future__ import annotations

from collections import Counter

__all__ = ["agreement_summary", "top1_matrix", "top5_bars", "severity_curve"]


def agreement_summary(top1: dict[str, str]) -> tuple[bool, str]:
    """(all agree, one sentence) from {model label: its top-1 class}, majority first.

    >>> agreement_summary({"A": "tabby cat", "B": "tabby cat", "C": "tabby cat", "ViT-clip": "Egyptian cat"})
    (False, '3 of 4 models say tabby cat; ViT-clip says Egyptian cat.')
    >>> agreement_summary({"A": "cup", "B": "cup"})
    (True, 'All 2 models say cup.')
    """
    if not top1:
        raise ValueError("Expected at least one model's top-1 class, got none.")
    counts = Counter(top1.values())
    if len(counts) == 1:
        answer = next(iter(counts))
        return True, (f"All {len(top1)} models say {answer}." if len(top1) > 1 else f"{next(iter(top1))} says {answer}.")
    ranked = counts.most_common()
    parts = []
    for answer, count in ranked:
        models = [model for model, said in top1.items() if said == answer]
        if count > 1 and count == ranked[0][1] and answer == ranked[0][0]:
            parts.append(f"{count} of {len(top1)} models say {answer}")
        elif count > 1:
            parts.append(f"{', '.join(models[:-1])} and {models[-1]} say {answer}")
        else:
            parts.append(f"{models[0]} says {answer}")
    return False, "; ".join(parts) + "."


def top1_matrix(rows):
    """Images × models table of 'class · 62%' cells, from the page's prediction rows (rank 1 only).

    `rows` is a DataFrame with columns image, model_label, rank, class, probability.
    """
    first = rows[rows["rank"] == 1]
    cells = first.assign(cell=first["class"] + " · " + first["probability"].map("{:.0%}".format))
    matrix = cells.pivot(index="image", columns="model_label", values="cell")
    return matrix.reindex(index=list(dict.fromkeys(first["image"])), columns=list(dict.fromkeys(first["model_label"])))


def top5_bars(table, colour: str, *, height: int = 128, label_width: int = 230):
    """Horizontal bars of one model's top-5 (columns `class`, `probability`), full class names as labels."""
    import altair as alt

    base = alt.Chart(table).encode(
        # a fixed minimum label column lines the bars of all models up; names are never cut (labelLimit)
        y=alt.Y("class:N", sort=None, title=None, axis=alt.Axis(labelLimit=1000, labelFontSize=13, ticks=False,
                                                                 minExtent=label_width)),
        x=alt.X("probability:Q", title=None, scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%", tickCount=5, grid=True, labels=False)),
        tooltip=["class:N", alt.Tooltip("probability:Q", format=".1%")])
    bars = base.mark_bar(color=colour, height=16)
    text = base.mark_text(align="left", dx=4, fontSize=13).encode(text=alt.Text("probability:Q", format=".1%"))
    return alt.layer(bars, text).properties(height=height)


def severity_curve(table, labels: list[str], severity: int, colours):
    """Each model's probability of its clean top-1 class across severities 0–5 (columns `label`,
    `severity`, `clean_class_prob`), a rule at the slider's severity."""
    import altair as alt

    lines = alt.Chart(table).mark_line(point=True).encode(
        x=alt.X("severity:Q", title="severity (0 = clean)", scale=alt.Scale(domain=[0, 5], nice=False),
                axis=alt.Axis(values=[0, 1, 2, 3, 4, 5], format="d")),
        y=alt.Y("clean_class_prob:Q", title="p(clean top-1 class)", scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%")),
        color=alt.Color("label:N", scale=colours, title=None, legend=alt.Legend(orient="bottom", labelLimit=400,
                                                                                 columns=3)),
        tooltip=["label:N", "severity:Q", "clean_class:N", alt.Tooltip("clean_class_prob:Q", format=".1%"),
                 "top1:N"])
    rule = alt.Chart(table.head(1)).mark_rule(color="gray", strokeDash=[4, 4]).encode(
        x=alt.X("slider:Q"), tooltip=alt.value(None)).transform_calculate(slider=str(int(severity)))
    return alt.layer(lines, rule).properties(height=260)
