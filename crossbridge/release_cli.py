"""``crossbridge release``: build a study release, publish it to partners, verify it on their side.

    crossbridge release build --study STUDY.yml --workdir W [--run RUN_ID] [--id RELEASE_ID]
    crossbridge release publish RELEASE --to file:///DIR|s3://BUCKET/PREFIX [--partner P] [--endpoint-url URL]
    crossbridge release verify --from file:///DIR/…|s3://BUCKET/PREFIX/… [--endpoint-url URL] [--json]
    crossbridge release links --from s3://BUCKET/PREFIX/… [--expires SECONDS] [--endpoint-url URL]

RELEASE is a release folder or a release id under ``<workdir>/releases``.  The study key
comes from the environment variable the study names (``release.key_env``); it is never an
argument, never logged.  Exit status: 0 done, 1 the release was blocked / failed verification,
2 bad usage or settings.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


class ReleaseUsageError(ValueError):
    """The command line does not name something usable."""


def add_parser(sub) -> None:
    rel = sub.add_parser("release", help="study releases: build, publish to partners, verify")
    rsub = rel.add_subparsers(dest="release_command", required=True)
    b = rsub.add_parser("build", help="build a pseudonymised, disclosure-controlled release of a site run")
    b.add_argument("--study", type=Path, required=True, help="the study file (YAML; see docs/releases.md)")
    b.add_argument("--workdir", type=Path)
    b.add_argument("--run", dest="run_id", help="source run (default: the site's latest run that passed the gate)")
    b.add_argument("--id", dest="release_id", help="release id (default: <study_id>-<UTC time>)")
    b.add_argument("--json", action="store_true", help="print the build report as JSON")
    p = rsub.add_parser("publish", help="publish a built release, write-once, manifest last")
    p.add_argument("release", help="a release folder, or a release id under <workdir>/releases")
    p.add_argument("--to", required=True, help="file:///DIR, a path, or s3://BUCKET/PREFIX")
    p.add_argument("--partner", help="publish under <partner>/ (a partner is given only its prefix)")
    p.add_argument("--workdir", type=Path)
    p.add_argument("--endpoint-url", help="S3-compatible endpoint (default: setting s3_endpoint_url)")
    v = rsub.add_parser("verify", help="check a published release against its manifest (partner side)")
    v.add_argument("--from", dest="source", required=True, help="the release's location: file:///… or s3://…")
    v.add_argument("--endpoint-url")
    v.add_argument("--json", action="store_true")
    lk = rsub.add_parser("links", help="time-limited pre-signed download links of a published release (S3)")
    lk.add_argument("--from", dest="source", required=True)
    lk.add_argument("--expires", type=int, default=3600, help="seconds (default 3600)")
    lk.add_argument("--endpoint-url")


def cmd_release(args: argparse.Namespace) -> int:
    from connectors.stores import StoreError
    from releases.keys import StudyKeyError
    from releases.spec import StudySpecError

    try:
        return {"build": _build, "publish": _publish, "verify": _verify, "links": _links}[args.release_command](args)
    except (ReleaseUsageError, StudySpecError, StudyKeyError, StoreError, FileNotFoundError) as exc:
        print(f"crossbridge release: error: {exc}", file=sys.stderr)
        return 2


def _settings(workdir: Path | None):
    from crossbridge.settings import load_settings

    return load_settings({"workdir": workdir})


def _build(args: argparse.Namespace) -> int:
    from crossbridge.pipeline.release import ReleaseError, build_release
    from releases.build import ReleaseBuildError
    from releases.scanner import ReleaseBlocked

    settings = _settings(args.workdir)
    try:
        report = build_release(args.study, settings, run_id=args.run_id, release_id=args.release_id)
    except ReleaseBlocked as exc:
        print(f"crossbridge release: BLOCKED: {exc}", file=sys.stderr)
        return 1
    except (ReleaseError, ReleaseBuildError) as exc:
        print(f"crossbridge release: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print(format_build(report))
    return 0


def format_build(r: dict[str, Any]) -> str:
    b = r["build"]
    lines = [f"Release {r['release_id']} (study {r['study_id']}, permit {r['permit']['id']}) of run {r['source_run']}:",
             f"  {b['persons']:,} of {b['persons_in_source']:,} persons; dates {b['dates']}; "
             f"{sum(b['tables'].values()):,} rows in {len(b['tables'])} tables"]
    for f in b["filters"]:
        rows = sum(f["rows_removed"].values())
        if f["persons_removed"] or rows:
            lines.append(f"  filter {f['name']}: {f['persons_removed']:,} persons, {rows:,} rows removed ({f['detail']})")
    k = b["k_anonymity"]
    if k.get("applied"):
        lines.append(f"  k-anonymity k={k['k']}: levels {k['levels']}; {k['persons_suppressed']:,} persons suppressed; "
                     f"smallest class {k['min_class_size']}")
    if r.get("fhir"):
        lines.append(f"  FHIR R4: {r['fhir']['total']:,} resources (round trip agreed: {r['fhir']['round_trip_agreed']})")
    lines.append(f"  identifier scan: clean ({r['scan']['files_scanned']} files); manifest: {r['manifest']['files']} "
                 f"files, {r['manifest']['bytes']:,} bytes")
    lines.append(f"  folder: {r['dir']}")
    return "\n".join(lines)


def _release_folder(release: str, workdir: Path | None) -> Path:
    p = Path(release)
    if p.is_dir():
        return p
    settings = _settings(workdir)
    cand = settings.workdir / "releases" / release
    if cand.is_dir():
        return cand
    raise ReleaseUsageError(f"{release} is neither a release folder nor a release id under {settings.workdir / 'releases'}")


def _store(url: str, endpoint_url: str | None):
    from connectors.stores import open_store

    settings = _settings(None)
    return open_store(url, endpoint_url=endpoint_url or settings.s3_endpoint_url or None)


def _publish(args: argparse.Namespace) -> int:
    from releases.manifest import load_manifest
    from releases.publish import PublishError, publish, release_prefix

    folder = _release_folder(args.release, args.workdir)
    manifest = load_manifest((folder / "manifest.json").read_bytes())
    store = _store(args.to, args.endpoint_url)
    target = store.child(release_prefix(manifest["release_id"], args.partner))
    try:
        rep = publish(folder, target, progress=_progress)
    except PublishError as exc:
        print(f"crossbridge release: refused: {exc}", file=sys.stderr)
        return 1
    if rep.already_published:
        print(f"{manifest['release_id']} is already published at {rep.store_url} (identical manifest); nothing written")
    else:
        print(f"published {manifest['release_id']} to {rep.store_url}: {len(rep.uploaded)} objects uploaded "
              f"({rep.bytes_uploaded:,} bytes), {len(rep.skipped)} already there, manifest last; {rep.seconds:.1f} s")
    print(f"manifest SHA-256 (send it to the partner by another channel): {rep.manifest_sha256}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from releases.verify import verify_release

    rep = verify_release(_store(args.source, args.endpoint_url))
    if args.json:
        print(json.dumps(rep.to_dict(), indent=2))
    else:
        print("\n".join(rep.format_report()))
    return 0 if rep.ok else 1


def _links(args: argparse.Namespace) -> int:
    from releases.publish import presign_release

    links = presign_release(_store(args.source, args.endpoint_url), args.expires)
    print(json.dumps(links, indent=2))
    return 0


def _progress(p) -> None:
    """One line per object (publishing is a handful of large files, not millions)."""
    print(f"  [{p.done}/{p.total}] {p.status} {p.path}", file=sys.stderr, flush=True)


__all__ = ["add_parser", "cmd_release"]
