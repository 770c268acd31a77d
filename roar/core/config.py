"""Typed configuration keys and the `.roar/config.toml` file that holds them.

The key table below is the single source of truth: it gives each key its type, default, allowed
values and the description that `roar config list` prints and `roar init` writes as a comment.
Reading uses :mod:`tomllib`. `roar init` writes the whole commented file from the table; later
writes edit the user's file in place with tomlkit (their comments and layout survive), values only
ever come from validated keys, and a failed ``set`` never touches the file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


HASH_ALGORITHMS = ("blake3", "sha256", "sha512", "md5")
TRACER_BACKENDS = ("auto", "ptrace", "preload", "ebpf")

KEYS: tuple[ConfigKey, ...] = (
    ConfigKey("output.track_repo_files", "bool", False, "Include repo files in provenance"),
    ConfigKey("output.quiet", "bool", False, "Suppress the written-files report after a run"),
    ConfigKey(
        "filters.ignore_system_reads",
        "bool",
        True,
        "Ignore reads under /sys, /etc, /usr, /proc ...",
    ),
    ConfigKey(
        "filters.ignore_package_reads", "bool", True, "Ignore reads of installed Python packages"
    ),
    ConfigKey("filters.ignore_torch_cache", "bool", True, "Ignore the torch/triton kernel caches"),
    ConfigKey(
        "filters.ignore_library_caches", "bool", True, "Ignore ~/.cache of pip, huggingface, ..."
    ),
    ConfigKey("filters.ignore_tmp_files", "bool", True, "Ignore /tmp files the job itself wrote"),
    ConfigKey(
        "filters.ignore_paths",
        "list",
        [],
        "Extra path prefixes to ignore (absolute or repo-relative)",
    ),
    ConfigKey(
        "filters.config_files",
        "list",
        [
            "~/.gitconfig",
            "~/.config/*",
            "~/.netrc",
            "~/.condarc",
            "~/.npmrc",
            "~/.pypirc",
            "~/.pip/*",
            "~/.aws/config",
            "~/.keras/*",
            "~/.matplotlib/*",
            "/etc/*",
            ".dvc/config",
            ".dvc/config.local",
            "*/.dvc/config",
            "*/.dvc/config.local",
        ],
        "Tool configuration read by libraries: inputs shown as 'config', never required to "
        "reproduce (globs; ~ is $HOME, relative ones are under the project)",
    ),
    ConfigKey(
        "cache.enabled",
        "bool",
        False,
        "Keep job outputs in .roar/cache/ so `roar run @N` and `roar reproduce` restore them "
        "without running",
    ),
    ConfigKey(
        "cache.type",
        "list",
        ["reflink", "copy"],
        "How outputs go into and out of the cache, first that works (reflink, hardlink, copy)",
        choices=("reflink", "hardlink", "copy"),
    ),
    ConfigKey(
        "openlineage.url",
        "optional-str",
        None,
        "Post each recorded job's OpenLineage RunEvents here (a Marquez-compatible endpoint)",
    ),
    ConfigKey("glaas.url", "str", "https://api.glaas.ai", "GLaaS (lineage registry) server URL"),
    ConfigKey("glaas.web_url", "str", "https://glaas.ai", "GLaaS web UI URL"),
    ConfigKey(
        "glaas.key",
        "optional-str",
        None,
        "SSH private key that signs registry requests (default: ~/.ssh/id_ed25519, id_rsa, "
        "id_ecdsa)",
    ),
    ConfigKey(
        "scope.mode",
        "str",
        "anonymous",
        "How roar register publishes: anonymous (public, unattributed), public (attributed) "
        "or private (only you); roar login turns the default into private",
        choices=("anonymous", "public", "private"),
    ),
    ConfigKey("registration.omit.enabled", "bool", True, "Filter secrets out of registrations"),
    ConfigKey(
        "registration.omit.patterns",
        "list",
        [],
        "Extra regular expressions whose matches are redacted before registering",
    ),
    ConfigKey(
        "registration.omit.secrets.values",
        "list",
        [],
        "Literal strings never sent to a registry (redacted wherever they appear)",
    ),
    ConfigKey(
        "registration.omit.env_vars.names",
        "list",
        [
            "WANDB_API_KEY",
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
            "GITHUB_TOKEN",
            "DATABASE_URL",
            "AWS_SECRET_ACCESS_KEY",
            "HF_TOKEN",
            "HUGGING_FACE_HUB_TOKEN",
        ],
        "Variables whose values (here and in each job) are never sent to a registry",
    ),
    ConfigKey(
        "registration.omit.allowlist.patterns",
        "list",
        [],
        "Regular expressions whose matches are never redacted (false positives)",
    ),
    ConfigKey("hash.primary", "str", "blake3", "Primary hash algorithm", choices=HASH_ALGORITHMS),
    ConfigKey(
        "hash.run",
        "list",
        [],
        "Extra hash algorithms computed for run/build jobs",
        choices=HASH_ALGORITHMS,
    ),
    ConfigKey(
        "hash.get",
        "list",
        ["sha256"],
        "Extra hash algorithms computed for files `roar get` downloads",
        choices=HASH_ALGORITHMS,
    ),
    ConfigKey(
        "hash.put",
        "list",
        [],
        "Extra hash algorithms computed for files `roar put` uploads",
        choices=HASH_ALGORITHMS,
    ),
    ConfigKey(
        "logging.level",
        "str",
        "warning",
        "Log level",
        choices=("debug", "info", "warning", "error"),
    ),
    ConfigKey(
        "tracer.default", "str", "auto", "Tracer backend for run/build", choices=TRACER_BACKENDS
    ),
    ConfigKey(
        "tracer.fallback_enabled", "bool", True, "Let auto fall through to the next usable backend"
    ),
    ConfigKey("proxy.enabled", "bool", False, "Start the S3 proxy for every `roar run`"),
    ConfigKey(
        "proxy.port",
        "int",
        0,
        "Listen port of the standalone proxy daemon (0: a free port, chosen at start)",
        minimum=0,
        maximum=65535,
    ),
    ConfigKey(
        "proxy.upstream_endpoint",
        "optional-str",
        None,
        "S3 endpoint the proxy forwards to (default: AWS for the region)",
    ),
    ConfigKey(
        "proxy.ingest_interval",
        "int",
        10,
        "Seconds between the daemon's moves of its S3 events into the store (0: at stop only)",
        minimum=0,
        maximum=86400,
    ),
)

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
    if key.type == "bool":
        if isinstance(value, bool):
            return value
    elif key.type == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            if key.minimum is not None and value < key.minimum:
                raise ConfigError(f"{key.name} must be at least {key.minimum}, got {value}")
            if key.maximum is not None and value > key.maximum:
                raise ConfigError(f"{key.name} must be at most {key.maximum}, got {value}")
            return value
    elif key.type == "list":
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            unknown = [v for v in value if key.choices and v not in key.choices]
            if unknown:
                raise ConfigError(
                    f"{key.name}: unknown value {unknown[0]!r} (choose from "
                    f"{', '.join(key.choices)})"
                )
            return list(value)
    elif key.type == "optional-str" and value is None:
        return None
    elif isinstance(value, str):
        if key.choices and value not in key.choices:
            raise ConfigError(f"{key.name} must be one of {', '.join(key.choices)}, got {value!r}")
        return value
    raise ConfigError(f"{key.name} expects {key.type_label}, got {value!r}")


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
    values: dict[str, ConfigValue] = {}
    for name, value in _flatten(data).items():
        key = KEYS_BY_NAME.get(name)
        if key is None:
            raise ConfigError(f"{path}: unknown config key {name}")
        values[name] = validate(key, value)
    return Config(values, env_table)


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
    for key, value in config.items():
        table = document.get(key.section)
        if config.is_set(key.name) and value is not None:
            if not isinstance(table, Table):
                table = tomlkit.table()
                document[key.section] = table
            if table.get(key.field) != value:
                table[key.field] = value
        elif isinstance(table, Table) and key.field in table:
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
