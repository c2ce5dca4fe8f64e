"""Feedback pages: the graded notebook as a student may see it, safe to open anywhere.

* No hidden test: the graded run executed the *released* test cells (the
  kernel never saw a hidden one), and the notes come from trusted checks,
  which describe what failed without quoting hidden inputs.
* Inert: everything rendered from the notebook (student output, student
  markdown) is cleaned by nh3 (the Rust ``ammonia`` sanitiser) with an
  allowlist: no scripts, no event handlers, no ``javascript:`` links, no
  styles, images only as ``data:`` URLs. The page also carries a Content
  Security Policy that forbids scripts and every remote load, in case
  anything slipped through.
* Self-contained: one file with inline CSS, nothing fetched, so it renders
  offline and reports to no one.
* Cells are labelled with their number in the student's own notebook.
"""
from __future__ import annotations

import copy
import html
import re

import nbformat
import nh3

from autograder.result import GradeResult

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em", "h1", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p", "pre", "s", "samp", "span", "strong", "sub",
    "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}
ALLOWED_ATTRIBUTES = {"*": {"class", "title"}, "a": {"href"}, "img": {"src", "alt", "width", "height"},
                      "td": {"colspan", "rowspan", "align"}, "th": {"colspan", "rowspan", "align"}, "ol": {"start"}}
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
MAX_CELL_OUTPUT_CHARS = 200_000  # a flood of output is cut to this, per cell, in the page

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#1b1b1b;line-height:1.45}
table.points{border-collapse:collapse;margin:1rem 0}table.points td,table.points th{border:1px solid #bbb;
padding:.3rem .6rem;text-align:left;vertical-align:top}.ok{color:#176a2c}.lost{color:#a11}
.cell{border-left:3px solid #ddd;margin:1rem 0;padding:.2rem .8rem}.cellno{color:#666;font-size:.8rem}
pre{background:#f6f6f6;padding:.5rem;overflow-x:auto;white-space:pre-wrap}
.input pre{background:#eef3fa}.stderr{background:#fdecec}img{max-width:100%}.banner{color:#b00;font-weight:bold}
"""


def _attribute_filter(tag: str, attribute: str, value: str):
    lowered = value.strip().lower()
    if tag == "img" and attribute == "src":
        return value if lowered.startswith("data:image/") and not lowered.startswith("data:image/svg") else None
    if attribute == "href":
        return value if lowered.startswith(("http://", "https://", "mailto:", "#")) else None
    return value


def sanitize(fragment: str) -> str:
    return nh3.clean(fragment, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, attribute_filter=_attribute_filter,
                     clean_content_tags={"script", "style", "iframe", "object", "embed", "svg", "math", "template"},
                     url_schemes={"http", "https", "mailto", "data"}, strip_comments=True)


def _text_of(output) -> str:
    text = output.get("text", "")
    return "".join(text) if isinstance(text, list) else str(text)


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def _plain(text: str) -> str:
    text = _ANSI.sub("", text)
    if len(text) > MAX_CELL_OUTPUT_CHARS:
        text = text[:MAX_CELL_OUTPUT_CHARS] + "\n[... cut: too much output]"
    return html.escape(text)


def _markdown(source: str) -> str:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    source = re.sub(r"\]\(\s*attachment:[^)]*\)", "](#)", source)  # attachments are not kept
    return markdown2html_mistune(source)


def _output_html(output) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        css = "stderr" if output.get("name") == "stderr" else ""
        return f"<pre class='{css}'>{_plain(_text_of(output))}</pre>"
    if kind == "error":
        trace = "\n".join(output.get("traceback") or []) or f"{output.get('ename')}: {output.get('evalue')}"
        return f"<pre class='stderr'>{_plain(trace)}</pre>"
    if kind in ("execute_result", "display_data"):
        data = output.get("data") or {}
        for mime in ("image/png", "image/jpeg", "image/gif"):
            if isinstance(data.get(mime), str):
                payload = re.sub(r"\s+", "", data[mime])
                return f"<img src='data:{mime};base64,{html.escape(payload, quote=True)}' alt='figure'>"
        if isinstance(data.get("text/html"), (str, list)):
            value = data["text/html"]
            return "<div class='html-output'>" + ("".join(value) if isinstance(value, list) else value) + "</div>"
        if isinstance(data.get("text/markdown"), (str, list)):
            value = data["text/markdown"]
            return _markdown("".join(value) if isinstance(value, list) else value)
        if "text/plain" in data:
            value = data["text/plain"]
            return f"<pre>{_plain(''.join(value) if isinstance(value, list) else str(value))}</pre>"
    return ""


def notebook_body(executed: dict, numbers: dict[int, int | None]) -> str:
    """The cells, rendered and sanitised as one fragment."""
    notebook = nbformat.from_dict(copy.deepcopy(executed))
    parts = []
    for index, cell in enumerate(notebook.cells):
        number = numbers.get(index)
        label = f"cell {number} of your notebook" if number else "a cell the grader restored"
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        if cell.get("cell_type") == "markdown":
            inner = _markdown(source)
        elif cell.get("cell_type") == "code":
            outputs = "".join(_output_html(o) for o in cell.get("outputs", []))
            inner = f"<div class='input'><pre>{_plain(source)}</pre></div>{outputs}"
        else:
            inner = f"<pre>{_plain(source)}</pre>"
        parts.append(f"<div class='cell'><div class='cellno'>{html.escape(label)}</div>{inner}</div>")
    return sanitize("".join(parts))


def header(result: GradeResult, banner: str = "", manual: dict | None = None) -> str:
    """``manual``: {grade_id: (points given by hand or None, the TA's comment or None)} from the gradebook."""
    manual = manual or {}
    rows = []
    for grade_id in result.auto_ids:
        got, most = result.scores.get(grade_id, 0.0), result.max_scores[grade_id]
        given, comment = manual.get(grade_id, (None, None))
        note = result.notes.get(grade_id, "")
        if given is not None and given != got:
            got, note = given, f"{note} (changed by hand to {given:g})"
        css = "ok" if got == most else "lost"
        rows.append(f"<tr><td>{html.escape(grade_id)}</td><td class='{css}'>{got:g} / {most:g}</td>"
                    f"<td>{html.escape(note)}{_ta(comment)}</td></tr>")
    for grade_id in result.manual:
        given, comment = manual.get(grade_id, (None, None))
        points = f"{given:g} / {result.max_scores[grade_id]:g}" if given is not None else "graded by hand (not yet)"
        rows.append(f"<tr><td>{html.escape(grade_id)}</td><td>{points}</td><td>{_ta(comment)}</td></tr>")
    release = result.release.get("label") or "unknown (the notebook carries no release stamp)"
    against = result.graded_against.get("label") or "unlabelled"
    measured = ""
    if result.measurements.get("heldout_accuracy") is not None:
        measured = (f"<p>Accuracy of the graded run's model on the reserved test split: "
                    f"<b>{result.measurements['heldout_accuracy']:.3f}</b> (bar {result.measurements.get('bar')}).</p>")
    score = "not graded" if result.status in ("ungradable", "grader_error") else f"{result.score:g} / {result.max_score:g}"
    return (f"<h1>Feedback: {html.escape(result.assignment)} ({html.escape(result.student)})</h1>"
            + (f"<p class='banner'>{html.escape(banner)}</p>" if banner else "")
            + f"<p>Status: <b>{html.escape(result.status)}</b>. {html.escape(result.reason)}</p>"
            f"<p>Release you worked from: {html.escape(release)}; graded against: {html.escape(against)}.</p>"
            f"<p>Automatic score: <b>{html.escape(score)}</b>; written answers are graded by hand.</p>{measured}"
            f"<table class='points'><tr><th>check</th><th>points</th><th>why</th></tr>{''.join(rows)}</table>")


def _ta(comment) -> str:
    return f"<br><i>TA: {html.escape(str(comment))}</i>" if comment else ""


def page(result: GradeResult, executed: dict | None, numbers: dict[int, int | None], banner: str = "",
         manual: dict | None = None) -> str:
    """The whole feedback page. If the notebook cannot be rendered, the page says so and still gives the grades."""
    body = ""
    if executed is not None:
        try:
            body = notebook_body(executed, numbers)
        except Exception as error:  # a damaged notebook must not cost the student their grade report
            body = f"<p>The notebook itself could not be shown here ({html.escape(type(error).__name__)}).</p>"
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
            "<meta name='referrer' content='no-referrer'>"
            f"<title>Feedback: {html.escape(result.assignment)}</title><style>{CSS}</style></head>"
            f"<body>{header(result, banner, manual)}<h2>Your notebook as graded</h2>{body}</body></html>")
