"""The secret filter on registry payloads: credential-named values hidden, version pins kept."""

from __future__ import annotations

from roar.recording.secrets import REDACTED
from roar.registry.register import _filtered


def test_version_pins_under_credential_like_names_are_kept() -> None:
    packages = {"pip": {"google-auth": "2.40.3", "python-keycloak": "v4.0.1"}}
    debian = {"dpkg": {"libauth-pam0": "1:1.2.13.dfsg-1"}}
    assert _filtered({"packages": packages}) == {"packages": packages}
    assert _filtered(debian) == debian


def test_credential_named_values_are_hidden() -> None:
    found = _filtered({"env": {"API_TOKEN": "hunter2-abcdef", "AUTH": "Bearer xyz123456789"}})
    assert found == {"env": {"API_TOKEN": REDACTED, "AUTH": REDACTED}}
    # A "version" that carries more than a version is not a pin.
    assert _filtered({"auth": "1.2 password=hunter2"})["auth"] == REDACTED
