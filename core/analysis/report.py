"""Exports of the Findings: a self-contained HTML report, a PowerPoint deck and a zip of charts and tables.

Every chart goes out with its provenance (run ids, weights keys, preprocessing, dataset fingerprint,
package versions). The HTML has no external reference (charts are inline SVG, no script, no font or
style sheet from elsewhere), so it opens offline.
"""

from __future__ import annotations

import datetime as _dt
import html
import io
import json
import re
import zipfile
from typing import Literal

__all__ = ["html_report", "pptx_report", "zip_report", "write_report", "beyond_results", "Format", "today",
           "inline_svg", "chart_png", "table_html"]

Format = Literal["html", "pptx", "zip"]
TITLE = "ConvNet vs Transformer, Supervised vs CLIP: which claims do our runs reproduce?"
_VERDICT_COLOURS = {"reproduced": "#2E7D32", "contradicted": "#C62828", "inconclusive": "#EF6C00",
                    "not measured": "#616161"}


def today() -> str:
    """The date and minute a report is made, as its header shows them."""
    return _dt.datetime.now().strftime("%Y-%m-%d %H:%M")


def inline_svg(chart_or_spec) -> str:
    """Inline SVG without namespace URLs (an HTML5 parser puts <svg> in the SVG namespace by itself)."""
    import vl_convert as vlc

    spec = chart_or_spec if isinstance(chart_or_spec, str) else chart_or_spec.to_json()
    text = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", vlc.vegalite_to_svg(spec))
    return _scalable(re.sub(r"<\?xml[^>]*>", "", text))


def _scalable(svg: str) -> str:
    """The SVG scaled down to its container's width (never wider, aspect kept; prints whole): a viewBox from its
    own width and height when it has none, and max-width 100% with automatic height on its root element. A
    wide chart (ImageNet-X: 1,767 px) in a 1,050 px card was clipped behind a scrollbar and cut in print."""
    match = re.search(r"<svg\b[^>]*>", svg)
    if match is None:
        return svg
    tag = match.group(0)
    if "viewBox" not in tag:
        width, height = re.search(r'\bwidth="([\d.]+)', tag), re.search(r'\bheight="([\d.]+)', tag)
        if width and height:
            tag = tag[:-1] + f' viewBox="0 0 {width[1]} {height[1]}">'
    fit = "max-width:100%;height:auto"
    tag = (re.sub(r'\bstyle="', f'style="{fit};', tag, count=1) if re.search(r'\bstyle="', tag)
           else tag[:-1] + f' style="{fit}">')
    return svg[:match.start()] + tag + svg[match.end():]


def chart_png(chart_or_spec, scale: float = 2) -> bytes:
    """A chart (or its Vega-Lite JSON) as PNG bytes, at `scale` × its size."""
    import vl_convert as vlc

    spec = chart_or_spec if isinstance(chart_or_spec, str) else chart_or_spec.to_json()
    return vlc.vegalite_to_png(spec, scale=scale)


def _provenance_rows(runs) -> list[dict]:
    """One dict per run: id, model, source, weights, preprocessing, data fingerprint and revision, packages."""
    if runs is None or len(runs) == 0:
        return []
    rows = []
    for run in runs.to_dict("records") if hasattr(runs, "to_dict") else runs:
        packages = run.get("packages") or ""
        try:
            packages = ", ".join(f"{k} {v}" for k, v in json.loads(packages).items()) if packages else ""
        except (TypeError, ValueError):
            pass
        rows.append({"run": str(run.get("run_id") or run.get("probe_id") or ""), "model": run.get("model", ""),
                     "benchmark": run.get("benchmark") or run.get("dataset") or "", "source": run.get("source", "ours"),
                     "weights": run.get("weights_key") or "", "preprocessing": run.get("preprocess_key") or
                     run.get("protocol") or "", "dataset fingerprint": run.get("data_fingerprint") or "",
                     "data revision": _data_revision(run), "packages": packages})
    return rows


def _data_revision(run: dict) -> str:
    """Which publisher revision the run's images came from (its download manifest), or "unverified copy";
    "" for imported decisions, which have no images of ours."""
    from core.analysis.revisions import revision_of

    return revision_of(run.get("data_revision")) if run.get("source", "ours") == "ours" else ""


