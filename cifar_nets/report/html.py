"""The self-contained HTML report of the study (its tables and fragments: cifar_nets.tables).

:func:`build_report` renders ``templates/report.html.j2`` into a single HTML file that opens
offline: the CSS is inline, there are no scripts, fonts or external URLs, and every figure is
embedded as a base64 ``data:`` URI. The template engine (Jinja2) escapes every value: titles,
sentences, captions, table cells, configuration, environment and the intro are text, however
they are spelled (``<script>``, quotes, ``&``). The one way to put markup in is a
``markupsafe.Markup`` value, which :func:`render_html` makes from a template of its own, so the
values inside it are escaped too.

"""

from __future__ import annotations

import base64
import functools
import json
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from cifar_nets.io import write_text
from cifar_nets.tables import (JINJA_OPTIONS, _cell, dataframe_to_latex, dataframe_to_markdown, latex_text,  # noqa: F401 - one release
                                markdown_comment, markdown_text, render_html, write_table)


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
    return jinja2.Environment(loader=jinja2.PackageLoader("cifar_nets.report", "templates"), **JINJA_OPTIONS)


def _slug(text: str, used: set) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "section"
    slug, i = base, 2
    while slug in used:
        slug, i = f"{base}-{i}", i + 1
    used.add(slug)
    return slug


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


__all__ = ["image_data_uri", "build_report", "format_config"]
