"""Self-contained HTML report (and Markdown tables) for the CIFAR-10 ablation study.

:func:`build_report` writes a single HTML file that opens offline: the CSS is inline, there are
no scripts, fonts or external URLs, and every figure is embedded as a base64 ``data:`` URI.
All text coming from the caller (titles, sentences, captions, table cells, configuration,
environment) is HTML-escaped; only ``intro_html`` is inserted verbatim (it is trusted HTML
written by the workflow, and must not reference external resources either).
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from cifar_nets.io import write_text


_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
         ".gif": "image/gif", ".svg": "image/svg+xml", ".webp": "image/webp"}

_CSS = """
:root { --fg:#1d2330; --muted:#5b6475; --accent:#2a5db0; --line:#d9dee7; --bg-soft:#f5f7fb; }
* { box-sizing: border-box; }
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: var(--fg); max-width: 1100px; margin: 0 auto; padding: 1.5rem 1.5rem 4rem;
       line-height: 1.5; }
h1 { font-size: 1.9rem; margin-bottom: .3rem; }
h2 { font-size: 1.4rem; margin-top: 2.6rem; padding-bottom: .25rem;
     border-bottom: 2px solid var(--line); }
a { color: var(--accent); }
nav.toc { background: var(--bg-soft); border: 1px solid var(--line); border-radius: 6px;
          padding: .6rem 1.2rem; margin: 1rem 0 1.5rem; }
nav.toc ol { margin: .3rem 0; }
.intro { margin-bottom: 1rem; }
ul.conclusions { background: #eef4ff; border-left: 4px solid var(--accent); border-radius: 4px;
                 padding: .7rem 1rem .7rem 2.2rem; margin: 1rem 0; font-size: 1.05rem; }
ul.conclusions li { margin: .25rem 0; }
.table-block { margin: 1.2rem 0; overflow-x: auto; }
.caption { font-weight: 600; color: var(--muted); margin: .2rem 0 .4rem; }
table.data { border-collapse: collapse; font-size: .88rem; font-variant-numeric: tabular-nums; }
table.data th, table.data td { border: 1px solid var(--line); padding: .25rem .6rem;
                               text-align: right; }
