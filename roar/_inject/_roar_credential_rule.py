"""The one credential-name rule: which environment variable and option names hold secrets.

Plain constants with no imports, so that both roar (``roar.recording.secrets``) and its probe in
traced Python processes (``sitecustomize``, which cannot import roar and finds this module beside
itself on PYTHONPATH) use the same rule.
"""

CREDENTIAL_NAME_PATTERN = (
    r"(?i)(^|[_\-.])(api[_\-]?key|access[_\-]?key|secret|token|passw(or)?d|pwd|credential|auth)"
    r"([_\-.]|$)"
)
# Names the pattern matches that are not credentials: the shell's working directories.
NOT_CREDENTIALS = ("PWD", "OLDPWD")
