"""Publisher agent: validate an episode, then put it on the drafts branch or on main and deploy it.

Entry points (agent name ``publish``; the CLI, cron and tests call the same functions):

* :func:`run` ``(ctx, *, episode="latest", approve=False, by=None)``: ``muse publish``;
* :func:`rollback` ``(ctx, *, episode)``: ``muse publish rollback``.

``run`` in order:

1. Already ``published``: a no-op that says so.
2. Validate (:mod:`muse.publishing.validate`). Invalid: nothing is committed, the episode row becomes
   ``failed``, findings are listed one per line, ``publish.failed{reason:invalid}``, alert.
3. Below ``council.confidence_threshold`` (or status ``draft``) and not approved: commit
   post and chart to the drafts branch, push, Slack "low confidence episode, review needed",
   ``publish.draft``; stop. ``--approve [--by NAME]`` records the approver in the
   front-matter and the row and goes on; nothing below the threshold reaches main without it.
4. Commit post and chart to main as "Episode {n}: {title}", tag ``episode-{n}``, push.
5. Deploy that commit on Vercel and wait (:mod:`muse.publishing.deploy`). READY (or skipped without
   Vercel, said so): row ``published``, ``publish.success``. ERROR, CANCELED, timeout or
   API error: the commit is reverted on main, production is rolled back when the failed
   deployment may have gone live, row ``failed``, ``publish.failed{reason}``, a critical
   alert (Slack and PagerDuty).

Crash safety: a journal ``<state dir>/publish/ep-{n}.json`` records each step (committing,
pushed with the sha, failing with the reason). Every step is idempotent (a commit of
content main already has is not repeated; a deployment already running for the pushed
commit is followed, not duplicated; a revert already on main is not repeated), so a re-run
after a crash completes the publish, or finishes rolling it back when the failure had
already been decided.
"""

from __future__ import annotations

import getpass
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from muse.fsutil import atomic_write_text
from muse.publishing import blogrepo
from muse.publishing import deploy
from muse.episode import chart_name, evidence_name, parse, post_name, render
from muse.errors import ExitCode, InputError, MuseError, UsageError
from muse.hours import ts_str, utcnow
from muse.runs import AgentResult, ItemOutcome, RunContext
from muse.publishing.validate import ValidationReport, validate_file

log = logging.getLogger(__name__)

AGENT = "publish"


class PublishFailed(MuseError):
    """The publish failed after doing what it could to leave nothing half done.
    Raised so that the run's alert is critical (Slack and PagerDuty)."""

    exit_code = ExitCode.FAILED


