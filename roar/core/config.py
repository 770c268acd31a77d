"""Typed configuration keys and the `.roar/config.toml` file that holds them.

The keys are the msgspec Structs of :mod:`roar.core.config_schema`, the single source of truth:
each field's type, default, allowed values and description. :data:`KEYS` is derived from them
(what `roar config list` prints and `roar init` writes as comments). Reading validates the whole
file with one ``msgspec.convert``; `roar init` writes the whole commented file; later writes edit
the user's file in place with tomlkit (their comments and layout survive), values only ever come
from validated keys, and a failed ``set`` never touches the file.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from roar.core import config_schema as schema
from roar.errors import ConfigError

ConfigValue = bool | int | str | list[str] | None


@dataclass(frozen=True, slots=True)
class ConfigKey:
    """One configuration key: dotted name, value type, default and one-line description."""

    name: str
    type: str  # "bool" | "int" | "str" | "list" | "optional-str"
    default: ConfigValue
    description: str
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    annotation: Any = None  # the schema field's type, what values are converted to

    @property
    def section(self) -> str:
        return self.name.rsplit(".", 1)[0]

    @property
    def field(self) -> str:
        return self.name.rsplit(".", 1)[1]

    @property
    def type_label(self) -> str:
        if self.choices and self.type == "list":
            return f"list of {'|'.join(self.choices)}"
        if self.choices:
            return "|".join(self.choices)
        return {
            "optional-str": "string",
            "list": "list of strings",
            "str": "string",
            "int": "integer",
            "bool": "boolean",
        }.get(self.type, self.type)


HASH_ALGORITHMS = typing.get_args(schema.HashAlgorithm)
TRACER_BACKENDS = typing.get_args(schema.TracerBackend)


def _described(hint: Any) -> tuple[Any, str, int | None, int | None]:
    """(the bare type, description, ge, le) of an ``Annotated`` field type."""
    description, low, high = "", None, None
    while typing.get_origin(hint) is typing.Annotated:
        hint, *metas = typing.get_args(hint)
        for meta in metas:
            if isinstance(meta, msgspec.Meta):
                description = meta.description or description
                low = int(meta.ge) if meta.ge is not None else low
                high = int(meta.le) if meta.le is not None else high
    return hint, description, low, high


def _kind(bare: Any) -> tuple[str, tuple[str, ...]]:
    """The key's type name and its closed set of values, if any."""
    origin, args = typing.get_origin(bare), typing.get_args(bare)
    if bare is bool:
        return "bool", ()
    if bare is int:
        return "int", ()
    if bare is str:
        return "str", ()
    if origin is typing.Literal:
        return "str", tuple(str(a) for a in args)
    if origin is list:
        item = args[0]
        return "list", tuple(typing.get_args(item)) if typing.get_origin(
            item
        ) is typing.Literal else ()
    if set(args) == {str, type(None)}:
        return "optional-str", ()
    raise TypeError(f"config schema: unsupported type {bare!r}")


def _keys(table: type[msgspec.Struct], prefix: str = "") -> list[ConfigKey]:
    hints = typing.get_type_hints(table, include_extras=True)
    keys: list[ConfigKey] = []
    for field in msgspec.structs.fields(table):
        hint = hints[field.name]
        if isinstance(hint, type) and issubclass(hint, msgspec.Struct):
            keys += _keys(hint, f"{prefix}{field.name}.")
            continue
        bare, description, low, high = _described(hint)
        kind, choices = _kind(bare)
        default = field.default_factory() if field.default is msgspec.NODEFAULT else field.default
        keys.append(
            ConfigKey(f"{prefix}{field.name}", kind, default, description, choices, low, high, hint)
        )
    return keys


KEYS: tuple[ConfigKey, ...] = tuple(_keys(schema.RoarConfig))

KEYS_BY_NAME: dict[str, ConfigKey] = {k.name: k for k in KEYS}

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def lookup(name: str) -> ConfigKey:
    try:
        return KEYS_BY_NAME[name]
    except KeyError:
        raise ConfigError(f"unknown config key: {name} (see 'roar config list')") from None


