"""Tables and text fragments, escaped for where they go: a table as CSV, Markdown or LaTeX
(:func:`write_table`, by the file's extension), a cell or comment of Markdown, a LaTeX text, and a
fragment of HTML from a template of the project's own (:func:`render_html`). The study writes its
tables and sentences with these; cifar_nets.report.html puts them in the page.

In Markdown, :func:`markdown_comment` writes text into an HTML comment that no text can close
early, and :func:`dataframe_to_markdown` keeps cells text (no markup, no extra rows or columns).
In LaTeX, :func:`dataframe_to_latex` writes a booktabs ``tabular`` whose cells are text too
(``& % $ # _ { } ~ ^ \\`` escaped by :func:`latex_text`). In HTML, every value is escaped; the one
way to put markup in is a ``markupsafe.Markup`` value, which :func:`render_html` makes from a
template of its own, so the values inside it are escaped too.
"""
from __future__ import annotations

import functools
import html
import math
import re
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup
from tabulate import tabulate

from cifar_nets.io import write_csv, write_text


# how every HTML the project writes is templated (fragments here, the page in report/html.py):
# autoescaping, undefined names fail
JINJA_OPTIONS = dict(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                     lstrip_blocks=True, keep_trailing_newline=True)


@functools.cache
def _fragments() -> jinja2.Environment:
    """The engine of HTML fragments, set as the report's page."""
    return jinja2.Environment(**JINJA_OPTIONS)


def render_html(source: str, **values: Any) -> Markup:
    """A fragment of trusted HTML from the template ``source`` (written by the project, never by
    a user), with every value escaped: e.g. the report's intro."""
    return Markup(_fragments().from_string(source).render(**values))


def _format_float(x: float, floatfmt: str = ".2f") -> str:
    """Floats with ``floatfmt``; tiny non-zero values (e.g. p-values) in 3 significant digits."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    if x != 0 and abs(x) < 0.01:
        return f"{x:.3g}"
    return format(x, floatfmt)


def _cell(value: Any, floatfmt: str) -> str:
    """One table cell as text, as pandas' ``to_html`` shows it: missing values empty, floats with
    ``floatfmt``, tabs and line breaks as ``\\t``/``\\n`` (so a cell stays one line)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, (float, np.floating)):
        return "" if math.isnan(value) else _format_float(float(value), floatfmt)
    text = str(value)
    return text.replace("\t", "\\t").replace("\r", "\\r").replace("\n", "\\n")


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
    with a column of its own, e.g. cifar_nets.study.summary.write_summary)."""
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
