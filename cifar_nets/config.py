"""Config validation: the schema first, then the checks a schema cannot express.

Every error is a `ConfigError` whose message starts with the dotted key that is wrong, e.g.
`recipes.notebook.epochs: 0 is less than the minimum of 1`.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path

import yaml

from cifar_nets import BLOCK_TYPES
from cifar_nets.data.dataset import datasets, fill_dataset_values
from cifar_nets.engine.custom_blocks import CustomBlockError, check_custom_blocks, study_block_types
from cifar_nets.params import canonical_order
from cifar_nets.study.tune import tune_config_error

PROJECT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT / "config.yaml"          # the only home of every default
SCHEMA = PROJECT / "config" / "schema.yaml"


class ConfigError(ValueError):
    """A config value the study cannot use: one line naming the key."""


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
    for name in [k for k in cfg if k not in schema.get("properties", {})] if isinstance(extra, dict) else []:
        _fill_defaults(cfg[name], extra)


def _schema_error_message(err) -> str:
    if err.validator in ("oneOf", "anyOf") and err.context:
        # the error inside the alternative that fits the value's kind best (e.g. a seeds mapping
        # with a bad field), rather than "is not valid under any of the given schemas"
        import jsonschema  # noqa: PLC0415
        fitting = [e for e in err.context if e.validator not in ("type", "const")]
        if fitting:
            return _schema_error_message(jsonschema.exceptions.best_match(fitting))
        return (f"{_key(err.absolute_path)}: {_short(repr(err.instance))} is not allowed "
                f"(allowed: {_allowed(err.schema)})")
    where = _key(err.absolute_path)
    if "propertyNames" in err.schema_path:
        return (f"{_key(list(err.absolute_path) + [_short(str(err.instance))])}: not a valid name "
                "(a letter, then letters, digits or _, at most 64 characters: names become file "
                "names and wildcards)")
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        if allowed:
            return (f"{_key(list(err.absolute_path) + [extra[0]])}: unknown key "
                    f"(allowed here: {', '.join(allowed)}) - misspelled?")
        return f"{where}: {_one_line(err)}"
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        return f"{_key(list(err.absolute_path) + [missing])}: required key is missing"
    return f"{where}: {_one_line(err)}"


def _short(text: str, keep: int = 60) -> str:
    """`text` on one line, at most about `keep` characters (a 300-letter name stays readable)."""
    text = text.replace("\n", "\\n").replace("\r", "\\r")
    return text if len(text) <= keep else f"{text[:keep - 20]}... ({len(text)} characters)"


def _one_line(err) -> str:
    """jsonschema's message with a long offending value shortened."""
    message = err.message
    shown = repr(err.instance)
    if len(shown) > 60 and shown in message:
        message = message.replace(shown, _short(shown))
    return _short(message, keep=300)


# --------------------------------------------------------------------------- finite numbers

def check_finite(value, path=()) -> None:
    """Every number in the config is finite: JSON-schema bounds are false for NaN (so `nan`
    would pass `minimum: 0`), and inf passes an exclusiveMinimum."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{_key(path)}: {value} is not a finite number")
    if isinstance(value, dict):
        for k, v in value.items():
            check_finite(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_finite(v, (*path, i))


# --------------------------------------------------------------------------- --config strings

def _valid(schema: dict, value) -> bool:
    import jsonschema  # noqa: PLC0415
    return jsonschema.Draft202012Validator(schema).is_valid(value)


def _kind_fits(schema: dict, value) -> bool:
    """A mapping fits an object schema, a list an array schema."""
    return schema.get("type") == {dict: "object", list: "array"}.get(type(value))


def coerce_strings(value, schema: dict):
    """`value` with every string that its place in the schema does not accept read as YAML.

    Snakemake reads nested `--config` values with YAML's BaseLoader, which keeps every scalar a
    string: `--config study='{seeds: [0, 1, 2]}'` arrives as {'seeds': ['0', '1', '2']}. A string
    the schema accepts as it is ('auto', a label, an md5) stays a string. A whole float where
    the schema wants an integer (`seed: 42.0`, which JSON Schema counts as an integer) becomes
    an int, so that torch and numpy, which refuse floats as seeds and sizes, get one."""
    if isinstance(value, float) and value.is_integer():
        if any(alt.get("type") == "integer" for alt in schema.get("oneOf", [schema])):
            return int(value)
    if "oneOf" in schema:
        if isinstance(value, str):
            if any(_valid(alt, value) for alt in schema["oneOf"]):
                return value
        else:
            fitting = [alt for alt in schema["oneOf"] if _kind_fits(alt, value)]
            return coerce_strings(value, fitting[0]) if fitting else value
    if isinstance(value, str):
        if _valid(schema, value):
            return value
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        if isinstance(parsed, str) and schema.get("type") == "number":
            try:            # YAML 1.1 reads 1e-3 (no dot) as a string; Python reads it as 0.001
                parsed = float(value)
            except ValueError:
                return value
        return value if isinstance(parsed, str) or parsed is None else coerce_strings(parsed, schema)
    if isinstance(value, dict):
        props, extra = schema.get("properties", {}), schema.get("additionalProperties")
        return {k: coerce_strings(v, props.get(k, extra if isinstance(extra, dict) else {}))
                for k, v in value.items()}
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [coerce_strings(v, schema["items"]) for v in value]
    return value


def load_schema(path=SCHEMA) -> dict:
    """The schema, with the block types and the datasets (cifar_nets/data/sets/) filled in."""
    schema = yaml.safe_load(Path(path).read_text())
    schema["properties"]["study"]["properties"]["block_types"]["items"]["enum"] = list(BLOCK_TYPES)
    schema["properties"]["data"]["properties"]["dataset"]["enum"] = list(datasets())
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


def read_config_file(path) -> dict:
    """One config file as a mapping (empty file: {}), or a ConfigError naming the file."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: "
                          f"{_short(str(getattr(exc, 'problem', None) or exc))}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file holds a mapping of sections (data, study, ...), "
                          f"not a {type(data).__name__}")
    return data


