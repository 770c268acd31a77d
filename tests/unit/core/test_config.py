from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from roar.core import config as cfg
from roar.errors import ConfigError


def test_every_seed_key_is_known() -> None:
    seeds = {
        "output.track_repo_files", "output.quiet", "filters.ignore_system_reads",
        "filters.ignore_package_reads", "filters.ignore_torch_cache", "filters.ignore_tmp_files",
        "glaas.url", "glaas.web_url", "registration.omit.enabled", "hash.primary",
        "logging.level", "tracer.default", "proxy.enabled", "proxy.port",
        "proxy.upstream_endpoint",
    }  # fmt: skip
    assert seeds <= set(cfg.KEYS_BY_NAME)
    assert all(k.description for k in cfg.KEYS)


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        ("output.quiet", "true", True),
        ("output.quiet", "No", False),
        ("proxy.port", "9191", 9191),
        ("tracer.default", "ptrace", "ptrace"),
        ("filters.ignore_paths", "data/raw, /scratch", ["data/raw", "/scratch"]),
        ("filters.ignore_paths", '["a", "b"]', ["a", "b"]),
        ("proxy.upstream_endpoint", "http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("proxy.upstream_endpoint", "none", None),
    ],
)
def test_parse_value(key: str, text: str, expected: object) -> None:
    assert cfg.parse_value(cfg.lookup(key), text) == expected


@pytest.mark.parametrize(
    ("key", "text", "message"),
    [
        ("output.quiet", "maybe", "expects true or false"),
        ("proxy.port", "ninety", "expects an integer"),
        ("proxy.port", "70000", "at most 65535"),
        ("tracer.default", "strace", "must be one of"),
        ("hash.primary", "crc32", "must be one of"),
    ],
)
def test_parse_value_rejects(key: str, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        cfg.parse_value(cfg.lookup(key), text)


def test_unknown_key() -> None:
    with pytest.raises(ConfigError, match=r"unknown config key: nope\.nope"):
        cfg.lookup("nope.nope")


def test_render_round_trips(tmp_path: Path) -> None:
    config = (
        cfg.Config.defaults()
        .with_value("proxy.port", 9999)
        .with_value("filters.ignore_paths", ['we"ird\\path', "x"])
        .with_value("tracer.default", "ptrace")
        .with_env({"SEED": "42", "MY VAR": "a b"})
    )
    path = tmp_path / "config.toml"
    cfg.save(path, config)
    text = path.read_text()
    tomllib.loads(text)  # valid TOML
    assert "port = 9999" in text
    loaded = cfg.load(path)
    assert loaded.get("proxy.port") == 9999
    assert loaded.get("filters.ignore_paths") == ['we"ird\\path', "x"]
    assert loaded.get("tracer.default") == "ptrace"
    assert loaded.get("output.quiet") is False
    assert loaded.env == {"SEED": "42", "MY VAR": "a b"}


def test_defaults_file_is_commented(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    cfg.save(path, cfg.Config.defaults())
    text = path.read_text()
    for key in cfg.KEYS:
        assert key.description in text

    # Nothing is set: every value line is a comment, so defaults can change under the user.
    def leaves(table: dict[str, object]) -> list[object]:
        found: list[object] = []
        for value in table.values():
            found += leaves(value) if isinstance(value, dict) else [value]
        return found

    assert leaves(tomllib.loads(text)) == []
    assert cfg.load(path).items() == cfg.Config.defaults().items()


def test_load_rejects_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[proxy]\nport = 'x'\n")
    with pytest.raises(ConfigError, match=r"proxy\.port expects integer"):
        cfg.load(path)
    path.write_text("[nope]\nx = 1\n")
    with pytest.raises(ConfigError, match=r"unknown config key nope\.x"):
        cfg.load(path)
    path.write_text("[[[")
    with pytest.raises(ConfigError, match="not valid TOML"):
        cfg.load(path)


def test_nested_keys_are_written_as_nested_tables(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[hash]\nprimary = "sha256"  # kept\n')
    config = cfg.load(path).with_value("registration.omit.secrets.values", ["abcdefgh"])
    cfg.save(path, config.with_value("registration.omit.enabled", False))
    text = path.read_text()
    assert "[registration.omit.secrets]" in text and '"registration.omit' not in text
    assert "# kept" in text
    again = cfg.load(path)
    assert again.get("registration.omit.secrets.values") == ["abcdefgh"]
    assert again.get("registration.omit.enabled") is False
    assert tomllib.loads(text)["registration"]["omit"]["secrets"]["values"] == ["abcdefgh"]


def test_keys_come_from_the_schema_structs() -> None:
    from roar.core import config_schema

    assert cfg.KEYS_BY_NAME["proxy.port"].maximum == 65535
    assert cfg.KEYS_BY_NAME["hash.run"].choices == ("blake3", "sha256", "sha512", "md5")
    assert cfg.KEYS_BY_NAME["glaas.key"].type == "optional-str"
    defaults = config_schema.RoarConfig()
    assert all(cfg.Config.defaults().get(k.name) == cfg._at(defaults, k.name) for k in cfg.KEYS)
