"""Self-contained HTML report (and Markdown tables) for the CIFAR-10 ablation study.

:func:`build_report` renders ``templates/report.html.j2`` into a single HTML file that opens
offline: the CSS is inline, there are no scripts, fonts or external URLs, and every figure is
embedded as a base64 ``data:`` URI. The template engine (Jinja2) escapes every value: titles,
sentences, captions, table cells, configuration, environment and the intro are text, however
they are spelled (``<script>``, quotes, ``&``). The one way to put markup in is a
``markupsafe.Markup`` value, which :func:`render_html` makes from a template of its own, so the
values inside it are escaped too.

In Markdown, :func:`markdown_comment` writes text into an HTML comment that no text can close
early, and :func:`dataframe_to_markdown` keeps cells text (no markup, no extra rows or columns).
In LaTeX, :func:`dataframe_to_latex` writes a booktabs ``tabular`` whose cells are text too
(``& % $ # _ { } ~ ^ \\`` escaped by :func:`latex_text`). :func:`write_table` writes one table
as CSV, Markdown or LaTeX by the file's extension.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import math
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup
from tabulate import tabulate

from cifar_nets.io import write_csv, write_text


_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
         ".gif": "image/gif", ".svg": "image/svg+xml", ".webp": "image/webp"}


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------
def image_data_uri(path) -> str:
    """Return the file at ``path`` as a ``data:<mime>;base64,...`` URI (PNG by default)."""
    p = Path(path)
    mime = _MIME.get(p.suffix.lower(), "image/png")
    data = p.read_bytes()
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


@functools.cache
def _jinja() -> jinja2.Environment:
    """The template engine of every HTML the project writes: autoescaping, undefined names fail."""
    return jinja2.Environment(loader=jinja2.PackageLoader("cifar_nets", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def render_html(source: str, **values: Any) -> Markup:
    """A fragment of trusted HTML from the template ``source`` (written by the project, never by
    a user), with every value escaped: e.g. the report's intro."""
    return Markup(_jinja().from_string(source).render(**values))


def _slug(text: str, used: set) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "section"
    slug, i = base, 2
    while slug in used:
        slug, i = f"{base}-{i}", i + 1
    used.add(slug)
    return slug


def _format_float(x: float, floatfmt: str = ".2f") -> str:
    """Floats with ``floatfmt``; tiny non-zero values (e.g. p-values) in 3 significant digits."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    if x != 0 and abs(x) < 0.01:
        return f"{x:.3g}"
    return format(x, floatfmt)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)


def format_config(config: Mapping) -> str:
    """Configuration as YAML (block style, key order kept) when PyYAML is importable, JSON
    otherwise."""
    data = _jsonable(dict(config or {}))
    try:
        import yaml  # noqa: PLC0415 - optional

        return yaml.safe_dump(data, sort_keys=False, default_flow_style=False,
                              allow_unicode=True).rstrip()
    except Exception:  # noqa: BLE001 - missing or failing PyYAML: fall back to JSON
        return json.dumps(data, indent=2, ensure_ascii=False)


def _cell(value: Any, floatfmt: str) -> str:
    """One table cell as text, as pandas' ``to_html`` shows it: missing values empty, floats with
    ``floatfmt``, tabs and line breaks as ``\\t``/``\\n`` (so a cell stays one line)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, (float, np.floating)):
        return "" if math.isnan(value) else _format_float(float(value), floatfmt)
    text = str(value)
    return text.replace("\t", "\\t").replace("\r", "\\r").replace("\n", "\\n")


def _table(df: pd.DataFrame | None, floatfmt: str = ".2f", caption: Any = "") -> dict:
    """What the template's ``table`` macro shows: header and rows as text (None: no columns)."""
    if df is None or len(df.columns) == 0:
        return {"caption": caption, "columns": None, "rows": None}
    return {"caption": caption, "columns": [str(c) for c in df.columns],
            "rows": [[_cell(v, floatfmt) for v in row] for row in df.itertuples(index=False)]}