table.data th { background: var(--bg-soft); }
table.data td:first-child, table.data th:first-child { text-align: left; }
table.data tbody tr:nth-child(even) { background: #fafbfd; }
figure { margin: 1.4rem 0; text-align: center; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: .9rem; margin-top: .3rem; }
pre { background: var(--bg-soft); border: 1px solid var(--line); border-radius: 4px;
      padding: .8rem; overflow-x: auto; font-size: .85rem; }
p.empty { color: var(--muted); font-style: italic; }
footer { margin-top: 3rem; color: var(--muted); font-size: .8rem; }
"""


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------
def image_data_uri(path) -> str:
    """Return the file at ``path`` as a ``data:<mime>;base64,...`` URI (PNG by default)."""
    p = Path(path)
    mime = _MIME.get(p.suffix.lower(), "image/png")
    data = p.read_bytes()
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _esc(text: Any) -> str:
    return html.escape("" if text is None else str(text), quote=True)


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
        import yaml  # optional

        return yaml.safe_dump(data, sort_keys=False, default_flow_style=False,
                              allow_unicode=True).rstrip()
    except Exception:  # noqa: BLE001 - missing or failing PyYAML: fall back to JSON
        return json.dumps(data, indent=2, ensure_ascii=False)


def _table_html(df: pd.DataFrame, floatfmt: str = ".2f") -> str:
    if df is None or len(df.columns) == 0:
        return '<p class="empty">(empty table)</p>'
    return df.to_html(index=False, escape=True, border=0, classes="data", na_rep="",
                      float_format=lambda x: _format_float(x, floatfmt))


def _env_value(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v) if v else "none"
    if isinstance(v, Mapping):
        return ", ".join(f"{k}: {x}" for k, x in v.items())
    return str(v)


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------
def _section_html(sid: str, stitle: str, sec: Mapping, floatfmt: str) -> str:
    """One report section: heading, generated sentences, tables, embedded figures."""
    parts = [f'<section id="{sid}">', f"<h2>{_esc(stitle)}</h2>"]
    sentences = [s for s in (sec.get("sentences") or []) if str(s).strip()]
    if sentences:
        parts.append('<ul class="conclusions">')
        parts += [f"<li>{_esc(s)}</li>" for s in sentences]
        parts.append("</ul>")
    for caption, df in sec.get("tables") or []:
        parts.append('<div class="table-block">')
        if caption:
            parts.append(f'<p class="caption">{_esc(caption)}</p>')
        parts.append(_table_html(df, floatfmt))
        parts.append("</div>")
    for caption, png in sec.get("figures") or []:
        uri = image_data_uri(png)
        parts.append("<figure>")
        parts.append(f'<img src="{uri}" alt="{_esc(caption)}">')
        if caption:
            parts.append(f"<figcaption>{_esc(caption)}</figcaption>")
        parts.append("</figure>")
    if len(parts) == 2:
        parts.append('<p class="empty">(nothing to show)</p>')
    parts.append("</section>")
    return "\n".join(parts)


def build_report(path, *, title: str, intro_html: str, sections: Sequence[Mapping],
                 config: Mapping, environment: Mapping, floatfmt: str = ".2f") -> None:
    """Write one self-contained HTML report to ``path`` (atomically).

    Each section is a mapping with optional keys ``title`` (str), ``sentences`` (generated
    conclusions, shown prominently as a list), ``tables`` (``[(caption, DataFrame), ...]``) and
    ``figures`` (``[(caption, png_path), ...]``, embedded as base64 data URIs; a missing file
    raises ``FileNotFoundError``). A table of contents links the sections; the report ends with
    "Configuration used" and "Environment".
    """
    used: set = set()
    body: list[str] = []
    toc: list[tuple[str, str]] = []

    for i, sec in enumerate(sections, start=1):
        stitle = str(sec.get("title") or f"Section {i}")
        sid = _slug(stitle, used)
        toc.append((sid, stitle))
        body.append(_section_html(sid, stitle, sec, floatfmt))

    cid = _slug("Configuration used", used)
    toc.append((cid, "Configuration used"))
    body.append(f'<section id="{cid}">\n<h2>Configuration used</h2>\n'
                f"<pre>{_esc(format_config(config))}</pre>\n</section>")

    eid = _slug("Environment", used)
    toc.append((eid, "Environment of the report node"))
    env_df = pd.DataFrame({"item": [str(k) for k in (environment or {})],
                           "value": [_env_value(v) for v in (environment or {}).values()]})
    env_html = (_table_html(env_df) if len(env_df)
                else '<p class="empty">(no environment information)</p>')
    body.append(f'<section id="{eid}">\n<h2>Environment of the report node</h2>\n'
                '<p>The machine that wrote this report; where each run trained is in '
                '"Where the runs ran".</p>\n'
                f'<div class="table-block">{env_html}</div>\n</section>')

    toc_html = "\n".join(f'<li><a href="#{sid}">{_esc(t)}</a></li>' for sid, t in toc)
    doc = "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{_esc(title)}</h1>",
        f'<div class="intro">{intro_html or ""}</div>',
        "</header>",
        '<nav class="toc">',
        "<strong>Contents</strong>",
        "<ol>",
        toc_html,
        "</ol>",
        "</nav>",
        "<main>",
        "\n".join(body),
        "</main>",
        "<footer>Self-contained report: all figures are embedded; no external resources.</footer>",
        "</body>",
        "</html>",
        "",
    ])
    write_text(path, doc)


# --------------------------------------------------------------------------------------------
# markdown
# --------------------------------------------------------------------------------------------
def dataframe_to_markdown(df: pd.DataFrame, floatfmt: str = ".2f") -> str:
    """A pipe table (no index) by pandas' ``DataFrame.to_markdown`` (tabulate): floats with
    ``floatfmt``, missing values empty, pipes inside cells escaped, numbers right-aligned."""
    clean = df.apply(lambda col: col.map(lambda v: v.replace("|", "\\|") if isinstance(v, str) else v))
    clean = clean.astype(object).where(clean.notna(), None)
    return clean.to_markdown(index=False, floatfmt=floatfmt, tablefmt="pipe", missingval="") + "\n"


__all__ = ["image_data_uri", "build_report", "dataframe_to_markdown",
                          "format_config"]
