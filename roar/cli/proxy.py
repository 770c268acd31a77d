"""`roar proxy [status] | enable | disable | start [--port N] [--upstream URL] | stop`."""

from __future__ import annotations

import os

import click

from roar.cli._format import json_text
from roar.core import config as cfg
from roar.core.context import RoarContext

_JSON_HELP = "Machine-readable output."


@click.group(
    invoke_without_command=True,
    help="Run the S3 lineage proxy, or enable it for roar run. Without a subcommand: status.",
)
@click.option("--json", "as_json", is_flag=True, help=_JSON_HELP)
@click.pass_context
def command(click_ctx: click.Context, as_json: bool) -> int:
    if click_ctx.invoked_subcommand is None:
        return _status(as_json)
    return 0


def _status(as_json: bool) -> int:
    from roar.proxy.daemon import daemon_upstream, read_daemon

    ctx = RoarContext.load()
    enabled = ctx.config.get_bool("proxy.enabled")
    daemon = read_daemon(ctx.project)
    if as_json:
        if daemon is None:
            upstream, source = daemon_upstream(ctx.config, os.environ)
            payload: dict[str, object] = {
                "enabled": enabled,
                "running": False,
                "pid": None,
                "started_at": None,
                "port": ctx.config.get("proxy.port"),
                "url": None,
                "upstream": upstream,
                "upstream_source": source,
                "region": None,
            }
        else:
            payload = {
                "enabled": enabled,
                "running": True,
                "pid": daemon.pid,
                "started_at": daemon.started_at,
                "port": daemon.port,
                "url": daemon.url,
                "upstream": daemon.upstream,
                "upstream_source": "daemon",
                "region": daemon.region,
            }
        click.echo(json_text(payload))
        return 0
    hint = "roar run starts it" if enabled else "enable for roar run with 'roar proxy enable'"
    click.echo(f"enabled:  {'yes' if enabled else 'no'} ({hint})")
    if daemon is None:
        click.echo("daemon:   not running ('roar proxy start' starts one)")
        upstream, source = daemon_upstream(ctx.config, os.environ)
        port = ctx.config.get("proxy.port")
        shown = "a free one, chosen at start" if port == 0 else str(port)
        click.echo(f"port:     {shown} (proxy.port)")
        click.echo(f"upstream: {upstream or source} ({'configured' if upstream else 'AWS'})")
    else:
        click.echo(f"daemon:   running (pid={daemon.pid}, since {daemon.started_at})")
        click.echo(f"port:     {daemon.port} ({daemon.url})")
        click.echo(f"upstream: {daemon.upstream} (region {daemon.region})")
    return 0


@command.command("status", help="Show whether the proxy is enabled and the daemon running.")
@click.option("--json", "as_json", is_flag=True, help=_JSON_HELP)
@click.pass_context
def status_command(click_ctx: click.Context, as_json: bool) -> int:
    parent = click_ctx.parent.params.get("as_json", False) if click_ctx.parent else False
    return _status(as_json or bool(parent))


@command.command("enable", help="Start a job-scoped proxy for every roar run.")
def enable_command() -> int:
    ctx = RoarContext.load()
    cfg.save(ctx.project.config_path, ctx.config.with_value("proxy.enabled", True))
    click.echo("proxy.enabled = true")
    return 0


@command.command("disable", help="Stop starting the proxy for roar run.")
def disable_command() -> int:
    ctx = RoarContext.load()
    cfg.save(ctx.project.config_path, ctx.config.with_value("proxy.enabled", False))
    click.echo("proxy.enabled = false")
    return 0


@command.command("start", help="Start a standalone proxy daemon and print the export line.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Listen port (default: proxy.port; 0 picks a free one).",
)
@click.option(
    "--upstream",
    default=None,
    metavar="URL",
    help="S3 endpoint to forward to (default: ROAR_UPSTREAM_S3_ENDPOINT, proxy.upstream_endpoint, "
    "else AWS).",
)
@click.option(
    "--credentials",
    "with_credentials",
    is_flag=True,
    help="Also print the daemon's own key pair (for S3 clients without AWS credentials).",
)
def start_command(port: int | None, upstream: str | None, with_credentials: bool) -> int:
    from roar.proxy.daemon import daemon_upstream, read_client_key, start_daemon

    ctx = RoarContext.load()
    chosen, _ = daemon_upstream(ctx.config, os.environ, upstream)
    configured_port = ctx.config.get("proxy.port")
    assert isinstance(configured_port, int)
    interval = ctx.config.get("proxy.ingest_interval")
    assert isinstance(interval, int)
    info = start_daemon(
        ctx.project,
        port=configured_port if port is None else port,
        upstream=chosen,
        ingest_interval=interval,
        log_level=ctx.config.get_str("logging.level") or "warning",
    )
    click.echo(f"Proxy daemon started (pid={info.pid}, port={info.port}).", err=True)
    click.echo(f"Forwarding to {info.upstream}; log in .roar/proxy.log.", err=True)
    click.echo(
        "Only signed requests are served: clients sign with your AWS credentials, or with the "
        f"daemon's key pair ({info.credentials_file}, owner-only; --credentials prints it).",
        err=True,
    )
    # S3 only: other services (STS, SQS...) must keep their own endpoints.
    click.echo(f"export AWS_ENDPOINT_URL_S3={info.url}")
    key = read_client_key(info) if with_credentials else None
    if key is not None:
        # For a client with no AWS credentials: they work only against this proxy.
        click.echo(f"export AWS_ACCESS_KEY_ID={key[0]}")
        click.echo(f"export AWS_SECRET_ACCESS_KEY={key[1]}")
        click.echo("unset AWS_SESSION_TOKEN AWS_PROFILE")
    return 0


@command.command("stop", help="Stop the standalone proxy daemon.")
def stop_command() -> int:
    from roar.core.loop import run
    from roar.proxy.daemon import stop_daemon
    from roar.recording.proxy_sessions import ingest_daemon_events

    ctx = RoarContext.load()
    info = stop_daemon(ctx.project)
    if info is None:
        click.echo("No proxy daemon is running.", err=True)
    else:
        click.echo(f"Proxy daemon stopped (pid={info.pid}, port={info.port}).", err=True)
    summary = run(ingest_daemon_events(ctx))
    if summary.events:
        click.echo(
            f"Recorded {summary.events} S3 event(s): {len(summary.attached_to)} job(s) updated, "
            f"{len(summary.session_jobs)} proxy session job(s) added (see roar log).",
            err=True,
        )
    return 0