def _env_value(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v) if v else "none"
    if isinstance(v, Mapping):
        return ", ".join(f"{k}: {x}" for k, x in v.items())
    return str(v)


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------
def _section(sid: str, stitle: str, sec: Mapping, floatfmt: str) -> dict:
    """One report section for the template: heading, generated sentences, tables, figures."""
    return {"id": sid, "title": stitle,
            "sentences": [s for s in (sec.get("sentences") or []) if str(s).strip()],
            "tables": [_table(df, floatfmt, caption) for caption, df in sec.get("tables") or []],
            "figures": [{"caption": caption, "uri": image_data_uri(png)}
                        for caption, png in sec.get("figures") or []]}


def build_report(path, *, title: str, intro: str | Markup, sections: Sequence[Mapping],
                 config: Mapping, environment: Mapping, floatfmt: str = ".2f",
                 warning: str | None = None) -> None:
    """Write one self-contained HTML report to ``path`` (atomically).

    Each section is a mapping with optional keys ``title`` (str), ``sentences`` (generated
    conclusions, shown prominently as a list), ``tables`` (``[(caption, DataFrame), ...]``) and
    ``figures`` (``[(caption, png_path), ...]``, embedded as base64 data URIs; a missing file
    raises ``FileNotFoundError``). A table of contents links the sections; the report ends with
    "Configuration used" and "Environment". ``warning``, when given, is shown above everything
    else, in a red box (e.g. that the numbers come from synthetic images). Every string is shown
    as text; ``intro`` is markup only when it is ``Markup`` (e.g. from :func:`render_html`).
    """
    used: set = set()
    body: list[dict] = []
    for i, sec in enumerate(sections, start=1):
        stitle = str(sec.get("title") or f"Section {i}")
        body.append(_section(_slug(stitle, used), stitle, sec, floatfmt))
    cid = _slug("Configuration used", used)
    eid = _slug("Environment", used)
    toc = ([{"id": s["id"], "title": s["title"]} for s in body]
           + [{"id": cid, "title": "Configuration used"},
              {"id": eid, "title": "Environment of the report node"}])
    env_df = pd.DataFrame({"item": [str(k) for k in (environment or {})],
                           "value": [_env_value(v) for v in (environment or {}).values()]})
    doc = _jinja().get_template("report.html.j2").render(
        title="" if title is None else str(title), intro=intro or "", toc=toc, sections=body,
        warning=None if warning is None else str(warning),
        config_id=cid, config=format_config(config), environment_id=eid,
        environment=_table(env_df) if len(env_df) else None)
    write_text(path, doc)


# --------------------------------------------------------------------------------------------
# markdown
# --------------------------------------------------------------------------------------------
def markdown_text(text: Any) -> str:
    """``text`` for a Markdown table cell: shown as written, never as markup. HTML's ``& < >``
    become entities, backslashes and pipes are escaped (a pipe cannot end the cell) and line
    breaks become spaces (a cell cannot start a row)."""
    text = html.escape(str(text), quote=False).replace("\\", "\\\\").replace("|", "\\|")
    return re.sub(r"\r\n|\r|\n", " ", text)


def markdown_comment(text: Any) -> str:
    """``<!-- text -->`` on one line that no text can close early or leave open: ``& < >`` and
    line breaks are written as character references (``-->`` becomes ``--&gt;``), so
    ``html.unescape`` of what is between ``<!-- `` and `` -->`` gives ``text`` back."""
    body = html.escape(str(text), quote=False).replace("\r", "&#13;").replace("\n", "&#10;")
    return f"<!-- {body} -->"


def _is_text(col: pd.Series) -> bool:
    values = col.dropna()
    return len(values) > 0 and all(isinstance(v, str) for v in values)


