"""The i18n agent: translate newly published English episodes with DeepL.

For every English episode published in the last ``i18n.window_days`` days (or the one
given), and every requested language without a translation yet:

1. translate ``<posts_dir>/ep-{n}.md`` through the protection layer (muse.translation.translate);
2. check the result against the source (muse.translation.i18n_check) - a translation that changed
   the structure, lost a number, a code block, a link or a glossary term is not written;
3. write ``posts_i18n/{lang}/ep-{n}.md`` atomically (temp file + rename: never partial);
4. commit every new translation in ONE commit and push (muse.publishing.blogrepo), deploy that
   commit through the publisher's path (muse.publishing.deploy); then insert one ``episodes`` row per
   language (lang, translation_of) and emit ``i18n.complete{langs}``. A failed deploy is
   reverted like the publisher's (revert on main, production rolled back if it may be
   live) and the rows say ``failed``.

Idempotent: a language already translated (row ``published`` + file) is skipped; a file
written by a run that died before it pushed or recorded it is checked and adopted instead
of translated (and paid for) again; a translation whose deploy failed (reverted) is
rebuilt from the unit cache (muse.translation.translate.UnitCache) on the next run, not paid again.

Faults: 429 and 5xx are retried by the deepl library; after that the language fails and
the others go on. 456 (quota exceeded), 403 (key rejected) and an unreachable DeepL stop
all further requests; what is done is kept, committed and recorded, the run fails (and
alerts), and the next run completes the rest. No DeepL key: the run is skipped, saying so.

Example (from Python, as cron and the CLI do):
    run_agent(settings, "i18n", agents.i18n.run, langs=["de", "hi"], episode=12)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from muse.fsutil import atomic_write_text
from muse import episode as epfmt
from muse.translation import glossary as glossary_mod
from muse.errors import MuseError
from muse.translation.i18n_check import check_translation, source_relpath, translation_relpath
from muse.translation.mdprotect import ProtectError
from muse.hours import ts_str, utcnow
from muse.runs import AgentResult, ItemOutcome, RunContext
from muse.translation.languages import LangSpec, resolve_langs
from muse.translation.translate import DocResult, Translator, UnitCache, make_client

if TYPE_CHECKING:
    from muse.config import Settings

log = logging.getLogger(__name__)

AGENT = "i18n"
# Deploy outcomes that leave the translations live (skipped: no Vercel configured).
DEPLOY_OK = ("ready", "skipped")


@dataclass
class Written:
    episode: int
    spec: LangSpec
    path: Path
    rel: str
    title: str
    source_row: dict[str, Any]
    adopted: bool = False


class _Stop(Exception):
    """DeepL refuses every further request (quota, key, unreachable)."""


def _classify(exc: Exception) -> tuple[str, bool]:
    """(reason, stop further requests) for a DeepL error."""
    import deepl

    if isinstance(exc, deepl.QuotaExceededException):
        return "DeepL quota exceeded (HTTP 456); the rest is translated on a later run", True
    if isinstance(exc, deepl.AuthorizationException):
        return (
            "DeepL rejected the key (HTTP 403): check DEEPL_AUTH_KEY / deepl.auth_key "
            "(free keys end in ':fx') and deepl.server_url"
        ), True
    if isinstance(exc, deepl.TooManyRequestsException):
        return "DeepL kept answering 429 (too many requests) after the library's retries", False
    if isinstance(exc, deepl.ConnectionException):
        return f"DeepL unreachable: {str(exc).splitlines()[0][:200]}", True
    status = getattr(exc, "http_status_code", None)
    return f"DeepL error{f' (HTTP {status})' if status else ''}: {str(exc).splitlines()[0][:300]}", False


def _sources(ctx: RunContext, episode: int | None) -> tuple[list[dict[str, Any]], str]:
    rows = ctx.store.named(
        "i18n_sources", {"episode": -1 if episode is None else int(episode), "days": ctx.settings.i18n.window_days}
    ).dicts()
    if episode is None:
        return rows, ""
    if not rows:
        return [], f"episode {episode} has no English row in episodes"
    if rows[0]["status"] != "published":
        return [], f"episode {episode} is {rows[0]['status']}; only published episodes are translated"
    return rows, ""


@dataclass
class _Source:
    row: dict[str, Any]
    text: str = ""
    problem: str = ""
    # lang -> text of a translation file already in the checkout (None: no file)
    existing_files: dict[str, str | None] = field(default_factory=dict)


def _read_sources(blog: Any, rows: list[dict[str, Any]], specs: list[LangSpec], posts_dir: str) -> list[_Source]:
    """Under the blog lock, with the clone at the remote main: the published English
    sources and any translation files already there."""
    out = []
    with blog.locked():
        blog.start_branch(blog.main)
        root = blog.root
        for row in rows:
            n = int(row["episode"])
            src = _Source(row)
            rel = source_relpath(posts_dir, n)
            try:
                src.text = (root / rel).read_text(encoding="utf-8")
                epfmt.parse(src.text)
            except FileNotFoundError:
                src.problem = f"English source {rel} is not on {blog.remote}/{blog.main}"
            except (OSError, UnicodeDecodeError, epfmt.EpisodeFormatError) as exc:
                src.problem = f"English source {rel}: {exc}"
            for spec in specs:
                path = root / translation_relpath(spec.code, n)
                src.existing_files[spec.code] = path.read_text(encoding="utf-8") if path.is_file() else None
            out.append(src)
    return out


def run(ctx: RunContext, *, langs: list[str] | None = None, episode: int | None = None) -> AgentResult:
    """Translate published English episodes into ``langs`` (default: ``deepl.langs``).

    Returns per (episode, language) outcomes; status ``failed`` if any language failed;
    ``rows_written`` counts every row the run wrote (episodes and deployments).
    Without a DeepL key the run is ``ok`` with a message saying it translated nothing and
    why: translation is optional, and exit 4 means "another run holds the lock" to cron.
    """
    before = ctx.store.stats.rows_written
    result = _run(ctx, langs=langs, episode=episode)
    result.rows_written = ctx.store.stats.rows_written - before
    return result


def _run(ctx: RunContext, *, langs: list[str] | None, episode: int | None) -> AgentResult:
    from muse.publishing.blogrepo import BlogRepo

    s = ctx.settings
    specs = resolve_langs(langs if langs else s.deepl.langs)
    codes = [sp.code for sp in specs]
    if not s.deepl.auth_key:
        ctx.telemetry.count("i18n.skipped", 1, reason="no_key")
        return AgentResult(
            status="ok",
            details={"skipped": True, "reason": "no_key", "langs": codes},
            message="skipped: no DeepL key configured (set DEEPL_AUTH_KEY or deepl.auth_key); nothing was translated",
        )
    blog = BlogRepo.from_settings(s)
    rows, refusal = _sources(ctx, episode)
    if refusal:
        return AgentResult(status="failed", message=refusal)
    if not rows:
        return AgentResult(
            message=f"no English episode published in the last {s.i18n.window_days} day(s)", details={"langs": codes}
        )
    published = {
        (int(r["episode"]), r["lang"])
        for r in ctx.store.named(
            "i18n_translations", {"episodes": [int(r["episode"]) for r in rows], "langs": codes}
        ).dicts()
        if r["status"] == "published"
    }
    glossary = glossary_mod.from_settings(s)
    sources = _read_sources(blog, rows, specs, s.repos.banterblogs.posts_dir)
    batch = _Batch(
        ctx,
        blog.root,
        glossary,
        published,
        details={
            "langs": codes,
            "billed_characters": {},
            "segment_fallbacks": {},
            "kept_verbatim": {},
            "glossary_rejected": list(glossary.rejected),
        },
    )
    for src in sources:
        n = int(src.row["episode"])
        if src.problem:
            batch.items += [ItemOutcome(f"ep-{n}/{sp.code}", "failed", src.problem) for sp in specs]
            continue
        for spec in specs:
            batch.language(src, n, spec)
    return _finish(ctx, blog, batch.items, batch.written, batch.details, batch.stop)


@dataclass
class _Batch:
    """One run's languages: each is skipped, adopted, translated and written, or failed on its own."""

    ctx: RunContext
    root: Path
    glossary: glossary_mod.Glossary
    published: set[tuple[int, str]]
    details: dict[str, Any]
    items: list[ItemOutcome] = field(default_factory=list)
    written: list[Written] = field(default_factory=list)
    translator: Translator | None = None
    stop: str = ""  # why no further DeepL request is made (quota, key), once one said so

    def language(self, src: _Source, n: int, spec: LangSpec) -> None:
        item, rel = f"ep-{n}/{spec.code}", translation_relpath(spec.code, n)
        path, current = self.root / rel, src.existing_files.get(spec.code)
        if current is not None and (n, spec.code) in self.published:
            self.items.append(ItemOutcome(item, "skipped", "already translated"))
            return
        if current is not None and all(
            c.ok for c in check_translation(src.text, current, lang=spec.code, terms=self.glossary.terms)
        ):
            # Left by a run that died before it pushed or recorded it: no need to pay twice.
            self.written.append(Written(n, spec, path, rel, _title(current), src.row, adopted=True))
            self.items.append(ItemOutcome(item, "ok", f"adopted {rel} left by an earlier run"))
            return
        if self.stop:
            self.items.append(ItemOutcome(item, "skipped", f"not attempted: {self.stop}"))
            return
        result = self._translate(src, spec, item)
        if result is not None:
            self._write(src, n, spec, item, result)

    def _translate(self, src: _Source, spec: LangSpec, item: str) -> DocResult | None:
        """DeepL's translation, or None when this language failed (recorded)."""
        s = self.ctx.settings
        try:
            if self.translator is None:
                self.translator = Translator(
                    make_client(s), self.glossary, cache=UnitCache(s.state_dir / "i18n" / "cache")
                )
                _check_usage(self.translator, self.details)
            return self.translator.translate(src.text, spec)
        except Exception as exc:  # noqa: BLE001 - classified; one language never stops the others
            reason, fatal, kind = _failure(exc)
            self.stop = reason if fatal else self.stop
            self.items.append(ItemOutcome(item, "failed", reason))
            self.ctx.telemetry.count("i18n.failed", 1, lang=spec.code, reason=kind)
            log.warning("%s: %s", item, reason)
            return None

    def _write(self, src: _Source, n: int, spec: LangSpec, item: str, result: DocResult) -> None:
        """Check the translation and write it to the checkout (not pushed yet)."""
        tel, details = self.ctx.telemetry, self.details
        rel = translation_relpath(spec.code, n)
        details["billed_characters"][item] = result.billed_characters
        if result.segment_fallbacks:
            details["segment_fallbacks"][item] = result.segment_fallbacks
        if result.kept_verbatim:
            details["kept_verbatim"][item] = result.kept_verbatim
        tel.count("i18n.characters", result.billed_characters, lang=spec.code)
        bad = [
            c for c in check_translation(src.text, result.text, lang=spec.code, terms=self.glossary.terms) if not c.ok
        ]
        if bad:
            reason = "translation failed its checks, not written: " + "; ".join(f"{c.name}: {c.detail}" for c in bad)
            self.items.append(ItemOutcome(item, "failed", reason))
            tel.count("i18n.failed", 1, lang=spec.code, reason="check")
            return
        try:
            atomic_write_text(self.root / rel, result.text)
        except OSError as exc:
            self.items.append(ItemOutcome(item, "failed", f"could not write {rel}: {exc.strerror or exc}"))
            tel.count("i18n.failed", 1, lang=spec.code, reason="write")
            return
        assert self.translator is not None  # it produced the result
        self.translator.remember(result)
        self.written.append(Written(n, spec, self.root / rel, rel, _title(result.text), src.row))
        self.items.append(ItemOutcome(item, "ok", f"wrote {rel} ({_note(result, details, item)})"))