def load_config(*configfiles, overrides: dict | None = None) -> dict:
    """config.yaml, then each configfile merged over it, then `overrides`, validated: what the
    workflow reads for the same files (`snakemake --configfile ...`)."""
    cfg = read_config_file(DEFAULT_CONFIG)
    for path in configfiles:
        cfg = merge(cfg, read_config_file(path))
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
    import jsonschema  # noqa: PLC0415 - the Snakefile reads this module before any job

    if not isinstance(config, dict):
        raise ConfigError(f"<config>: expected a mapping of sections (data, study, ...), got "
                          f"{type(config).__name__}")
    cfg = coerce_strings(copy.deepcopy(config), schema)
    check_finite(cfg)
    schema = study_block_types(schema, cfg)   # names under model.custom_blocks join the enum
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        raise ConfigError(_schema_error_message(errors[0]))
    _fill_defaults(cfg, schema)
    fill_dataset_values(cfg)   # null data values, recipes' mean/std 'dataset': the dataset's own
    check_semantics(cfg)
    return canonical_order(cfg, schema, read_config_file(DEFAULT_CONFIG))   # params.py: by repr


def check_semantics(cfg: dict) -> None:
    study, recipes, model = cfg["study"], cfg["recipes"], cfg["model"]
    for i, name in enumerate(study["recipes"]):
        if name not in recipes:
            raise ConfigError(f"study.recipes.{i}: unknown recipe {_short(repr(name))} "
                              f"(defined under recipes: {', '.join(recipes)})")
    if "skip" in study["block_types"] and model["n_hidden"] % 2:
        raise ConfigError(f"model.n_hidden: {model['n_hidden']} is odd, but SkipBlock "
                          "(block type 'skip') needs an even width")
    data = cfg["data"]
    from cifar_nets.data.fetch import source_problem  # noqa: PLC0415
    if problem := source_problem(data["source"]):
        raise ConfigError(f"data.source: {_short(repr(data['source']))}: {problem}")
    for part in ("train", "test"):
        use, have = data[f"use_{part}_images"], data[f"{part}_images"]
        if use != "all" and use > have:
            raise ConfigError(f"data.use_{part}_images: {use} is more than the archive's {have} "
                              f"{'training' if part == 'train' else 'test'} images (data.{part}_images); "
                              f"use at most {have}, or all")
    used = data["train_images"] if data["use_train_images"] == "all" else data["use_train_images"]
    used_text = f"{used}" if data["use_train_images"] == "all" else f"{used} (data.use_train_images)"
    n_train = int(used * cfg["split"]["train_fraction"]); n_val = used - n_train  # noqa: E702
    if n_train < 1 or n_val < 1:
        raise ConfigError(f"split.train_fraction: {cfg['split']['train_fraction']} leaves "
                          f"{n_train} training and {n_val} validation images of {used_text}")
    seeds = study["seeds"]
    if isinstance(seeds, dict) and seeds["max"] < seeds["min"]:
        raise ConfigError(f"study.seeds.max: {seeds['max']} is below study.seeds.min {seeds['min']}")
    # a precision target is met by the interval of a paired difference between two block types:
    # with one block type there is none, and every group would train max seeds for nothing
    if isinstance(seeds, dict) and len(study["block_types"]) < 2:
        raise ConfigError(f"study.seeds: a precision target compares block types, but study.block_types has "
                          f"only {study['block_types'][0]!r} - add a second block type or give study.seeds as a list")
    if cfg["logging"]["tensorboard"]:
        from cifar_nets.engine.tblog import tensorboard_available  # noqa: PLC0415
        if not tensorboard_available():
            raise ConfigError("logging.tensorboard: true needs the tensorboard package, which is not "
                              "installed: python -m pip install -e \".[tensorboard]\" (or set it to false)")
    for name, recipe in recipes.items():
        if recipe.get("warmup_epochs", 0) > recipe["epochs"]:
            raise ConfigError(f"recipes.{name}.warmup_epochs: {recipe['warmup_epochs']} is more than "
                              f"the recipe's {recipe['epochs']} epochs")
    for name in study["recipes"]:
        bs = recipes[name]["batch_size"]
        if bs > n_train:
            raise ConfigError(f"recipes.{name}.batch_size: {bs} is larger than the training set ({n_train} "
                              f"images = {used_text} x split.train_fraction {cfg['split']['train_fraction']})")
    if error := tune_config_error(cfg, n_train):   # study.tune: cifar_nets/study/tune.py
        raise ConfigError(error)
    check_custom_block_config(cfg)


def check_custom_block_config(cfg: dict) -> None:
    """model.custom_blocks: each block imports, builds for model.n_hidden and keeps the shape on a
    dummy batch (cifar_nets/engine/custom_blocks.py), before any job."""
    try:
        check_custom_blocks(cfg["model"], cfg.get("engine"))
    except CustomBlockError as exc:
        raise ConfigError(str(exc)) from None


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
           "Override any key with `snakemake --cores 2 --configfile my.yaml` (merged over `config.yaml`) or",
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