def parse_value(key: ConfigKey, text: str) -> ConfigValue:
    """Turn the command-line text of ``roar config set KEY VALUE`` into a typed value."""
    raw = text.strip()
    if key.type == "bool":
        low = raw.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ConfigError(f"{key.name} expects true or false, got {text!r}")
    if key.type == "int":
        try:
            number = int(raw, 10)
        except ValueError:
            raise ConfigError(f"{key.name} expects an integer, got {text!r}") from None
        return validate(key, number)
    if key.type == "list":
        if raw.startswith("["):
            try:
                parsed = tomllib.loads(f"v = {raw}")["v"]
            except tomllib.TOMLDecodeError:
                raise ConfigError(f'{key.name} expects a list like ["a", "b"]') from None
            return validate(key, parsed)
        return validate(key, [part.strip() for part in raw.split(",") if part.strip()])
    if key.type == "optional-str" and raw.lower() in {"", "none", "null"}:
        return None
    return validate(key, raw)


def validate(key: ConfigKey, value: object) -> ConfigValue:
    """Check a value read from TOML (or parsed from the command line) against the key's type."""
    try:
        converted = msgspec.convert(value, key.annotation)
    except msgspec.ValidationError:
        raise ConfigError(_explain(key, value)) from None
    assert converted is None or isinstance(converted, bool | int | str | list)
    return converted


def _explain(key: ConfigKey, value: object) -> str:
    """Why ``value`` does not fit ``key``, in words a user acts on."""
    if key.type == "int" and isinstance(value, int) and not isinstance(value, bool):
        if key.minimum is not None and value < key.minimum:
            return f"{key.name} must be at least {key.minimum}, got {value}"
        if key.maximum is not None and value > key.maximum:
            return f"{key.name} must be at most {key.maximum}, got {value}"
    if key.type == "list" and isinstance(value, list) and all(isinstance(v, str) for v in value):
        unknown = [v for v in value if key.choices and v not in key.choices]
        if unknown:
            return (
                f"{key.name}: unknown value {unknown[0]!r} (choose from {', '.join(key.choices)})"
            )
    if key.choices and key.type == "str" and isinstance(value, str):
        return f"{key.name} must be one of {', '.join(key.choices)}, got {value!r}"
    return f"{key.name} expects {key.type_label}, got {value!r}"


class Config:
    """The validated configuration of one project: every key has a value (default or set)."""

    def __init__(self, values: Mapping[str, ConfigValue], env: Mapping[str, str]) -> None:
        self._values = {k.name: values.get(k.name, _copy(k.default)) for k in KEYS}
        self.env: dict[str, str] = dict(env)

    @classmethod
    def defaults(cls) -> Config:
        return cls({}, {})

    def get(self, name: str) -> ConfigValue:
        lookup(name)
        return _copy(self._values[name])

    def is_set(self, name: str) -> bool:
        return self._values[name] != lookup(name).default

    def get_bool(self, name: str) -> bool:
        value = self.get(name)
        assert isinstance(value, bool), name
        return value

    def get_str(self, name: str) -> str | None:
        value = self.get(name)
        assert value is None or isinstance(value, str), name
        return value

    def get_list(self, name: str) -> list[str]:
        value = self.get(name)
        assert isinstance(value, list), name
        return value

    def with_value(self, name: str, value: ConfigValue) -> Config:
        key = lookup(name)
        new = dict(self._values)
        new[name] = (
            validate(key, value) if value is not None or key.type != "optional-str" else None
        )
        return Config(new, self.env)

    def with_env(self, env: Mapping[str, str]) -> Config:
        return Config(self._values, env)

    def items(self) -> list[tuple[ConfigKey, ConfigValue]]:
        return [(k, _copy(self._values[k.name])) for k in KEYS]