def _note(result: DocResult, details: dict[str, Any], item: str) -> str:
    """How a language was translated, for its item message (glossary fallbacks also in details)."""
    note = f"{result.sent} units, terms protected in the text" + (
        f", glossary {result.glossary_id}" if result.glossary_id else ""
    )
    if result.cached:
        note += f", {result.cached} from the cache (not billed)"
    if result.glossary_fallback:
        note += f", translated again without the glossary ({', '.join(result.glossary_fallback)} kept verbatim)"
        details.setdefault("glossary_fallbacks", {})[item] = result.glossary_fallback
    if result.segment_fallbacks:
        note += f", {len(result.segment_fallbacks)} unit(s) re-sent as segments"
    return note


def _failure(exc: Exception) -> tuple[str, bool, str]:
    """(reason, stop all further DeepL requests, metric reason) for a failed language."""
    if isinstance(exc, _Stop):
        return str(exc), True, "quota"
    if _is_deepl(exc):
        reason, fatal = _classify(exc)
        return reason, fatal, _deepl_kind(exc)
    if isinstance(exc, ProtectError):
        return f"the episode cannot be protected for translation: {exc}", False, "protect"
    return f"{type(exc).__name__}: {exc}", False, "error"


def _deepl_kind(exc: Exception) -> str:
    import deepl

    for cls, name in (
        (deepl.QuotaExceededException, "quota"),
        (deepl.AuthorizationException, "auth"),
        (deepl.TooManyRequestsException, "rate_limited"),
        (deepl.ConnectionException, "unreachable"),
    ):
        if isinstance(exc, cls):
            return name
    return "deepl"