# -- journal ------------------------------------------------------------------------------
@dataclass
class Journal:
    """The intent record of one episode's publish: ``<state dir>/publish/ep-{n}.json``."""

    path: Path

    @classmethod
    def of(cls, ctx: RunContext, episode: int) -> "Journal":
        return cls(ctx.settings.state_dir / "publish" / f"ep-{episode}.json")

    def read(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def write(self, **entry: Any) -> None:
        data = {**(self.read() or {}), **entry, "updated": ts_str(utcnow())}
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write_text(self.path, json.dumps(data, indent=1), mode=0o600)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


# -- episode rows -------------------------------------------------------------------------
def resolve_episode(ctx: RunContext, episode: int | str) -> int:
    """An episode number, or the newest one for ``latest``."""
    if isinstance(episode, int) and not isinstance(episode, bool):
        return episode
    text = str(episode).strip().lower()
    if text == "latest":
        latest = ctx.store.named("publish_latest_episode").scalar()
        if latest is None:
            raise InputError("there is no episode to publish: the episodes table has no English episode yet")
        return int(latest)
    if text.isdigit():
        return int(text)
    raise UsageError(f"EPISODE must be a number or 'latest', got {episode!r}")


def current_row(ctx: RunContext, episode: int) -> dict[str, Any]:
    row = ctx.store.named("publish_episode", {"episode": episode}).first()
    if row is None:
        raise InputError(f"episode {episode} is not in the episodes table (lang en)")
    return row


def new_version(ctx: RunContext, row: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """Write the next version of an episode row (never an UPDATE): same key, later ts."""
    ts = max(utcnow(), row["ts"] + timedelta(milliseconds=1))
    ts = ts.replace(microsecond=ts.microsecond // 1000 * 1000)  # what the store keeps
    new = {**row, **changes, "ts": ts}
    ctx.store.insert("episodes", [new])
    return new


def bare_title(n: int, title: str) -> str:
    """The title without a leading "Episode N:" (the council's titles may carry one), so a
    commit subject "Episode N: {title}" does not read "Episode 1: Episode 1: ..."."""
    import re

    bare = re.sub(rf"^\s*episode\s+{n}\s*[:\-\u2013\u2014]\s*", "", title, flags=re.IGNORECASE).strip()
    return bare or title.strip()


# -- files --------------------------------------------------------------------------------
def _files(ctx: RunContext, blog: blogrepo.BlogRepo, row: dict[str, Any], episode: int) -> tuple[str, str]:
    """Repo-relative paths of the post and its chart, restored into the working tree when
    missing there (a draft awaiting approval, or an episode reverted earlier)."""
    s = ctx.settings
    raw = str(row.get("path") or "") or f"{s.repos.banterblogs.posts_dir}/{post_name(episode)}"
    post = blog.rel(raw) if Path(raw).is_absolute() else Path(raw).as_posix()
    chart = (Path(post).parent / chart_name(episode)).as_posix()
    evidence = (Path(post).parent / evidence_name(episode)).as_posix()  # the council's sidecar, if any
    if not (blog.root / post).exists() or not (blog.root / chart).exists():
        restored = blogrepo.restore_missing(
            s,
            paths=[post, chart, evidence],
            sources=[blog.drafts, f"refs/tags/episode-{episode}", str(row.get("published_commit") or "")],
        )
        if restored:
            log.info("episode %s: restored %s into the working clone", episode, ", ".join(restored))
    return post, chart


def _current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (some containers)
        return "unknown"


def _approve_file(path: Path, who: str, when: datetime) -> None:
    """Record the approver in the front-matter (rendered by the YAML library)."""
    doc = parse(path.read_text(encoding="utf-8"))
    fm = dict(doc.front_matter)
    fm["approved_by"] = who
    fm["approved_at"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    if fm.get("status") == "draft":
        fm["status"] = "ready"
    path.write_text(render(fm, doc.body), encoding="utf-8")


# -- entry points -------------------------------------------------------------------------
def _counting_rows(fn: Any) -> Any:
    """Report the rows this run wrote (episode versions, deployments) from the store's counter."""
    import functools

    @functools.wraps(fn)
    def wrapper(ctx: RunContext, **options: Any) -> AgentResult:
        before = ctx.store.stats.rows_written
        result = fn(ctx, **options)
        result.rows_written = ctx.store.stats.rows_written - before
        return result

    return wrapper


@_counting_rows
def run(ctx: RunContext, *, episode: int | str = "latest", approve: bool = False, by: str | None = None) -> AgentResult:
    """Publish one episode (``latest`` by default). See the module docstring.

    Example: run(ctx, episode=12, approve=True, by="ana")
    """
    s = ctx.settings
    blog = blogrepo.BlogRepo.from_settings(s)
    blog.repo  # noqa: B018 - fail fast on a missing or bare clone, before anything else
    n = resolve_episode(ctx, episode)
    row = current_row(ctx, n)
    journal = Journal.of(ctx, n)
    pending = journal.read()
    status = row["status"]

    if status == "published":
        journal.clear()
        return AgentResult(
            message=f"episode {n} is already published ({str(row['published_commit'])[:8]}); nothing to do",
            details={"episode": n, "status": status, "noop": True},
        )
    if pending and pending.get("phase") == "failing":
        log.warning("episode %s: finishing a failure decided by an interrupted run (%s)", n, pending.get("reason"))
        return _finish_failure(ctx, row, journal, pending)
    if status == "rolled_back" and not approve:
        raise UsageError(f"episode {n} was rolled back on purpose; to publish it again, pass --approve")
    if pending:
        log.warning(
            "episode %s: resuming an interrupted publish (phase %s%s)",
            n,
            pending.get("phase"),
            f", commit {str(pending['sha'])[:8]}" if pending.get("sha") else "",
        )
    post, chart = _files(ctx, blog, row, n)
    report = validate_file(blog.root / post, repo_root=blog.root, episode=n)
    if not report.ok:
        return _invalid(ctx, row, report)

    threshold = s.council.confidence_threshold
    confidence = round(float(row["confidence_score"] or 0), 6)
    low = confidence < threshold or status == "draft"
    if (approve or not low or row["approved_by"]) and s.vercel.token:
        deploy.github_repo(s)  # bound for main: a Vercel config problem must stop us before anything changes
    if approve:
        who = (by or "").strip() or _current_user()
        _approve_file(blog.root / post, who, utcnow())
        row = new_version(ctx, row, status="ready", approved_by=who)
        log.info("episode %s approved by %s", n, who)
    elif low and not row["approved_by"]:
        return _draft(ctx, row, report, confidence, threshold)
    return _publish(ctx, blog, row, report, journal, resumed=bool(pending))


@_counting_rows
def rollback(ctx: RunContext, *, episode: int | str) -> AgentResult:
    """Withdraw a published episode: revert its commit on main, roll production back to the
    deployment before it, mark it ``rolled_back``, record a deployments row, alert (info).

    Example: rollback(ctx, episode=12)
    """
    n = resolve_episode(ctx, episode)
    row = current_row(ctx, n)
    sha = str(row["published_commit"] or "")
    retry = False
    if row["status"] == "rolled_back":
        # Git is reverted; the Vercel side is recorded on its own and retried until done.
        side = ctx.store.named("publish_episode_withdrawal", {"episode": n}).scalar()
        if side != "rollback_failed" or not sha:
            return AgentResult(
                message=f"episode {n} is already rolled back; nothing to do",
                details={"episode": n, "status": "rolled_back", "noop": True},
            )
        retry = True
        log.warning("episode %s: git was rolled back but production was not; retrying the Vercel side", n)
    elif row["status"] != "published" or not sha:
        raise UsageError(f"episode {n} is {row['status']}, not published: nothing to roll back")
    s = ctx.settings
    main = s.repos.banterblogs.branch
    deadline = deploy.new_deadline(s)
    try:
        revert = blogrepo.revert_and_push(
            s, sha=sha, message=f"Roll back episode {n}: {bare_title(n, str(row['title']))}"
        )
        reverted = f"{sha[:8]} reverted by {revert[:8]} on {main}"
    except blogrepo.NotOnBranch:
        revert, reverted = "", f"{sha[:8]} is no longer on {main}, nothing to revert"
    withdrawn = _withdraw_translations(ctx, n, row)
    # Production must stop serving the episode: back to the last deployment without it,
    # or (the only episode) a deployment of main as it is now, without it.
    tip = (blogrepo.remote_tip(s) or revert) if s.vercel.token else ""
    rb = deploy.withdraw(ctx, episode=n, sha=sha, reverted_by=revert, redeploy=tip, deadline=deadline)
    if not retry:
        new_version(ctx, row, status="rolled_back")
        ctx.telemetry.count("publish.rollback", 1, episode=n)
    msg = f"episode {n} rolled back: {reverted}; {rb.message}"
    if withdrawn:
        msg += f"; translations withdrawn: {', '.join(withdrawn)}"
    if rb.status == "api_error":
        # Git is reverted but production may still serve the episode: a person must look,
        # and `muse publish rollback N` retries the Vercel side.
        raise PublishFailed(msg + f"; run `muse publish rollback {n}` again to retry production")
    ctx.alert("info", f"Episode {n} rolled back", msg, dedup_key=f"muse-publish-rollback-{n}", episode=n)
    return AgentResult(
        message=msg,
        details={
            "episode": n,
            "status": "rolled_back",
            "reverted": sha,
            "revert_commit": revert,
            "production": rb.status,
            "production_deployment": rb.deployment_id,
            "translations_withdrawn": withdrawn,
        },
    )


def _withdraw_translations(ctx: RunContext, n: int, row: dict[str, Any]) -> list[str]:
    """Remove the episode's published translations from main and mark them rolled back, so
    a withdrawn episode is not served in other languages by the next deploy, and a corrected
    episode published again is translated again (i18n translates what has no published row)."""
    rows = ctx.store.named("publish_episode_translations", {"episode": n}).dicts()
    if not rows:
        return []
    langs = [str(r["lang"]) for r in rows]
    blogrepo.remove_and_push(
        ctx.settings,
        rels=[str(r["path"]) for r in rows],
        message=f"Roll back episode {n} translations ({', '.join(langs)})",
    )
    for r in rows:
        new_version(ctx, r, status="rolled_back")
    return langs


# -- paths --------------------------------------------------------------------------------
def _invalid(ctx: RunContext, row: dict[str, Any], report: ValidationReport) -> AgentResult:
    n = int(row["episode"])
    new_version(ctx, row, status="failed")
    ctx.telemetry.count("publish.failed", 1, episode=n, reason="invalid")
    lines = report.lines()
    return AgentResult(
        status="failed",
        message=f"episode {n} is invalid and was not committed ({len(lines)} finding(s)):\n" + "\n".join(lines),
        items=[ItemOutcome(f"{f.file}:{f.line}" if f.line else f.file, "failed", f.message) for f in report.findings],
        details={"episode": n, "status": "failed", "reason": "invalid", "findings": lines},
    )


def _draft(
    ctx: RunContext, row: dict[str, Any], report: ValidationReport, confidence: float, threshold: float
) -> AgentResult:
    s = ctx.settings
    n, title = int(row["episode"]), str(row["title"])
    blog = blogrepo.BlogRepo.from_settings(s)
    paths = [report.path, *[a for a in report.assets if a != report.path]]
    pushed = blogrepo.push_files(s, paths=paths, message=f"Draft episode {n}: {title}", branch=blog.drafts)
    where = f"{blog.drafts}:{blog.rel(report.path)}"
    details = {
        "episode": n,
        "status": "draft",
        "branch": blog.drafts,
        "sha": pushed.sha,
        "path": where,
        "confidence": confidence,
        "threshold": threshold,
    }
    if not pushed.created:
        return AgentResult(
            message=f"episode {n} is already on {blog.drafts} ({pushed.sha[:8]}), awaiting review; "
            "unchanged, no new notification",
            details=details,
        )
    ctx.telemetry.count("publish.draft", 1, episode=n)
    ctx.alert(
        "warning",
        "Low confidence episode, review needed",
        f'Episode {n} "{title}" has confidence {confidence:.2f} (threshold {threshold:.2f}) and is a draft at '
        f"{where} ({pushed.sha[:8]}). After review: muse publish {n} --approve --by NAME",
        dedup_key=f"muse-publish-draft-{n}",
        episode=n,
    )
    return AgentResult(
        message=f"episode {n} is a draft (confidence {confidence:.2f} < {threshold:.2f}): committed to "
        f"{where} ({pushed.sha[:8]}); review needed, then muse publish {n} --approve",
        details=details,
    )


def _publish(
    ctx: RunContext,
    blog: blogrepo.BlogRepo,
    row: dict[str, Any],
    report: ValidationReport,
    journal: Journal,
    *,
    resumed: bool,
) -> AgentResult:
    s = ctx.settings
    n, title = int(row["episode"]), str(row["title"])
    tag = f"episode-{n}"
    paths = [report.path, *[a for a in report.assets if a != report.path]]
    journal.write(episode=n, phase="committing", run_id=ctx.run_id)
    try:
        pushed = blogrepo.push_files(
            s, paths=paths, message=f"Episode {n}: {bare_title(n, title)}", branch=blog.main, tag=tag
        )
    except blogrepo.GitError as exc:
        journal.clear()
        new_version(ctx, row, status="failed")
        reason = "push_rejected" if isinstance(exc, blogrepo.PushRejected) else "git_error"
        # Nothing was deployed: not a deploy failure (the monitor watches publish.failed).
        ctx.telemetry.count("publish.rejected", 1, episode=n, reason=reason)
        raise PublishFailed(
            f"episode {n} was not published: {exc.message}; local {blog.main} is back at "
            f"{blog.remote}/{blog.main}, nothing was deployed"
        ) from None
    journal.write(phase="pushed", sha=pushed.sha)

    # One deadline for the deploy and, if it fails, for taking it back off production.
    deadline = deploy.new_deadline(s)
    result = deploy.deploy_commit(ctx, episode=n, sha=pushed.sha, branch=blog.main, deadline=deadline)
    details: dict[str, Any] = {
        "episode": n,
        "sha": pushed.sha,
        "branch": blog.main,
        "tag": tag,
        "new_commit": pushed.created,
        "push_retried": pushed.retried,
        "resumed": resumed,
        "deploy": result.status,
        "deployment_id": result.deployment_id,
        "url": result.url,
        "build_time_ms": result.build_time_ms,
    }
    if result.status in ("ready", "skipped"):
        new_version(ctx, row, status="published", published_commit=pushed.sha)
        journal.clear()
        ctx.telemetry.count("publish.success", 1, episode=n, deploy=result.status)
        head = f"episode {n} published: {pushed.sha[:8]} on {blog.remote}/{blog.main}, tag {tag}"
        if not pushed.created:
            head += " (already there)"
        if result.status == "ready":
            tail = f"; deployed {result.deployment_id} READY in {result.build_time_ms / 1000:.1f}s at {result.url}"
            if result.promoted:
                tail += " and promoted to production (a rollback had pinned production to an earlier deployment)"
        else:
            tail = f"; deploy SKIPPED: {result.message}"
        return AgentResult(message=head + tail, details={**details, "status": "published"})
    reason = f"deploy_{result.status}" if result.status in ("error", "canceled", "timeout", "staged") else result.status
    entry = {
        "phase": "failing",
        "sha": pushed.sha,
        "reason": reason,
        "deployment_id": result.deployment_id,
        "may_be_live": result.may_be_live,
        "deploy_message": result.message,
    }
    journal.write(**entry)
    return _finish_failure(ctx, row, journal, {**(journal.read() or {}), **entry}, deadline=deadline)


def _finish_failure(
    ctx: RunContext, row: dict[str, Any], journal: Journal, entry: dict[str, Any], *, deadline: float | None = None
) -> AgentResult:
    """Undo a publish whose deploy failed: revert on main, roll production back when the
    failed deployment may be live, row ``failed``, metric, critical alert. Idempotent."""
    s = ctx.settings
    n = int(row["episode"])
    sha, reason = str(entry["sha"]), str(entry.get("reason") or "deploy_failed")
    revert = ""
    try:
        revert = blogrepo.revert_and_push(
            s, sha=sha, message=f"Revert episode {n}: {reason.replace('_', ' ')}", drop_tag=f"episode-{n}"
        )
        reverted = f"{sha[:8]} reverted by {revert[:8]} on {s.repos.banterblogs.branch}, tag episode-{n} removed"
    except blogrepo.NotOnBranch:
        reverted = f"{sha[:8]} is no longer on {s.repos.banterblogs.branch}, nothing to revert"
    except blogrepo.GitError as exc:
        # Keep the journal: the next run retries the revert.
        ctx.telemetry.count("publish.failed", 1, episode=n, reason=reason)
        raise PublishFailed(
            f"episode {n} deploy failed ({entry.get('deploy_message') or reason}) and its commit "
            f"{sha[:8]} is still on {s.repos.banterblogs.branch}: the revert failed: {exc.message}; "
            f"re-run `muse publish {n}` to retry the revert"
        ) from None
    if entry.get("may_be_live"):
        rb = deploy.withdraw(ctx, episode=n, sha=sha, reverted_by=revert, redeploy=revert, deadline=deadline)
        production = rb.message
    else:
        production = "production unchanged (the failed deployment never went live)"
    if row["status"] != "failed":
        new_version(ctx, row, status="failed")
    journal.clear()
    ctx.telemetry.count("publish.failed", 1, episode=n, reason=reason)
    raise PublishFailed(
        f"episode {n} failed to deploy ({entry.get('deploy_message') or reason}); {reverted}; {production}"
    )
