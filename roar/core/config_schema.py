"""The configuration keys of `.roar/config.toml`, as msgspec Structs: one Struct per TOML table.

Each field's type says what it accepts (``Literal`` for a closed set, ``Meta(ge=, le=)`` for a
range), its default is the key's default, and its ``Meta(description=...)`` is the line
`roar config list` prints and `roar init` writes as a comment. A file is validated in one
``msgspec.convert`` into :class:`RoarConfig`; unknown keys are refused (``forbid_unknown_fields``).
"""

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

HashAlgorithm = Literal["blake3", "sha256", "sha512", "md5"]
TracerBackend = Literal["auto", "ptrace", "preload", "ebpf"]
CacheType = Literal["reflink", "hardlink", "copy"]
Port = Annotated[int, Meta(ge=0, le=65535)]


def _doc(text: str) -> Meta:
    return Meta(description=text)


class Output(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    track_repo_files: Annotated[bool, _doc("Include repo files in provenance")] = False
    quiet: Annotated[bool, _doc("Suppress the written-files report after a run")] = False


class Filters(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    ignore_system_reads: Annotated[bool, _doc("Ignore reads under /sys, /etc, /usr, /proc ...")] = (
        True
    )
    ignore_package_reads: Annotated[bool, _doc("Ignore reads of installed Python packages")] = True
    ignore_torch_cache: Annotated[bool, _doc("Ignore the torch/triton kernel caches")] = True
    ignore_library_caches: Annotated[bool, _doc("Ignore ~/.cache of pip, huggingface, ...")] = True
    ignore_tmp_files: Annotated[bool, _doc("Ignore /tmp files the job itself wrote")] = True
    ignore_paths: Annotated[
        list[str], _doc("Extra path prefixes to ignore (absolute or repo-relative)")
    ] = []
    config_files: Annotated[
        list[str],
        _doc(
            "Tool configuration read by libraries: inputs shown as 'config', never required to "
            "reproduce (globs; ~ is $HOME, relative ones are under the project)"
        ),
    ] = msgspec.field(
        default_factory=lambda: [
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
        ]
    )


class Cache(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    enabled: Annotated[
        bool,
        _doc(
            "Keep job outputs in .roar/cache/ so `roar run @N` and `roar reproduce` restore them "
            "without running"
        ),
    ] = False
    type: Annotated[
        list[CacheType],
        _doc(
            "How outputs go into and out of the cache, first that works (reflink, hardlink, copy)"
        ),
    ] = msgspec.field(default_factory=lambda: ["reflink", "copy"])


class OpenLineage(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    url: Annotated[
        str | None,
        _doc("Post each recorded job's OpenLineage RunEvents here (a Marquez-compatible endpoint)"),
    ] = None


class Glaas(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    url: Annotated[str, _doc("GLaaS (lineage registry) server URL")] = "https://api.glaas.ai"
    web_url: Annotated[str, _doc("GLaaS web UI URL")] = "https://glaas.ai"
    key: Annotated[
        str | None,
        _doc(
            "SSH private key that signs registry requests (default: ~/.ssh/id_ed25519, id_rsa, "
            "id_ecdsa)"
        ),
    ] = None


class Scope(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    mode: Annotated[
        Literal["anonymous", "public", "private"],
        _doc(
            "How roar register publishes: anonymous (public, unattributed), public (attributed) "
            "or private (only you); roar login turns the default into private"
        ),
    ] = "anonymous"


class OmitSecrets(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    values: Annotated[
        list[str], _doc("Literal strings never sent to a registry (redacted wherever they appear)")
    ] = []


class OmitEnvVars(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    names: Annotated[
        list[str],
        _doc("Variables whose values (here and in each job) are never sent to a registry"),
    ] = msgspec.field(
        default_factory=lambda: [
            "WANDB_API_KEY",
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
            "GITHUB_TOKEN",
            "DATABASE_URL",
            "AWS_SECRET_ACCESS_KEY",
            "HF_TOKEN",
            "HUGGING_FACE_HUB_TOKEN",
        ]
    )


class OmitAllowlist(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    patterns: Annotated[
        list[str], _doc("Regular expressions whose matches are never redacted (false positives)")
    ] = []


class Omit(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    enabled: Annotated[bool, _doc("Filter secrets out of registrations")] = True
    patterns: Annotated[
        list[str], _doc("Extra regular expressions whose matches are redacted before registering")
    ] = []
    secrets: OmitSecrets = msgspec.field(default_factory=OmitSecrets)
    env_vars: OmitEnvVars = msgspec.field(default_factory=OmitEnvVars)
    allowlist: OmitAllowlist = msgspec.field(default_factory=OmitAllowlist)


class Registration(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    omit: Omit = msgspec.field(default_factory=Omit)


class Hash(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    primary: Annotated[HashAlgorithm, _doc("Primary hash algorithm")] = "blake3"
    run: Annotated[
        list[HashAlgorithm], _doc("Extra hash algorithms computed for run/build jobs")
    ] = []
    get: Annotated[
        list[HashAlgorithm], _doc("Extra hash algorithms computed for files `roar get` downloads")
    ] = msgspec.field(default_factory=lambda: ["sha256"])
    put: Annotated[
        list[HashAlgorithm], _doc("Extra hash algorithms computed for files `roar put` uploads")
    ] = []


class Logging(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    level: Annotated[Literal["debug", "info", "warning", "error"], _doc("Log level")] = "warning"


class Tracer(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    default: Annotated[TracerBackend, _doc("Tracer backend for run/build")] = "auto"
    fallback_enabled: Annotated[bool, _doc("Let auto fall through to the next usable backend")] = (
        True
    )
    resident: Annotated[
        bool,
        _doc("Hand run/build to a warm resident roar (started on first use, exits when idle)"),
    ] = True


class Proxy(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    enabled: Annotated[bool, _doc("Start the S3 proxy for every `roar run`")] = False
    port: Annotated[
        Port, _doc("Listen port of the standalone proxy daemon (0: a free port, chosen at start)")
    ] = 0
    upstream_endpoint: Annotated[
        str | None, _doc("S3 endpoint the proxy forwards to (default: AWS for the region)")
    ] = None
    ingest_interval: Annotated[
        Annotated[int, Meta(ge=0, le=86400)],
        _doc(
            "Seconds between the daemon's moves of its S3 events into the store (0: at stop only)"
        ),
    ] = 10


class Ray(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    enabled: Annotated[
        bool,
        _doc("Record each Ray task and actor method call of a traced script as its own job"),
    ] = True
    actor_attribution: Annotated[
        Literal["per_call", "per_actor"],
        _doc("per_call: one job per actor method call; per_actor: one job per actor"),
    ] = "per_call"
    pip_install: Annotated[
        bool,
        _doc(
            "`roar run ray job submit`: add roar's worker requirement (blake3) to the job's "
            "runtime env pip list, for clusters whose Python lacks it"
        ),
    ] = False
    fragment_transport: Annotated[
        Literal["auto", "kv"],
        _doc(
            "`roar run ray job submit`: how workers send what each task did. auto: into the "
            "run's directory when the node sees it (same machine, shared filesystem), else the "
            "cluster's GCS KV store; kv: always the KV store"
        ),
    ] = "auto"


class RoarConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """The whole file but ``[env]`` (the variables injected into runs, kept apart)."""

    output: Output = msgspec.field(default_factory=Output)
    filters: Filters = msgspec.field(default_factory=Filters)
    cache: Cache = msgspec.field(default_factory=Cache)
    openlineage: OpenLineage = msgspec.field(default_factory=OpenLineage)
    glaas: Glaas = msgspec.field(default_factory=Glaas)
    scope: Scope = msgspec.field(default_factory=Scope)
    registration: Registration = msgspec.field(default_factory=Registration)
    hash: Hash = msgspec.field(default_factory=Hash)
    logging: Logging = msgspec.field(default_factory=Logging)
    tracer: Tracer = msgspec.field(default_factory=Tracer)
    proxy: Proxy = msgspec.field(default_factory=Proxy)
    ray: Ray = msgspec.field(default_factory=Ray)