def _is_deepl(exc: Exception) -> bool:
    import deepl

    return isinstance(exc, deepl.DeepLException)


def _check_usage(translator: Translator, details: dict[str, Any]) -> None:
    """Stop before translating if the character quota is already used up. The usage call is
    advisory: when it fails (5xx, a body of another shape), translation goes on and DeepL's
    own 456 stops it if the quota is really gone."""
    try:
        usage = translator.client.get_usage()
    except Exception as exc:  # deepl errors and odd bodies alike; a rejected key is re-raised
        if _is_deepl(exc) and _classify(exc)[1] and not _is_server_error(exc):
            raise  # the key is rejected or DeepL unreachable: nothing else will work either
        details["usage_error"] = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        log.warning("could not read the DeepL usage (%s); translating anyway", details["usage_error"])
        return
    if usage.character.valid:
        details["usage"] = {"characters": usage.character.count, "limit": usage.character.limit}
    if usage.any_limit_reached:
        raise _Stop(f"DeepL quota exhausted ({usage.character}); the rest is translated on a later run")


def _is_server_error(exc: Exception) -> bool:
    status = getattr(exc, "http_status_code", None)
    return isinstance(status, int) and status >= 500


def _title(text: str) -> str:
    try:
        return str(epfmt.parse(text).front_matter.get("title", ""))
    except epfmt.EpisodeFormatError:
        return ""


