"""What the rules pass as params: one key order, and user text Snakemake's report can hold.

Snakemake decides whether a job reruns by comparing the repr of its rule's params with the one
recorded, and `snakemake --report` writes them, unescaped, into a <script> element. So the
validated config has one key order whatever order its sources gave (`canonical_order`, called
by cifar_nets.config), and user text goes into params escaped (`escape_params`; the job script
reads it back with `unescape_params`).
"""
from __future__ import annotations

import html


def escape_params(value):
    """`value` with `&`, `<` and `>` of every string HTML-escaped, for a rule's params.

    Snakemake's own report (`snakemake --report`) writes each result's params, as text, into a
    JSON object inside a <script> element, unescaped: a data.label holding `</script>` would end
    that element and run what follows. The escaped form holds no `<`, changes exactly when the
    value changes (so reruns stay right), and leaves a string without `&<>` as it was (a study
    made before keeps its params). The job script gets the value back with `unescape_params`."""
    if isinstance(value, str):
        return html.escape(value, quote=False)
    if isinstance(value, dict):
        return {k: escape_params(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [escape_params(v) for v in value]
    return value


def unescape_params(value):
    """The value `escape_params` was given (html.unescape inverts html.escape exactly)."""
    if isinstance(value, str):
        return html.unescape(value)
    if isinstance(value, dict):
        return {k: unescape_params(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [unescape_params(v) for v in value]
    return value


# --------------------------------------------------------------------------- one key order

def _object_schema(schema) -> dict:
    """The object form of a schema entry (the mapping alternative of a oneOf), or {}."""
    if not isinstance(schema, dict):
        return {}
    if schema.get("type") == "object":
        return schema
    return next((alt for alt in schema.get("oneOf", []) if alt.get("type") == "object"), {})


def canonical_order(value, schema: dict, reference):
    """`value` with the keys of every mapping in one order, whatever order the config files and
    `--config` gave them in: a rule's params are compared by their repr, so the same values in
    another order would rerun its jobs. The order is `reference`'s (config.yaml, so a study made
    before keeps its params), then the schema's (where the defaults filled in have always gone),
    then sorted; a name the reference lacks (a recipe of your own) takes the key order of its
    siblings there."""
    if isinstance(value, list):     # a list keeps its order (block types: the tables' order)
        return [canonical_order(v, {}, None) for v in value]
    if not isinstance(value, dict):
        return value
    obj = _object_schema(schema)
    props, extra = obj.get("properties", {}), obj.get("additionalProperties")
    ref = reference if isinstance(reference, dict) else {}
    siblings: dict = {}
    for child in ref.values():
        if isinstance(child, dict):
            siblings.update(dict.fromkeys(child, None))
    order = list(ref) + [k for k in props if k not in ref]
    keys = [k for k in order if k in value] + sorted((k for k in value if k not in order), key=str)
    return {k: canonical_order(value[k], props.get(k, extra if isinstance(extra, dict) else {}),
                               ref[k] if k in ref else siblings)
            for k in keys}
