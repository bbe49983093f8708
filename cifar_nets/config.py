"""Config validation: the schema first, then the checks a schema cannot express.

Every error is a `ConfigError` whose message starts with the dotted key that is wrong, e.g.
`recipes.notebook.epochs: 0 is less than the minimum of 1`.
"""
from __future__ import annotations

import copy
from pathlib import Path

import yaml

BLOCK_TYPES = ("conv", "res", "skip")   # = models.BLOCK_TYPES; kept here so validation needs no torch


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


def load_schema(path) -> dict:
    return yaml.safe_load(Path(path).read_text())


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
    for bt in study["block_types"]:
        if bt not in BLOCK_TYPES:
            raise ConfigError(f"study.block_types: unknown block type {bt!r}")
    if "skip" in study["block_types"] and model["n_hidden"] % 2:
        raise ConfigError(f"model.n_hidden: {model['n_hidden']} is odd, but SkipBlock "
                          "(block type 'skip') needs an even width")
    n_train = int(cfg["data"]["train_images"] * cfg["split"]["train_fraction"])
    n_val = cfg["data"]["train_images"] - n_train
    if n_train < 1 or n_val < 1:
        raise ConfigError(f"split.train_fraction: {cfg['split']['train_fraction']} leaves "
                          f"{n_train} training and {n_val} validation images")
    for name in study["recipes"]:
        bs = recipes[name]["batch_size"]
        if bs > n_train:
            raise ConfigError(f"recipes.{name}.batch_size: {bs} is larger than the training set "
                              f"({n_train} images = {cfg['data']['train_images']} x "
                              f"split.train_fraction {cfg['split']['train_fraction']})")