def _finish(
    ctx: RunContext, blog: Any, items: list[ItemOutcome], written: list[Written], details: dict[str, Any], stop: str
) -> AgentResult:
    from muse.publishing import blogrepo
    from muse.publishing import deploy

    s = ctx.settings
    failed = [i for i in items if i.status == "failed"]
    done_langs = sorted({w.spec.code for w in written})
    head = "no translation written" if failed or stop else "nothing new to translate"
    if written:
        episodes = sorted({w.episode for w in written})
        message = (
            f"i18n: translate episode{'s' if len(episodes) > 1 else ''} "
            f"{', '.join(map(str, episodes))} into {', '.join(done_langs)}\n\nmuse i18n run {ctx.run_id}"
        )
        try:
            sha = blogrepo.commit_and_push(s, paths=[w.path for w in written], message=message, branch=blog.main)
        except MuseError as exc:
            # commit_and_push left the files in the working tree: the next run adopts them.
            details["commit_error"] = exc.message
            return AgentResult(
                status="failed",
                items=items,
                details=details,
                message=f"{len(written)} translation(s) written but not pushed: {exc.message}; "
                "the next run commits them",
            )
        details["commit"] = sha
        deadline = deploy.new_deadline(s)  # one deadline for the deploy and, if it fails, the rollback
        result = deploy.deploy_commit(ctx, episode=max(episodes), sha=sha, branch=blog.main, deadline=deadline)
        details["deploy"] = {
            "status": result.status,
            "deployment_id": result.deployment_id,
            "url": result.url,
            "message": result.message,
        }
        if result.status in DEPLOY_OK:
            ctx.store.insert("episodes", [_row(ctx, w, sha, "published") for w in written])
            for w in written:
                ctx.telemetry.count("i18n.translated", 1, lang=w.spec.code)
            ctx.telemetry.count("i18n.complete", 1, langs="/".join(done_langs))
            head = (
                f"{len(written)} translation(s) into {', '.join(done_langs)} pushed as {sha[:8]}, "
                f"deploy {result.status}"
            )
        else:
            head = _undo(ctx, written, sha, result, details, deadline)
            ctx.store.insert("episodes", [_row(ctx, w, sha, "failed") for w in written])
            failed.append(ItemOutcome("deploy", "failed", head))
    summary = head
    if failed:
        reasons = [i.message for i in failed if i.item != "deploy"]
        summary += f"; {len(failed)} failed" + (f" (first: {reasons[0]})" if reasons else "")
    elif stop:
        summary += f"; stopped: {stop}"
    skipped = sum(1 for i in items if i.status == "skipped")
    if skipped:
        summary += f"; {skipped} skipped"
    return AgentResult(status="failed" if failed or stop else "ok", message=summary, items=items, details=details)