def _copy(value: ConfigValue) -> ConfigValue:
    return list(value) if isinstance(value, list) else value


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in table.items():
        dotted = f"{prefix}{name}"
        if isinstance(value, dict) and dotted not in KEYS_BY_NAME:
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def load(path: Path) -> Config:
    """Read and validate a config file; a missing file means every key at its default."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config.defaults()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {exc.start}); fix or remove it, then run again"
        ) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    env_table = data.pop("env", {})
    if not isinstance(env_table, dict) or not all(isinstance(v, str) for v in env_table.values()):
        raise ConfigError(f"{path}: [env] must map names to string values")
    try:
        model = msgspec.convert(data, schema.RoarConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {_file_error(str(exc), data)}") from None
    values = {key.name: _at(model, key.name) for key in KEYS}
    return Config(values, env_table)


def _at(model: object, name: str) -> ConfigValue:
    for part in name.split("."):
        model = getattr(model, part)
    assert model is None or isinstance(model, bool | int | str | list)
    return model


_ERROR_PATH = re.compile(r" - at `\$((?:\.[A-Za-z0-9_\-]+)*)(?:\[\d+\])?`$")
_UNKNOWN = re.compile(r"^Object contains unknown field `([^`]+)`")


def _file_error(message: str, data: dict[str, Any]) -> str:
    """msgspec's complaint about a config file, said in the file's own dotted key names."""
    found = _ERROR_PATH.search(message)
    where = found.group(1).lstrip(".") if found else ""
    unknown = _UNKNOWN.match(message)
    if unknown:
        name = f"{where}.{unknown.group(1)}" if where else unknown.group(1)
        raw: Any = data
        for part in name.split("."):
            raw = raw.get(part) if isinstance(raw, dict) else None
        while isinstance(raw, dict) and raw:  # an unknown table: name its first key
            first = next(iter(raw))
            name, raw = f"{name}.{first}", raw[first]
        return f"unknown config key {name}"
    key = KEYS_BY_NAME.get(where)
    if key is None:
        return f"[{where}] must be a table of keys" if where else message
    raw = data
    for part in where.split("."):
        raw = raw.get(part) if isinstance(raw, dict) else None
    return _explain(key, raw)


def _toml_value(value: ConfigValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_string(v) for v in value) + "]"
    assert isinstance(value, str)
    return _toml_string(value)


def _toml_string(text: str) -> str:
    escaped = []
    for ch in text:
        if ch in {'"', "\\"}:
            escaped.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            escaped.append(f"\\u{ord(ch):04x}")
        else:
            escaped.append(ch)
    return '"' + "".join(escaped) + '"'


def _toml_key(name: str) -> str:
    if name and all(c.isalnum() or c in "_-" for c in name):
        return name
    return _toml_string(name)


def render(config: Config) -> str:
    """The whole commented config file for ``config``: set keys active, defaults commented out."""
    lines = [
        "# roar project configuration (.roar/config.toml).",
        "# Change values with `roar config set KEY VALUE`; `roar config list` describes every key.",
        "# Keys left commented out use the default shown.",
    ]
    section = None
    for key, value in config.items():
        if key.section != section:
            section = key.section
            lines += ["", f"[{section}]"]
        lines.append(f"# {key.description} ({key.type_label}).")
        if value is None:
            lines.append(f"# {key.field} =   (not set)")
        elif config.is_set(key.name):
            lines.append(f"{key.field} = {_toml_value(value)}")
        else:
            lines.append(f"# {key.field} = {_toml_value(value)}")
    lines += [
        "",
        "# Environment variables injected into every `roar run` and `roar build`.",
        "[env]",
    ]
    lines += [f"{_toml_key(k)} = {_toml_string(v)}" for k, v in sorted(config.env.items())]
    return "\n".join(lines) + "\n"


def _edited(text: str, config: Config) -> str:
    """``text`` (the user's config file) with ``config``'s values written into it: comments,
    order and layout the user gave it are kept (tomlkit); only changed keys are touched."""
    import tomlkit
    from tomlkit.items import Table

    document = tomlkit.parse(text)

    def section(dotted: str, create: bool) -> Table | None:
        # `[registration.omit.secrets]` is nested tables, never one table named with dots.
        node: Any = document
        for depth, part in enumerate(parts := dotted.split(".")):
            child = node.get(part)
            if not isinstance(child, Table):
                if not create:
                    return None
                child = tomlkit.table(is_super_table=depth < len(parts) - 1)
                node[part] = child
            node = child
        assert isinstance(node, Table)
        return node

    for key, value in config.items():
        table = section(key.section, create=False)
        if config.is_set(key.name) and value is not None:
            if table is None:
                table = section(key.section, create=True)
                assert table is not None
            if table.get(key.field) != value:
                table[key.field] = value
        elif table is not None and key.field in table:
            del table[key.field]  # back to the default
    env = document.get("env")
    if not isinstance(env, Table):
        if not config.env:
            return tomlkit.dumps(document)
        env = tomlkit.table()
        document["env"] = env
    for name in [n for n in env if n not in config.env]:
        del env[name]
    for name, value in sorted(config.env.items()):
        if env.get(name) != value:
            env[name] = value
    return tomlkit.dumps(document)


def save(path: Path, config: Config) -> None:
    """Write the config atomically: a crash mid-write leaves the old file whole. An existing
    file is edited in place, keeping the user's comments; a new one is written whole."""
    try:
        existing: str | None = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        existing = None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    text = render(config) if existing is None else _edited(existing, config)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config.", suffix=".toml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def format_value(value: ConfigValue) -> str:
    """How `roar config get/list` prints a value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(value) if value else "[]"
    return str(value)
