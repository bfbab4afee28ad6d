"""`task report`: the Your task page as a file: self-contained HTML, a PowerPoint deck, or a zip of charts and tables.

The same sections as the page (the decision card, the summary table, k-shot curves, reliability diagrams,
corruption curves, the κ matrix, the disagreements), drawn with the same chart builders; the SVG, PNG and
table helpers are the Findings exports' (`core.analysis.report`).
"""

from __future__ import annotations

import html
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from core.task.spec import DEFAULT_PRIORITY

__all__ = ["task_sections", "write_task_report", "Section"]


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    chart: object  # an Altair chart, or None
    table: object  # a DataFrame
    caption: str


def _labels(models) -> dict[str, str]:
    from core.models.registry import registry

    known = {spec.name: spec.display for spec in registry()[0]}
    return {model: known.get(model, model) for model in models}


def task_sections(store, name: str, priority: str = DEFAULT_PRIORITY):
    """(spec, decision card, sections) of a stored task; UserError when it has no results yet."""
    from core.analysis.charts import reliability_diagram
    from core.errors import UserError
    from core.task import charts, measures
    from core.task.decision import decision_card
    from core.task.departure import departure_summary

    labels = _labels(sorted(store.task_models(name)))
    data = measures.read_task(store, name, labels=labels)
    if data is None:
        raise UserError(f"Task `{name}` has no results yet. Run: python -m core task run {name} --models effnet_lite0")
    names = list(dict.fromkeys(labels.values()))
    card = decision_card(data, priority, race=store.task_race(name))
    summary = measures.summary_table(data)
    sections = [Section("summary", "Every candidate on the clean test images", None,
                        summary.drop(columns=["model", "method", "k"]),
                        "Top-1 with its 95% bootstrap interval over the test images (a k-shot probe's: two-level, "
                        "test images and draws, as on the card and the k-shot curve); ECE over 15 bins; NLL; Brier; "
                        "images/s of the forward pass on the machine that ran it.")]
    title, priors, sentence = departure_summary(card, data.candidates, labels)
    if sentence:
        sections.append(Section("prior", title, None, priors, sentence))
    kshot = measures.kshot_table(data, labels)
    if not kshot.empty:
        full = summary[summary["method"] == "probe"].assign(label=lambda f: f["model"].map(labels))
        sections.append(Section("kshot", "How accuracy grows with labelled examples",
                                charts.kshot_curve(kshot, names, full=full[["label", "accuracy"]]), kshot,
                                "Mean top-1 over seeded draws per k; bands: 95% across draws and test images. "
                                + " ".join(measures.capped_shots(data, sorted(set(kshot["k"]))))))
    reliability = measures.reliability_table(data)
    if not reliability.empty:
        bins = reliability.rename(columns={"candidate": "label"})
        sections.append(Section("reliability", "Is each model calibrated?",
                                reliability_diagram(bins, list(dict.fromkeys(bins["label"]))), bins,
                                "Accuracy per confidence bin; red: the gap to the bin's mean confidence."))
    curves = measures.corruption_curves_table(summary, measures.corruption_table(data, labels), labels)
    if len(curves):
        sections.append(Section("corruptions", "How each model degrades under corruptions",
                                charts.corruption_curves(curves, names, list(dict.fromkeys(curves["candidate"]))),
                                curves, "ImageNet-C corruptions (Hendrycks & Dietterich, ICLR 2019) of the test "
                                        "images, seeded; severity 0 is clean."))
    kappa = measures.kappa_table(data)
    if len(kappa) > 1:
        sections.append(Section("kappa", "Error consistency", charts.kappa_matrix(kappa, list(dict.fromkeys(kappa["a"]))),
                                kappa, "Cohen's κ of per-image correctness (Geirhos et al., NeurIPS 2020)."))
    gallery = measures.disagreements(data)
    if len(gallery):
        sections.append(Section("disagreements", "Test images where the models disagree", None,
                                gallery.drop(columns=["path", "label"]), "Each candidate's answer; ✓ when right."))
    return data.spec, card, sections


def _card_extras(card) -> list[str]:
    """The card's lines after its comparisons: each candidate's chance of being best, then the race's lines."""
    from core.task.decision import p_best_text

    return ([p_best_text(card)] if card.p_best else []) + list(card.race)


def _card_rules(card) -> str:
    from core.metrics.selection import RACE_RULE
    from core.task.decision import P_BEST_NOTE, VERDICT_RULE

    return " ".join([VERDICT_RULE] + ([P_BEST_NOTE] if card.p_best else []) + ([RACE_RULE] if card.race else []))