def _pin_runs(pin) -> list[dict]:
    try:
        return _provenance_rows(json.loads(pin.get("provenance") or "{}").get("runs", []))
    except ValueError:
        return []


def table_html(frame) -> str:
    """A frame as a plain HTML table (4 decimals, – for a missing number), or a line saying there is none."""
    if frame is None or len(frame) == 0:
        return "<p class='muted'>No numbers yet.</p>"
    return frame.to_html(index=False, border=0, classes="numbers", na_rep="–", float_format=lambda v: f"{v:.4f}")


def _provenance_html(rows: list[dict]) -> str:
    if not rows:
        return "<p class='muted'>Provenance: no runs feed this chart yet.</p>"
    import pandas as pd

    return ("<details><summary>Provenance: " + f"{len(rows)} run(s)</summary>"
            + pd.DataFrame(rows).to_html(index=False, border=0, classes="provenance") + "</details>")


def _parts_html(result, labels: dict[str, str]) -> str:
    """Each part: its verdict, the two values with their intervals, and the difference it was decided on."""
    from core.analysis.findings import claim_rule, part_line

    items = [f"<li><b style='color:{_VERDICT_COLOURS[part.verdict]}'>{part.verdict}</b>: "
             f"{html.escape(part_line(part, labels))}</li>" for part in result.parts]
    return ("<ul class='parts'>" + "".join(items) + "</ul>"
            + f"<p class='muted'>{html.escape(claim_rule(result))}</p>")


