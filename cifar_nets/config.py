"""Config validation: the schema first, then the checks a schema cannot express.

Every error is a `ConfigError` whose message starts with the dotted key that is wrong, e.g.
`recipes.notebook.epochs: 0 is less than the minimum of 1`.
"""
from __future__ import annotations

import copy
from pathlib import Path

import yaml

from . import BLOCK_TYPES

PROJECT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT / "config.yaml"          # the only home of every default
SCHEMA = PROJECT / "config" / "schema.yaml"


class ConfigError(ValueError):
    pass


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<config>"


def _fill_defaults(cfg, schema):
    if not isinstance(cfg, dict) or schema.get("type") != "object":
        return
    for name, sub in schema.get("properties", {}).items():
        if name not in cfg and "default" in sub:
            cfg[name] = copy.deepcopy(sub["default"])
        if name in cfg:
            _fill_defaults(cfg[name], sub)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for name, value in cfg.items():
            if name not in schema.get("properties", {}):
                _fill_defaults(value, extra)


def _schema_error_message(err) -> str:
    if err.validator in ("oneOf", "anyOf") and err.context:
        # the error inside the alternative that fits the value's kind best (e.g. a seeds mapping
        # with a bad field), rather than "is not valid under any of the given schemas"
        import jsonschema  # noqa: PLC0415
        fitting = [e for e in err.context if e.validator not in ("type", "const")]
        if fitting:
            return _schema_error_message(jsonschema.exceptions.best_match(fitting))
    where = _key(err.absolute_path)
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        if allowed:
            return (f"{_key(list(err.absolute_path) + [extra[0]])}: unknown key "
                    f"(allowed here: {', '.join(allowed)}) - misspelled?")
        return f"{where}: {err.message}"
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        return f"{_key(list(err.absolute_path) + [missing])}: required key is missing"
    return f"{where}: {err.message}"


def load_schema(path=SCHEMA) -> dict:
    """The schema, with the block types filled in from cifar_nets.BLOCK_TYPES."""
    schema = yaml.safe_load(Path(path).read_text())
    schema["properties"]["study"]["properties"]["block_types"]["items"]["enum"] = list(BLOCK_TYPES)
    return schema


def merge(base: dict, over: dict) -> dict:
    """`over` merged into a copy of `base`, recursively (as Snakemake merges --configfile)."""
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_config(*configfiles, overrides: dict | None = None) -> dict:
    """config.yaml, then each configfile merged over it, then `overrides`, validated: what the
    workflow reads for the same files (`snakemake --configfile ...`)."""
    cfg = yaml.safe_load(DEFAULT_CONFIG.read_text())
    for path in configfiles:
        cfg = merge(cfg, yaml.safe_load(Path(path).read_text()) or {})
    return validate_config(merge(cfg, overrides or {}), load_schema())


def set_key(cfg: dict, dotted: str, value) -> dict:
    """{'a': {'b': value}} for 'a.b': a single-key override."""
    out: dict = {}
    node = out
    *parents, last = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return merge(cfg, out)


def validate_config(config: dict, schema: dict) -> dict:
    """Return a validated copy of `config` with schema defaults filled in, or raise ConfigError."""
    import jsonschema

    cfg = copy.deepcopy(config)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        raise ConfigError(_schema_error_message(errors[0]))
    _fill_defaults(cfg, schema)
    check_semantics(cfg)
    return cfg


