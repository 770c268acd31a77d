"""Keeping credentials out of the record: commands, argv, environment and URLs are scrubbed before
anything is stored (pure functions).

What is caught: AWS access key ids and secret keys, GitHub / GitLab / OpenAI / Anthropic /
Hugging Face / Slack tokens, ``Bearer``/``Basic`` credentials however short, credential-carrying
HTTP headers (``-H 'X-Api-Key: V'``, ``--header=Authorization:...``, cookies), values of options
whose name ends in a credential word (``--aws-secret-access-key``, ``--client-secret``,
``--hf_token``, ``--wandb-key``, ``--private-key=``, ``--password``...), the password of
``-u user:pw`` / ``--user=user:pw``, mysql's ``-pPW``, ``NAME=value`` assignments whose name
denotes a credential, passwords in URLs (``https://user:pw@host``), presigned-URL signatures, and
PEM private keys. ``tests/unit/recording/test_secrets.py`` holds the table of forms.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from roar._inject._roar_credential_rule import CREDENTIAL_NAME_PATTERN, NOT_CREDENTIALS

REDACTED = "[REDACTED]"

_CREDENTIAL_NAME = re.compile(CREDENTIAL_NAME_PATTERN)
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
_BEARER = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9\-._~+/]{16,}=*")
# After "Bearer" anything is a token, however short.
_SHORT_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*")
# HTTP headers that carry credentials, as in `curl -H 'X-Api-Key: V'` or `--header=Cookie:...`.
_CREDENTIAL_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization|x-api-key|api-key|x-auth-token|private-token|cookie"
    r"|x-amz-security-token|x-goog-api-key|x-access-token|x-hub-signature(?:-256)?)"
    r"(\s*:\s*)(?:(bearer|basic|token)\s+)?([^'\"\n]+)"
)
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^/@\s:]+):([^/@\s]+)@")
_URL_TOKEN_ONLY = re.compile(r"(?i)\b(https?://)([^/@\s:]{16,})@")
_PRESIGNED = re.compile(
    r"(?i)([?&](X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|Signature|AWSAccessKeyId)=)"
    r"[^&\s]+"
)
_ASSIGNMENT = re.compile(r"\b([A-Za-z_][A-Za-z0-9_\-.]*)=(\S+)")
# An option names a credential when its name *ends* in a credential word: `--aws-secret-access-key`,
# `--client-secret`, `--hf_token`, `--wandb-key`, `--private-key`; but not `--tokenizer`,
# `--max-tokens`, `--token-budget` or `--sort-key`.
_OPTION_NAME = re.compile(
    r"(?i)^--?(?:[a-z0-9]+[_\-.])*?(?:"
    r"(?:api|access|secret|private|client|signing|encryption|license|master|wandb|openai"
    r"|anthropic|hf|huggingface|comet|neptune|ssh)[_\-.]?key"
    r"|secret|client[_\-.]?secret|token|auth|passw(?:or)?d|pwd|pw|pass|credentials?"
    r"|passphrase|api[_\-.]?token|session[_\-.]?token|key[_\-.]?secret)$"
)
# `-u user:pw` / `--user=user:pw` (curl, wget, httpie): the part after the colon is a password.
_USER_OPTION = re.compile(r"^(?:-u|--user|--proxy-user|--http-user|--auth)$")
# mysql-style `-pPASSWORD`, for the programs that take it that way.
_INLINE_PASSWORD_PROGRAMS = frozenset(
    {"mysql", "mysqldump", "mysqladmin", "mysqlimport", "mysqlshow", "mysqlcheck", "mariadb",
     "mariadb-dump", "mariadb-admin"}
)  # fmt: skip


_NOT_CREDENTIALS = frozenset(NOT_CREDENTIALS)


def is_credential_name(name: str) -> bool:
    """True when an environment variable or option name denotes a credential."""
    return name not in _NOT_CREDENTIALS and bool(_CREDENTIAL_NAME.search(name))


def redact_text(text: str) -> str:
    """Replace every credential-looking substring of ``text``."""
    for pattern in _TOKENS:
        text = pattern.sub(REDACTED, text)
    text = _CREDENTIAL_HEADER.sub(
        lambda m: f"{m.group(1)}{m.group(2)}{(m.group(3) + ' ') if m.group(3) else ''}{REDACTED}",
        text,
    )
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _SHORT_BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{m.group(2)}:{REDACTED}@", text)
    text = _URL_TOKEN_ONLY.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    text = _PRESIGNED.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    return _ASSIGNMENT.sub(
        lambda m: f"{m.group(1)}={REDACTED}" if is_credential_name(m.group(1)) else m.group(0),
        text,
    )


def _is_credential_option(name: str) -> bool:
    return bool(_OPTION_NAME.match(name))


def _user_password(value: str) -> str:
    user, colon, _ = value.partition(":")
    return f"{user}:{REDACTED}" if colon else value


def redact_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` with credential option values and tokens replaced."""
    out: list[str] = []
    hide_next: str | None = None  # "all", or "password" for the part after a user's colon
    inline_password = bool(argv) and _program(argv[0]) in _INLINE_PASSWORD_PROGRAMS
    for token in argv:
        if hide_next is not None:
            out.append(REDACTED if hide_next == "all" else _user_password(redact_text(token)))
            hide_next = None
            continue
        name, equals, value = token.partition("=")
        if token.startswith("-") and equals and value:
            if _is_credential_option(name):
                out.append(f"{name}={REDACTED}")
                continue
            if _USER_OPTION.match(name):
                out.append(f"{name}={_user_password(value)}")
                continue
        if _is_credential_option(token):
            hide_next = "all"
        elif _USER_OPTION.match(token):
            hide_next = "password"
        elif inline_password and token.startswith("-p") and len(token) > 2:
            out.append(f"-p{REDACTED}")
            continue
        elif token.startswith("-u") and ":" in token[2:] and not token.startswith("--"):
            out.append(f"-u{_user_password(token[2:])}")  # curl -uuser:pw
            continue
        out.append(redact_text(token))
    return out


def _program(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    """Environment values: credential-named variables hidden whole, others scrubbed."""
    return {
        name: REDACTED if is_credential_name(name) else redact_text(value)
        for name, value in env.items()
    }
