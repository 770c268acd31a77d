"""The secret filter on registry payloads: credential-named values hidden, version pins kept."""

from __future__ import annotations

import pytest

from roar.core.config import Config
from roar.errors import ConfigError
from roar.recording.secrets import REDACTED
from roar.registry.omit import Omit
from roar.registry.register import _filtered

NONE = Omit()


def test_version_pins_under_credential_like_names_are_kept() -> None:
    packages = {"pip": {"google-auth": "2.40.3", "python-keycloak": "v4.0.1"}}
    debian = {"dpkg": {"libauth-pam0": "1:1.2.13.dfsg-1"}}
    assert _filtered({"packages": packages}, NONE) == {"packages": packages}
    assert _filtered(debian, NONE) == debian


def test_credential_named_values_are_hidden() -> None:
    found = _filtered({"env": {"API_TOKEN": "hunter2-abcdef", "AUTH": "Bearer xyz123456789"}}, NONE)
    assert found == {"env": {"API_TOKEN": REDACTED, "AUTH": REDACTED}}
    # A "version" that carries more than a version is not a pin.
    assert _filtered({"auth": "1.2 password=hunter2"}, NONE)["auth"] == REDACTED


def _omit(**values: object) -> Omit:
    config = Config.defaults()
    for key, value in values.items():
        config = config.with_value("registration.omit." + key.replace("__", "."), value)
    return Omit.from_config(config, environ={"WANDB_API_KEY": "wandb-live-0123456789"})


def test_configured_literals_and_variables_are_redacted_everywhere() -> None:
    omit = _omit(secrets__values=["corp-db-7.internal"])
    assert omit.text("psql -h corp-db-7.internal") == f"psql -h {REDACTED}"
    # The value of a named variable in this shell, wherever it was pasted.
    assert omit.argv(["python", "t.py", "wandb-live-0123456789"]) == f"python t.py {REDACTED}"
    assert _filtered({"notes": "key wandb-live-0123456789"}, omit) == {"notes": f"key {REDACTED}"}
    # A job's own recorded value of a named variable is a literal for that job too.
    job_omit = omit.with_env({"HF_TOKEN": "recorded-hf-value-99"})
    assert job_omit.text("x recorded-hf-value-99") == f"x {REDACTED}"
    assert job_omit.env({"HF_TOKEN": "recorded-hf-value-99", "LR": "0.1"}) == {
        "HF_TOKEN": REDACTED,
        "LR": "0.1",
    }
    # Short literals would eat ordinary words: they are ignored.
    assert _omit(secrets__values=["ab"]).text("tab ab") == "tab ab"


def test_extra_patterns_and_the_allowlist() -> None:
    omit = _omit(patterns=[r"ticket-[0-9]{4}"])
    assert omit.text("see ticket-1234 now") == f"see {REDACTED} now"
    token = "sk-" + "a" * 24
    assert omit.text(f"id {token}") == f"id {REDACTED}"
    allowed = _omit(allowlist__patterns=[r"sk-a{24}"])
    assert allowed.text(f"id {token}") == f"id {token}"
    with pytest.raises(ConfigError, match=r"registration\.omit\.patterns"):
        _omit(patterns=["(unclosed"])