def dataframe_to_markdown(df: pd.DataFrame, floatfmt: str = ".2f") -> str:
    """A pipe table (no index) by tabulate: floats with
    ``floatfmt``, missing values empty, text cells escaped by :func:`markdown_text` and shown as
    written (a text column of ``2.4`` or ``007`` is not reformatted as a number), numbers
    right-aligned."""
    text_columns = [i for i, c in enumerate(df.columns) if _is_text(df.iloc[:, i])]
    clean = df.apply(lambda col: col.map(lambda v: markdown_text(v) if isinstance(v, str) else v))
    clean = clean.astype(object).where(clean.notna(), None)
    # tabulate itself, not DataFrame.to_markdown: that shifts a list of disable_numparse columns
    return tabulate(clean.values.tolist(), headers=[markdown_text(c) for c in df.columns],
                    tablefmt="pipe", floatfmt=floatfmt, missingval="",
                    disable_numparse=text_columns or False) + "\n"


# --------------------------------------------------------------------------------------------
# latex
# --------------------------------------------------------------------------------------------
_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
          "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
          "^": r"\textasciicircum{}"}


def latex_text(text: Any) -> str:
    """``text`` for LaTeX, shown as written: every special character escaped, line breaks as
    spaces (a blank line would end the table)."""
    text = re.sub(r"\s*[\r\n]+\s*", " ", str(text))
    return "".join(_LATEX.get(ch, ch) for ch in text)


def _latex_cell(value: Any, floatfmt: str) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating, int, np.integer)) or value is None:
        return _cell(value, floatfmt)   # numbers as in the HTML report: no characters to escape
    return latex_text(_cell(value, floatfmt))


def dataframe_to_latex(df: pd.DataFrame, floatfmt: str = ".2f", note: str | None = None,
                       warning: str | None = None) -> str:
    """A booktabs ``tabular`` (no index; pandas' Styler writes it) for a paper's ``\\input``:
    floats with ``floatfmt`` (tiny ones, e.g. p-values, in 3 significant digits), missing values
    empty, every text escaped by :func:`latex_text`; text columns left-aligned, numbers
    right-aligned. ``note`` (e.g. the data's label) is a ``%`` comment; ``warning``, when given,
    is the first line, a bold paragraph above the table."""
    text_cols = [_is_text(df.iloc[:, i]) for i in range(len(df.columns))]
    cells = pd.DataFrame([[_latex_cell(v, floatfmt) for v in row]
                          for row in df.itertuples(index=False)],
                         columns=[latex_text(c) for c in df.columns], dtype=object)
    tex = cells.style.hide(axis="index").to_latex(
        hrules=True, column_format="".join("l" if t else "r" for t in text_cols) or "l")
    head = "" if not warning else f"\\noindent\\textbf{{{latex_text(warning)}}}\\par\n"
    head += "" if note is None else f"% {latex_text(note)}\n"
    return head + tex


def write_table(path, df: pd.DataFrame, note: str | None = None, warning: str | None = None,
                floatfmt: str = ".2f") -> None:
    """``df`` at ``path`` (atomically) as CSV, Markdown or LaTeX, by the extension (.csv, .md,
    .tex). Markdown opens with ``warning`` in bold (its first line, when given), then ``note`` as
    a comment; LaTeX as :func:`dataframe_to_latex`; CSV holds the table only (a caller marks it
    with a column of its own, e.g. cifar_nets.study.write_summary)."""
    ext = Path(path).suffix
    if ext == ".csv":
        write_csv(path, df)
    elif ext == ".md":
        write_text(path, (f"**{markdown_text(warning)}**\n\n" if warning else "")
                   + ("" if note is None else markdown_comment(note) + "\n")
                   + dataframe_to_markdown(df, floatfmt))
    elif ext == ".tex":
        write_text(path, dataframe_to_latex(df, floatfmt, note, warning))
    else:
        raise ValueError(f"{path}: a table is written as .csv, .md or .tex, not {ext or 'no extension'}")


__all__ = ["image_data_uri", "build_report", "render_html", "dataframe_to_markdown",
           "markdown_comment", "markdown_text", "format_config", "dataframe_to_latex",
           "latex_text", "write_table"]