def _undo(
    ctx: RunContext,
    written: list[Written],
    sha: str,
    result: Any,
    details: dict[str, Any],
    deadline: float | None = None,
) -> str:
    """The deploy of the translations failed: revert their commit so main builds again,
    and roll production back when the failed deployment may be live (as the publisher does)."""
    from muse.publishing import blogrepo
    from muse.publishing import deploy

    episode = max(w.episode for w in written)
    head = f"deploy of translations {sha[:8]} {result.status}: {result.message or 'no detail'}"
    try:
        revert = blogrepo.revert_and_push(
            ctx.settings, sha=sha, message=f"Revert i18n translations: deploy {result.status}"
        )
        details["revert"] = revert
        head += f"; reverted by {revert[:8]}"
    except MuseError as exc:
        details["revert_error"] = exc.message
        return head + f"; the revert failed too: {exc.message}"
    if result.may_be_live:
        rb = deploy.withdraw(ctx, episode=episode, sha=sha, reverted_by=revert, redeploy=revert, deadline=deadline)
        details["rollback"] = rb.status
        head += f"; {rb.message}"
    return head


def _row(ctx: RunContext, w: Written, sha: str, status: str) -> dict[str, Any]:
    src = w.source_row
    return {
        "ts": ts_str(utcnow()),
        "episode": w.episode,
        "lang": w.spec.code,
        "translation_of": w.episode,
        "run_id": ctx.run_id,
        "hearts_commit": src["hearts_commit"],
        "packs_commit": src["packs_commit"],
        "title": w.title,
        "path": w.rel,
        "confidence_score": src["confidence_score"],
        "completeness": src["completeness"],
        "correlation_strength": src["correlation_strength"],
        "recency": src["recency"],
        # The LLM spend belongs to the English episode; a translation adds none.
        "tokens_total": 0,
        "cost_total": 0,
        "status": status,
        "forced": bool(src["forced"]),
        "published_commit": sha,
    }


def demo_step(settings: Settings, **run_options: Any) -> Any:
    """For `muse demo`: translate the episodes just published when a DeepL key is
    configured; otherwise the run is skipped and its message says why (no DeepL request,
    nothing else needed). Returns the RunOutcome; print ``outcome.result.message``.

    Example: outcome = demo_step(settings); print(f"i18n: {outcome.result.message}")
    """
    from muse.runs import run_agent

    return run_agent(settings, AGENT, run, **run_options)