def _html(spec, card, sections) -> str:
    from core.analysis.report import inline_svg, table_html, today
    lines = "".join(f"<li>{html.escape(c.sentence)} <b>({html.escape(c.verdict)})</b>"
                    + (f"<br><span class='muted'>{html.escape(c.settle)}</span>" if c.settle else "") + "</li>"
                    for c in card.comparisons)
    extra = "".join(f"<p>{html.escape(line)}</p>" for line in _card_extras(card))
    body = [f"<h1>Your task: {html.escape(spec.name)}</h1>",
            f"<p class='muted'>{len(spec.classes)} classes · {html.escape(spec.root)} · {today()}</p>",
            f"<div class='card'><h2>{html.escape(card.headline)}</h2><ul>{lines}</ul>{extra}"
            f"<p class='muted'>{html.escape(_card_rules(card))}</p></div>"]
    for section in sections:
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.chart is not None:
            body.append(inline_svg(section.chart))
        body.append(f"<p class='muted'>{html.escape(section.caption)}</p>{table_html(section.table)}")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}.muted{color:#666}"
             ".card{border:1px solid #ccc;border-radius:8px;padding:0 1em}table{border-collapse:collapse;font-size:12px}"
             "td,th{padding:2px 6px;border-bottom:1px solid #eee}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Your task: {html.escape(spec.name)}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>")


def _pptx(spec, card, sections) -> bytes:
    from pptx import Presentation
    from pptx.util import Inches, Pt

    from core.analysis.report import chart_png

    deck = Presentation()
    deck.slide_width, deck.slide_height = Inches(13.333), Inches(7.5)

    def slide_with(title: str, lines: list[str], chart=None):
        slide = deck.slides.add_slide(deck.slide_layouts[5])
        slide.shapes.title.text = title
        left = Inches(0.5)
        if chart is not None:
            picture = slide.shapes.add_picture(io.BytesIO(chart_png(chart)), Inches(0.4), Inches(1.4))
            ratio = min(Inches(7.6) / picture.width, Inches(5.6) / picture.height)
            picture.width, picture.height = int(picture.width * ratio), int(picture.height * ratio)
            left = Inches(8.2)
        frame = slide.shapes.add_textbox(left, Inches(1.4), Inches(12.6) - left, Inches(5.6)).text_frame
        frame.word_wrap = True
        for index, line in enumerate(lines):
            paragraph = frame.paragraphs[0] if index == 0 else frame.add_paragraph()
            paragraph.text = line
            paragraph.font.size = Pt(12)

    lines = [line for c in card.comparisons[:8] for line in (c.sentence, c.settle) if line]
    slide_with(card.headline[:120], (lines or ["Only one candidate."]) + list(_card_extras(card)))
    for section in sections:
        if section.chart is not None:
            slide_with(section.title, [section.caption], section.chart)
    buffer = io.BytesIO()
    deck.save(buffer)
    return buffer.getvalue()


def _zip(spec, card, sections) -> bytes:
    import pandas as pd

    from core.analysis.report import chart_png, inline_svg

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("decision.csv", pd.DataFrame([{"priority": card.priority, "top": card.top,
                                                        "candidate": c.candidate, "verdict": c.verdict,
                                                        "comparison": c.sentence, "settle": c.settle,
                                                        "p_best": dict(card.p_best).get(c.candidate)}
                                                       for c in card.comparisons]
                                                      ).to_csv(index=False))
        for section in sections:
            archive.writestr(f"{section.key}.csv", section.table.to_csv(index=False))
            if section.chart is not None:
                archive.writestr(f"{section.key}.png", chart_png(section.chart))
                archive.writestr(f"{section.key}.svg", inline_svg(section.chart))
    return buffer.getvalue()


def write_task_report(name: str, fmt: str, out, *, priority: str = DEFAULT_PRIORITY, store=None) -> Path:
    """Write the task's report as `fmt` (html, pptx or zip) to `out`; returns the path."""
    from core.store import ResultsStore

    if fmt not in ("html", "pptx", "zip"):
        raise ValueError(f"Expected format html, pptx or zip, got {fmt!r}.")
    spec, card, sections = task_sections(store or ResultsStore(), name, priority)
    data = {"html": lambda: _html(spec, card, sections).encode(), "pptx": lambda: _pptx(spec, card, sections),
            "zip": lambda: _zip(spec, card, sections)}[fmt]()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return out
