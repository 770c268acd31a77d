"""Keeping credentials out of the record: commands, argv, environment and URLs are scrubbed before
anything is stored (pure functions).

What is caught: AWS access key ids and secret keys, GitHub / GitLab / OpenAI / Anthropic /
Hugging Face / Slack tokens, ``Bearer`` tokens, values of ``--token``/``--api-key``/``--password``
style options and of ``NAME=value`` assignments whose name denotes a credential, passwords in URLs
(``https://user:pw@host``), presigned-URL signatures, and PEM private keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

REDACTED = "[REDACTED]"

_CREDENTIAL_NAME = re.compile(
    r"(?i)(^|[_\-.])(api[_\-]?key|access[_\-]?key|secret|token|passw(or)?d|pwd|credential|auth)"
    r"([_\-.]|$)"
)
_TOKENS = [
    re.compile(r"\b(AKIA|ASIA|AIDA|AROA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{30,}\b"),
    re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}\b"),
    re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{20,}\b"),
    re.compile(r"\bsk-[A-Za-z0-9_\-]{20,}\b"),
    re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),
    re.compile(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}\b"),
    re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/]+"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
]
_BEARER = re.compile(r"(?i)\b(bearer|token)\s+[A-Za-z0-9\-._~+/]{16,}=*")
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^/@\s:]+):([^/@\s]+)@")
_URL_TOKEN_ONLY = re.compile(r"(?i)\b(https?://)([^/@\s:]{16,})@")
_PRESIGNED = re.compile(
    r"(?i)([?&](X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|Signature|AWSAccessKeyId)=)"
    r"[^&\s]+"
)
_ASSIGNMENT = re.compile(r"\b([A-Za-z_][A-Za-z0-9_\-.]*)=(\S+)")
_OPTION = re.compile(
    r"(?i)^--?(api[_\-]?key|access[_\-]?key|secret([_\-]key)?|token|auth[_\-]?token|password|passwd"
    r"|pwd|credentials?)$"
)
_OPTION_INLINE = re.compile(
    r"(?i)^(--?(?:api[_\-]?key|access[_\-]?key|secret(?:[_\-]key)?|token|auth[_\-]?token|password"
    r"|passwd|pwd|credentials?))=(.+)$"
)


# Names that look like credentials to the pattern but are not: the shell's working directories.
_NOT_CREDENTIALS = frozenset({"PWD", "OLDPWD"})


def is_credential_name(name: str) -> bool:
    """True when an environment variable or option name denotes a credential."""
    return name not in _NOT_CREDENTIALS and bool(_CREDENTIAL_NAME.search(name))


def redact_text(text: str) -> str:
    """Replace every credential-looking substring of ``text``."""
    for pattern in _TOKENS:
        text = pattern.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{m.group(2)}:{REDACTED}@", text)
    text = _URL_TOKEN_ONLY.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    text = _PRESIGNED.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    return _ASSIGNMENT.sub(
        lambda m: f"{m.group(1)}={REDACTED}" if is_credential_name(m.group(1)) else m.group(0),
        text,
    )


def redact_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` with credential option values and tokens replaced."""
    out: list[str] = []
    hide_next = False
    for token in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        inline = _OPTION_INLINE.match(token)
        if inline:
            out.append(f"{inline.group(1)}={REDACTED}")
            continue
        if _OPTION.match(token):
            hide_next = True
        out.append(redact_text(token))
    return out


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    """Environment values: credential-named variables hidden whole, others scrubbed."""
    return {
        name: REDACTED if is_credential_name(name) else redact_text(value)
        for name, value in env.items()
    }