def check_semantics(cfg: dict) -> None:
    study, recipes, model = cfg["study"], cfg["recipes"], cfg["model"]
    for i, name in enumerate(study["recipes"]):
        if name not in recipes:
            raise ConfigError(f"study.recipes.{i}: unknown recipe {name!r} "
                              f"(defined under recipes: {', '.join(recipes)})")
    if "skip" in study["block_types"] and model["n_hidden"] % 2:
        raise ConfigError(f"model.n_hidden: {model['n_hidden']} is odd, but SkipBlock "
                          "(block type 'skip') needs an even width")
    n_train = int(cfg["data"]["train_images"] * cfg["split"]["train_fraction"])
    n_val = cfg["data"]["train_images"] - n_train
    if n_train < 1 or n_val < 1:
        raise ConfigError(f"split.train_fraction: {cfg['split']['train_fraction']} leaves "
                          f"{n_train} training and {n_val} validation images")
    seeds = study["seeds"]
    if isinstance(seeds, dict) and seeds["max"] < seeds["min"]:
        raise ConfigError(f"study.seeds.max: {seeds['max']} is below study.seeds.min {seeds['min']}")
    if cfg["logging"]["tensorboard"]:
        from .tblog import tensorboard_available  # noqa: PLC0415
        if not tensorboard_available():
            raise ConfigError("logging.tensorboard: true needs the tensorboard package, which is "
                              "not installed: python -m pip install -e \".[tensorboard]\" "
                              "(or set it to false)")
    for name in study["recipes"]:
        bs = recipes[name]["batch_size"]
        if bs > n_train:
            raise ConfigError(f"recipes.{name}.batch_size: {bs} is larger than the training set "
                              f"({n_train} images = {cfg['data']['train_images']} x "
                              f"split.train_fraction {cfg['split']['train_fraction']})")


# --------------------------------------------------------------------------- config/README.md

def _allowed(spec: dict) -> str:
    if "oneOf" in spec:
        return " or ".join(_allowed(s) for s in spec["oneOf"])
    if "const" in spec:
        return f"`{spec['const']}`"
    if "enum" in spec:
        return " / ".join(f"`{yaml.safe_dump(v).strip().removesuffix('...').strip()}`" for v in spec["enum"])
    kind = spec.get("type", "")
    if kind == "array":
        return f"list of {_allowed(spec.get('items', {}))}"
    bounds = [f">= {spec['minimum']}" if "minimum" in spec else "",
              f"> {spec['exclusiveMinimum']}" if "exclusiveMinimum" in spec else "",
              f"<= {spec['maximum']}" if "maximum" in spec else "",
              f"< {spec['exclusiveMaximum']}" if "exclusiveMaximum" in spec else ""]
    return " ".join([kind] + [b for b in bounds if b]).strip()


def _value(v) -> str:
    return "`" + yaml.safe_dump(v, default_flow_style=True).strip().removesuffix("...").strip() + "`"


def reference_markdown(schema: dict | None = None, config_path=DEFAULT_CONFIG) -> str:
    """config/README.md: every key with its value in config.yaml, what it accepts and the
    schema's description (the source of every description)."""
    schema = schema or load_schema()
    cfg = yaml.safe_load(Path(config_path).read_text())
    out = ["# Configuration reference", "",
           "Generated from `config/schema.yaml` (descriptions, allowed values) and `config.yaml`",
           "(defaults) by `python -m cifar_nets.config > config/README.md`; a test keeps it in step.",
           "Override any key with `snakemake --configfile my.yaml` (merged over `config.yaml`) or",
           "`--config`; `python -m cifar_nets` reads the same files. What changing each key reruns is",
           "in [docs/configuration.md](../docs/configuration.md).", ""]
    for section, spec in schema["properties"].items():
        out += [f"## `{section}`", "", spec.get("description", ""), ""]
        if section == "recipes":
            fields = spec["additionalProperties"]["properties"]
            out += ["Each recipe, `recipes.<name>`, has these fields (`epochs`, `batch_size` and `lr` "
                    "required; the others default as shown). `config.yaml` defines "
                    + ", ".join(f"`{n}`" for n in cfg["recipes"]) + ".", "",
                    "| field | default | allowed | description |", "| --- | --- | --- | --- |"]
            out += [f"| `{k}` | {_value(f['default']) if 'default' in f else '(required)'} | "
                    f"{_allowed(f)} | {f.get('description', '')} |" for k, f in fields.items()]
        else:
            out += ["| key | default | allowed | description |", "| --- | --- | --- | --- |"]
            out += [f"| `{section}.{k}` | {_value(cfg[section][k])} | {_allowed(f)} | "
                    f"{f.get('description', '')} |" for k, f in spec["properties"].items()]
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(reference_markdown(), end="")
