"""Phase 5 of recording a job: the job record, built from what the earlier phases found.

Pure: no I/O, so it can be checked on hand-made phase results. Credentials are scrubbed from
the command line, the variables and the git remote here, on the way into the record.
"""

from __future__ import annotations

import os
import shlex

import msgspec

from roar.core.context import RoarContext
from roar.core.git import GitState
from roar.hashing import Hasher
from roar.lineage.identity import step_identity
from roar.models import GitInfo, NewJob
from roar.recording.phases import Attribution, Prepared, Settled, Traced
from roar.recording.secrets import redact_argv, redact_env, redact_text
from roar.recording.warnings import RecordWarning


def git_info(state: GitState) -> GitInfo:
    """What a job records of the git state it ran in (the remote URL without credentials)."""
    return GitInfo(
        commit=state.commit,
        branch=state.branch,
        dirty=state.dirty,
        repo=state.repo,
        remote_url=redact_text(state.remote_url) if state.remote_url else None,
    )


def build_job(
    ctx: RoarContext,
    job_type: str,
    prepared: Prepared,
    traced: Traced,
    settled: Settled,
    attribution: Attribution,
    hasher: Hasher,
    warnings: list[RecordWarning],
) -> NewJob:
    """The record, with credentials scrubbed from the command and the variables."""
    recorded_argv = redact_argv(prepared.argv)
    if recorded_argv != prepared.argv:
        warnings.append(
            RecordWarning(
                "credential-redacted",
                "a credential on the command line was recorded as [REDACTED]",
            )
        )
    command = shlex.join(recorded_argv)
    git, patch, accesses, outcome = (
        attribution.git,
        attribution.patch,
        traced.accesses,
        traced.outcome,
    )
    return NewJob(
        job_uid=prepared.job_uid,
        job_type=job_type,
        command=command,
        argv=recorded_argv,
        cwd=ctx.project.display_path(str(prepared.cwd.resolve())),
        started_at=traced.started_at,
        duration_seconds=round(traced.duration, 6),
        exit_code=outcome.exit_code,
        signal=outcome.signal,
        git=git_info(git),
        inputs=settled.inputs,
        outputs=settled.outputs,
        step_identity=step_identity(
            [ctx.project.absolute(f.path) for f in settled.inputs],
            [ctx.project.absolute(f.path) for f in settled.outputs],
            command,
            str(ctx.project.root),
            os.path.expanduser("~"),
        ),
        tracer=prepared.backend.name,
        env=redact_env(ctx.config.env),
        metadata={
            "processes": accesses.process_count,
            "programs": [ctx.project.display_path(p) for p in accesses.programs[:50]],
            "interrupted": outcome.interrupted,
            "input_sources": attribution.sources,
            "s3_deleted": settled.s3_deleted,
            "roar_version": _version(),
            "hashing": {
                "algorithms": list(hasher.algorithms),
                "hashed_bytes": hasher.hashed_bytes,
                "cache_hits": hasher.cache_hits,
            },
            "git": {
                "remote_url": redact_text(git.remote_url) if git.remote_url else None,
                "changed_paths": list(git.changed_paths),
                "patch": msgspec.to_builtins(patch) if patch else None,
            },
            **settled.environment,
        },
    )


def _version() -> str:
    from roar._version import __version__

    return __version__
