"""The ``workbench`` command line: thin; it parses, validates and calls the package.

Exit codes: 0 success; 1 the work ran but something failed (a notebook, an unusable
population; an engagement of a batch left out); 2 bad input or usage (a wrong option, an engagement
folder with errors); 3 ``workbench run``: the output folder is in use by another run; 128 + the signal
number when a run was stopped by a signal (130 for Ctrl-C).
Bad input never shows a traceback: the message names the file, key, row or column and the fix.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path
from typing import Sequence

from workbench.errors import USER_ERRORS, PopulationError

__all__ = ["main", "build_parser"]


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-06-30") from None


def _timezone(text: str) -> str:
    import zoneinfo
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an IANA time zone; write it like America/New_York or UTC") from None
    return text


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds > 0")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench", description="SOC 2 control-testing workbench.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="test every control of one or more engagements (papermill, in parallel) and write workpapers",
        description="Execute each control's notebook with papermill and write OUT/<control>.xlsx, "
                    "OUT/notebooks/, OUT/summary.xlsx and OUT/manifest.json, for each engagement. "
                    "See docs/batch.md.")
    run.add_argument("engagement_dirs", metavar="ENGAGEMENT_DIR", type=Path, nargs="+",
                     help="an engagement folder, or a folder of engagement folders (several may be given)")
    run.add_argument("--out", type=Path, default=None,
                     help="output folder (default ENGAGEMENT_DIR/output; with several engagements, "
                          "OUT/<engagement folder name>)")
    run.add_argument("--workers", type=_positive_int, default=None,
                     help="notebooks executed at once (default: the number of cores)")
    run.add_argument("--controls", default=None, help="comma-separated control ids (default: all)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--rerun-failed", action="store_true",
                     help="run only the controls without a good result in the last run (failed, interrupted, "
                          "not reached); keep the others' results")
    run.add_argument("--changed", action="store_true",
                     help="run only the controls whose inputs fingerprint, notebook or workbench version "
                          "changed since the last run; keep the others' results")
    run.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                     help="seconds each notebook may take (its cells, in all); the cell running then is "
                          "stopped and the control fails")
    run.add_argument("--executor", choices=("local", "dask"), default="local",
                     help="where notebooks run: this machine (default) or a Dask cluster")
    run.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (default: a local cluster)")
    run.add_argument("--fresh-kernels", action="store_true",
                     help="start every notebook's kernel as a new process, as papermill does (slower; the "
                          "default forks it from a kernel template that has imported the workbench)")
    run.add_argument("--batch-manifest", type=Path, default=None, metavar="PATH",
                     help="where the batch manifest of several engagements goes (default OUT/batch-manifest.json, "
                          "or beside the engagement folders)")

    check = commands.add_parser(
        "check-population", help="load a client export and print its completeness and accuracy checks",
        description="Exit 0 when the population is usable (warnings allowed), 1 when it is not, 2 for a usage error.")
    check.add_argument("file", metavar="FILE", type=Path)
    check.add_argument("--kind", required=True)
    check.add_argument("--format", default="auto")
    check.add_argument("--engagement", type=Path, default=None, help="engagement folder (period, zone)")
    check.add_argument("--timezone", type=_timezone, default=None, help="IANA zone for times without an offset")
    check.add_argument("--period-start", type=_date, default=None)
    check.add_argument("--period-end", type=_date, default=None)
    check.add_argument("--as-of", type=_date, default=None)
    check.add_argument("--expected-count", type=_count, default=None, help="record count the client stated")

    deliver = commands.add_parser(
        "deliver-population", help="deliver a new version of a pinned population file, keeping the old one",
        description="Keep the pinned file under populations/superseded/, copy NEW_FILE to the population's "
                    "path and record the next version with the reason. Results already recorded are kept. "
                    "Exit 0 on success, 2 for bad input.")
    deliver.add_argument("engagement_dir", metavar="ENGAGEMENT_DIR", type=Path)
    deliver.add_argument("population_id", metavar="POPULATION_ID")
    deliver.add_argument("new_file", metavar="NEW_FILE", type=Path)
    deliver.add_argument("--reason", required=True, help="why the client sent a new version (recorded)")
    deliver.add_argument("--by", default=None, help="who delivers it (default: your login name)")

    receipts = commands.add_parser(
        "receipts", help="list every population's receipts (versions, SHA-256, who pinned them and when)",
        description="Print the receipts of every population of the engagement, oldest version first.")
    receipts.add_argument("engagement_dir", metavar="ENGAGEMENT_DIR", type=Path)
    return parser


def _version() -> str:
    from importlib import metadata
    try:
        return metadata.version("control-testing-workbench")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from workbench.batch import RunInterrupted, run_batch
    from workbench.runlock import OutputFolderInUse

    if args.scheduler and args.executor != "dask":
        parser.error("run: --scheduler goes with --executor dask")
    controls = args.controls.split(",") if args.controls else None
    try:
        result = run_batch(args.engagement_dirs, output_dir=args.out, workers=args.workers, control_ids=controls,
                           progress=not args.no_progress, rerun_failed=args.rerun_failed, changed=args.changed,
                           timeout=args.timeout, executor=args.executor, scheduler=args.scheduler,
                           warm_kernels=not args.fresh_kernels, batch_manifest=args.batch_manifest)
    except OutputFolderInUse as error:
        print(f"workbench run: {error}", file=sys.stderr)
        return 3
    except RunInterrupted as stopped:
        print(f"workbench run: {stopped}; unfinished controls are marked interrupted "
              f"(workbench run --rerun-failed runs them)", file=sys.stderr)
        return 128 + stopped.signal_number
    print(result.summary())
    return 0 if result.ok else 1


def _check_population(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from workbench.validation import check_population

    if args.as_of and (args.period_start or args.period_end):
        parser.error("check-population: give either --period-start/--period-end or --as-of, not both")
    if bool(args.period_start) != bool(args.period_end):
        parser.error("check-population: --period-start and --period-end go together")
    engagement = None
    if args.engagement is not None:
        from workbench.engagement import load_engagement
        engagement = load_engagement(args.engagement)
    try:
        population, report = check_population(
            args.file, kind=args.kind, format=args.format, engagement=engagement, timezone=args.timezone,
            period_start=args.period_start, period_end=args.period_end, as_of=args.as_of,
            expected_count=args.expected_count)
    except PopulationError as error:  # the file itself cannot be read as a population
        print(f"workbench check-population: {error}", file=sys.stderr)
        return 1
    if population is not None:
        print(population.summary())
        print()
    print(report.summary())
    return 0 if report.usable else 1


def _deliver_population(args: argparse.Namespace) -> int:
    from workbench.engagement import load_engagement
    from workbench.receipt import deliver_population

    engagement = load_engagement(args.engagement_dir)
    receipt = deliver_population(engagement, args.population_id, args.new_file, reason=args.reason,
                                 delivered_by=args.by)
    print(f"Delivered version {receipt.version} of population {receipt.population_id!r}; version "
          f"{receipt.version - 1} is kept at {receipt.superseded_file}.")
    print(receipt.summary())
    return 0


def _receipts(args: argparse.Namespace) -> int:
    from workbench.engagement import load_engagement
    from workbench.receipt import Receipt, receipts

    engagement = load_engagement(args.engagement_dir)
    found = receipts(engagement)
    by_population: dict[str, list[Receipt]] = {}
    for receipt in found:
        by_population.setdefault(receipt.population_id, []).append(receipt)
    print(f"Population receipts of {engagement.engagement_id} ({engagement.folder}):")
    for population_id in list(engagement.populations) + [p for p in by_population if p not in
                                                           engagement.populations]:
        declared = population_id in engagement.populations
        listed = by_population.get(population_id, [])
        print()
        if not listed:
            print(f"{population_id}: {engagement.populations[population_id].file}: not pinned yet "
                  f"(pinned when first loaded)")
            continue
        note = "" if declared else " (no longer declared in engagement.toml)"
        print(f"{population_id}{note}:")
        for r in listed:
            print(f"  version {r.version}: {r.file}")
            print(f"    SHA-256      {r.sha256} ({r.size_bytes:,} bytes)")
            print(f"    pinned       {r.pinned_at} by {r.pinned_by}")
            print(f"    provided by  {r.provided_by or '(not recorded)'}; received {r.received or '(not recorded)'}; "
                  f"request {r.request or '(not recorded)'}")
            if r.query:
                print(f"    query        {r.query}")
            if r.superseded_file:
                print(f"    previous version kept at {r.superseded_file}")
            if r.reason:
                print(f"    reason       {r.reason}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``workbench`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return _run(args, parser)
        if args.command == "deliver-population":
            return _deliver_population(args)
        if args.command == "receipts":
            return _receipts(args)
        return _check_population(args, parser)
    except USER_ERRORS as error:
        print(f"workbench {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