def html_report(results, pins, *, title: str = TITLE, beyond=()) -> str:
    """The report as one HTML string: claim cards with verdicts, pinned charts, tables, notes, provenance;
    `beyond` (ClaimResults of claims that are ours, not the paper's) in a section of their own after the claims."""
    from core.analysis.findings import VERDICT_RULE, evidence_chart, model_labels, numbers_table, runs_table
    from core.paper import TAGS

    labels = model_labels()
    sections = []
    summary = "".join(f"<tr><td>{r.claim.number}. {html.escape(r.claim.title)}</td><td><b style='color:"
                      f"{_VERDICT_COLOURS[r.verdict]}'>{r.verdict}</b></td></tr>" for r in results)
    for result in (*results, *beyond):
        chart = evidence_chart(result, labels)
        figure = (f"<figure class='chart' data-chart='claim-{result.claim.number}'>{inline_svg(chart)}</figure>"
                  if chart is not None else
                  f"<p class='todo'>Not measured yet. Run: <code>{html.escape(result.command)}</code></p>")
        sections.append(
            f"<section class='card' id='claim-{result.claim.number}'>"
            f"<h2>{result.claim.number}. {html.escape(result.claim.title)} "
            f"<span class='verdict' style='background:{_VERDICT_COLOURS[result.verdict]}'>{result.verdict}</span></h2>"
            f"<p>{html.escape(result.claim.sentence)}</p>{figure}"
            f"<p class='muted'>Measure: {html.escape(result.measure)}. {html.escape(result.note)}</p>"
            f"{table_html(numbers_table(result, labels))}{_parts_html(result, labels)}"
            + (f"<p class='todo'>To complete it, run: <code>{html.escape(result.command)}</code></p>"
               if result.verdict == "not measured" and chart is not None else "")
            + _provenance_html(_provenance_rows(runs_table(result))) + "</section>")
    pin_sections = []
    for number, pin in enumerate(pins.to_dict("records") if pins is not None else [], start=1):
        try:
            figure = f"<figure class='chart' data-chart='pin-{number}'>{inline_svg(pin['chart'])}</figure>"
        except Exception:  # noqa: BLE001 - a pin with a broken spec still lists its note and table
            figure = "<p class='muted'>(chart unavailable)</p>"
        table = ""
        if pin.get("table_csv"):
            import pandas as pd

            table = table_html(pd.read_csv(io.StringIO(pin["table_csv"])).head(60))
        note = f"<p class='note'>{html.escape(pin['note'])}</p>" if pin.get("note") else ""
        pin_sections.append(f"<section class='card pin' id='pin-{number}'><h2>Pinned: {html.escape(pin['title'])}"
                            f"</h2><p class='muted'>From the {html.escape(pin['page'])} page.</p>{note}{figure}"
                            f"<details><summary>Table</summary>{table}</details>"
                            f"{_provenance_html(_pin_runs(pin))}</section>")
    tags = "; ".join(f"[{k}] {html.escape(v)}" for k, v in TAGS.items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{font-family: system-ui, sans-serif; max-width: 1100px; margin: 2rem auto; color: #222; padding: 0 1rem;}}
.card {{border: 1px solid #ddd; border-radius: 8px; padding: 1rem 1.5rem; margin: 1.5rem 0;}}
.verdict {{color: white; border-radius: 4px; padding: 0.1rem 0.5rem; font-size: 0.8em; vertical-align: middle;}}
.muted {{color: #666; font-size: 0.9em;}} .todo {{background: #f5f5f5; padding: 0.5rem;}}
table.numbers, table.provenance, table.summary {{border-collapse: collapse; font-size: 0.85em; margin: 0.5rem 0;}}
table td, table th {{border-bottom: 1px solid #eee; padding: 0.2rem 0.6rem; text-align: left;}}
figure.chart {{margin: 0.5rem 0;}} figure.chart svg {{max-width: 100%; height: auto;}}
.note {{font-style: italic;}}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="muted">Generated {today()} by Beyond Accuracy Explorer from the results store. Reproduces and extends
Vishniakov, Shen &amp; Liu, ICML 2024 (arXiv:2311.09215). Verdicts: reproduced, contradicted, inconclusive or not
measured yet. {html.escape(VERDICT_RULE)} Paper values are references, not measurements: {tags}.</p>
<table class="summary"><tr><th>claim</th><th>verdict</th></tr>{summary}</table>
{''.join(sections[:len(results)])}
{_beyond_html(beyond, sections[len(results):])}
<h1>Pinned charts</h1>
{''.join(pin_sections) or "<p class='muted'>No pins.</p>"}
</body></html>
"""


_BEYOND_INTRO = ("Kept apart from the paper's 8 claims: the claims below are ours, not the paper's, decided with the "
                 "same rule. Effective robustness (Taori et al., NeurIPS 2020): measured top-1 on a shifted set minus the "
                 "prediction of the line that published checkpoints trace against ImageNet top-1.")


def _beyond_html(beyond, sections: list[str]) -> str:
    """The "Beyond the paper" section of the HTML report (empty without such a claim)."""
    if not beyond:
        return ""
    return f"<h1 id='beyond'>Beyond the paper</h1><p class='muted'>{html.escape(_BEYOND_INTRO)}</p>{''.join(sections)}"


def pptx_report(results, pins, *, title: str = TITLE, beyond=()) -> bytes:
    """The deck: a title slide, one slide per claim and per pin (chart PNG, verdict and numbers, provenance footer);
    `beyond` (claims that are ours) after a divider slide of their own, after the paper's claims."""
    import pandas as pd
    from pptx import Presentation
    from pptx.dml.color import RGBColor
    from pptx.util import Inches, Pt

    from core.analysis.findings import (VERDICT_RULE, difference_line, evidence_chart, model_labels, numbers_table,
                                        runs_table)

    labels = model_labels()
    deck = Presentation()
    deck.slide_width, deck.slide_height = Inches(13.333), Inches(7.5)
    title_only, empty = deck.slide_layouts[5], deck.slide_layouts[6]

    def titled(text: str, size: int = 28):
        """A title-only slide whose title spans the 16:9 width (the default layout is 4:3)."""
        slide = deck.slides.add_slide(title_only)
        shape = slide.shapes.title
        shape.left, shape.top, shape.width, shape.height = Inches(0.4), Inches(0.25), Inches(12.5), Inches(1.0)
        shape.text = text
        for paragraph in shape.text_frame.paragraphs:
            for run in paragraph.runs:
                run.font.size = Pt(size)
        return slide

    def text_box(slide, left, top, width, height, lines, size=14):
        frame = slide.shapes.add_textbox(left, top, width, height).text_frame
        frame.word_wrap = True
        for index, (line, colour, bold) in enumerate(lines):
            paragraph = frame.paragraphs[0] if index == 0 else frame.add_paragraph()
            run = paragraph.add_run()
            run.text = line
            run.font.size = Pt(size)
            run.font.bold = bold
            if colour:
                run.font.color.rgb = RGBColor.from_string(colour.lstrip("#"))
        return frame

    slide = deck.slides.add_slide(empty)
    counts = {v: sum(r.verdict == v for r in results) for v in _VERDICT_COLOURS}
    text_box(slide, Inches(0.8), Inches(2.0), Inches(11.7), Inches(2.2), [(title, None, True)], size=36)
    text_box(slide, Inches(0.8), Inches(4.4), Inches(11.7), Inches(1.6),
             [(f"Beyond Accuracy Explorer · {today()}", "#444444", False),
              ("Verdicts from our results store: " + " · ".join(f"{v}: {n}" for v, n in counts.items()), "#444444",
               False),
              ("Reproduces Vishniakov, Shen & Liu, ICML 2024 (arXiv:2311.09215); paper values are references.",
               "#666666", False), (VERDICT_RULE, "#666666", False)], size=14)

    def footer(slide, rows):
        text = "Provenance: " + ("; ".join(f"{r['model']} {r['source']} run {r['run'][:12]} · {r['benchmark']} · "
                                           f"data {str(r['dataset fingerprint'])[:10]}"
                                           + (f" ({r['data revision'].split(' · ')[0]})" if r.get("data revision")
                                              else "") for r in rows[:6])
                                 if rows else "no runs yet")
        text_box(slide, Inches(0.4), Inches(6.85), Inches(12.5), Inches(0.5), [(text, "#666666", False)], size=9)

    def picture(slide, chart_or_spec):
        image = io.BytesIO(chart_png(chart_or_spec))
        shape = slide.shapes.add_picture(image, Inches(0.4), Inches(1.4))
        ratio = min(Inches(7.6) / shape.width, Inches(5.3) / shape.height)
        shape.width, shape.height = int(shape.width * ratio), int(shape.height * ratio)

    for index, result in enumerate((*results, *beyond)):
        if index == len(results):
            divider = titled("Beyond the paper")
            text_box(divider, Inches(0.8), Inches(2.0), Inches(11.7), Inches(3.0), [(_BEYOND_INTRO, "#444444", False)],
                     size=20)
        slide = titled(f"{result.claim.number}. {result.claim.title}")
        chart = evidence_chart(result, labels)
        if chart is not None:
            picture(slide, chart)
        lines = [(f"Verdict: {result.verdict}", _VERDICT_COLOURS[result.verdict], True),
                 (result.claim.sentence, None, False), (f"Measure: {result.measure}", "#444444", False)]
        table = numbers_table(result, labels)
        for row in table.to_dict("records")[:8]:
            # a model without a paper value: None, or NaN where others have one (the column is then float)
            paper = f"; paper {row['paper']:.3f} {row['paper tag']}" if not pd.isna(row["paper"]) else ""
            lines.append((f"{row['model']}: {row['ours']:.3f} [{row['95% interval']}] ({row['from']}){paper}", None,
                          False))
        for part in result.parts[:6]:
            lines.append((f"{part.verdict}: {part.text}", _VERDICT_COLOURS[part.verdict], False))
            difference = difference_line(part, labels)
            if difference:
                lines.append((f"    {difference}", "#444444", False))
        if result.verdict == "not measured":
            lines.append((f"To measure: {result.command}", "#444444", False))
        if index >= len(results) and result.note:  # a claim beyond the paper names its line
            lines.append((result.note, "#444444", False))
        text_box(slide, Inches(8.2) if chart is not None else Inches(0.6), Inches(1.4),
                 Inches(4.8) if chart is not None else Inches(12), Inches(5.3), lines,
                 size=12 if len(lines) <= 14 else 10)
        footer(slide, _provenance_rows(runs_table(result)))

    for pin in pins.to_dict("records") if pins is not None else []:
        slide = titled(f"Pinned: {pin['title']}")
        try:
            picture(slide, pin["chart"])
        except Exception:  # noqa: BLE001 - a pin without a chart keeps its slide and note
            pass
        text_box(slide, Inches(8.2), Inches(1.4), Inches(4.8), Inches(5.3),
                 [(f"From the {pin['page']} page", "#444444", False), (pin.get("note") or "", None, False)], size=14)
        footer(slide, _pin_runs(pin))

    buffer = io.BytesIO()
    deck.save(buffer)
    return buffer.getvalue()


def zip_report(results, pins, *, beyond=()) -> bytes:
    """PNG, SVG and CSV for every chart and table (claim numbers, the runs behind them, pinned tables); `beyond`
    (claims that are ours) under `beyond_the_paper/`, with their verdicts in `beyond_the_paper/verdicts.csv`."""
    import pandas as pd

    from core.analysis.findings import (VERDICT_RULE, difference_line, evidence_chart, model_labels, numbers_table,
                                        runs_table)

    labels = model_labels()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("verdicts.csv", pd.DataFrame([{"claim": r.claim.number, "title": r.claim.title,
                                                        "verdict": r.verdict, "measure": r.measure,
                                                        "command": r.command if r.verdict == "not measured" else ""}
                                                       for r in results]).to_csv(index=False))
        if beyond:
            archive.writestr("beyond_the_paper/verdicts.csv", pd.DataFrame([
                {"claim": r.claim.number, "title": r.claim.title, "verdict": r.verdict, "measure": r.measure,
                 "note": r.note, "command": r.command if r.verdict == "not measured" else ""}
                for r in beyond]).to_csv(index=False))
            archive.writestr("beyond_the_paper/README.txt", _BEYOND_INTRO + "\n")
        for index, result in enumerate((*results, *beyond)):
            folder = "" if index < len(results) else "beyond_the_paper/"
            stem = f"{folder}claim_{result.claim.number}_{result.claim.key}"
            chart = evidence_chart(result, labels)
            if chart is not None:
                archive.writestr(f"{stem}.png", chart_png(chart))
                archive.writestr(f"{stem}.svg", inline_svg(chart))
                if result.chart_table is not None and len(result.chart_table):
                    archive.writestr(f"{stem}_chart_data.csv", result.chart_table.to_csv(index=False))
            archive.writestr(f"{stem}_numbers.csv", numbers_table(result, labels).to_csv(index=False))
            archive.writestr(f"{stem}_runs.csv", pd.DataFrame(_provenance_rows(runs_table(result))).to_csv(index=False))
        for number, pin in enumerate(pins.to_dict("records") if pins is not None else [], start=1):
            stem = f"pin_{number}_{re.sub(r'[^a-z0-9]+', '_', str(pin['title']).lower()).strip('_')}"
            try:
                archive.writestr(f"{stem}.png", chart_png(pin["chart"]))
                archive.writestr(f"{stem}.svg", inline_svg(pin["chart"]))
            except Exception:  # noqa: BLE001 - keep the table and note of a pin whose chart fails
                pass
            archive.writestr(f"{stem}.csv", pin.get("table_csv") or "")
            archive.writestr(f"{stem}_runs.csv", pd.DataFrame(_pin_runs(pin)).to_csv(index=False))
            if pin.get("note"):
                archive.writestr(f"{stem}_note.txt", pin["note"])
    return buffer.getvalue()


def beyond_results(store, *, fit_on: str | None = None, section: dict | None = None) -> list:
    """The claims beyond the paper from the store (the effective-robustness card; its line `fit_on`, default the
    ImageNet-1k-trained checkpoints), read against the published population where it is downloaded; `section`:
    the robustness evidence already collected (its outcome cells are reused)."""
    from core.analysis import evidence
    from core.analysis.beyond import collect_effective_robustness
    from core.data.population import population
    from core.errors import UserError

    runs = store.runs()
    used = evidence.section_inputs(runs, "robustness", store) if len(runs) else runs
    try:
        published = population()
    except UserError:
        published = None
    return [collect_effective_robustness(store, used, published, fit_on=fit_on, section=section)]


def write_report(fmt: Format, out, store=None, *, fit_on: str | None = None) -> int:
    """Compute the findings (and the claims beyond the paper, their line `fit_on`) from the store and write one
    export to `out`; returns its size in bytes."""
    from pathlib import Path

    from core.analysis.evidence import assess, collect_evidence
    from core.store import ResultsStore

    if fmt not in ("html", "pptx", "zip"):
        raise ValueError(f"Expected format html, pptx or zip, got {fmt!r}.")
    store = store or ResultsStore()
    parts = collect_evidence(store)
    results = assess(parts)
    beyond = beyond_results(store, fit_on=fit_on, section=parts.get("robustness"))
    pins = store.pins()
    data = {"html": lambda: html_report(results, pins, beyond=beyond).encode(),
            "pptx": lambda: pptx_report(results, pins, beyond=beyond),
            "zip": lambda: zip_report(results, pins, beyond=beyond)}[fmt]()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return len(data)
