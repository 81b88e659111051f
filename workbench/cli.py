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
from typing import TYPE_CHECKING, Sequence

from workbench.errors import USER_ERRORS, ParameterError, PopulationError

if TYPE_CHECKING:
    from workbench.validation import ValidationReport

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


def _column_mapping(text: str) -> tuple[str, str]:
    canonical, sep, source = text.partition("=")
    if not sep or not canonical.strip() or not source.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not CANONICAL=SOURCE; write the canonical column, '=' and the "
                                         f"header in the file, e.g. --map opened_by=caller_id")
    return canonical.strip(), source.strip()


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
    check.add_argument("file", metavar="FILE", type=Path, nargs="?", default=None,
                       help="the export (default with --engagement and --population: the population's file)")
    check.add_argument("--kind", default=None, help="population kind (default: the --population's kind)")
    check.add_argument("--format", default=None, help="export format (default auto, or the --population's)")
    check.add_argument("--engagement", type=Path, default=None,
                       help="engagement folder (period, zone, second sources, the file's declaration)")
    check.add_argument("--population", default=None, metavar="ID",
                       help="with --engagement: check FILE as this population (its column map, stated count ...)")
    check.add_argument("--map", action="append", default=[], metavar="CANONICAL=SOURCE", type=_column_mapping,
                       help="column map entry, canonical column = header in the file (repeatable)")
    check.add_argument("--records", default=None, metavar="NAME",
                       help="JSON holding several arrays: the one with the records (e.g. pulls)")
    check.add_argument("--latest-per-key", action="store_true",
                       help="an event log (one row per update): test the latest state of each record")
    check.add_argument("--report", type=Path, default=None, metavar="FILE.csv|FILE.xlsx",
                       help="write every finding to this file")
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

    verify = commands.add_parser(
        "verify", help="check the results store's hash chain and append-only triggers",
        description="Recompute the SHA-256 of every entry of ENGAGEMENT_DIR/results.sqlite and its link to the "
                    "previous one, and check the sequence and the append-only triggers. Exit 0 with one line "
                    "(entries and chain head) when intact; exit 1 naming the first bad entry when not; 2 for bad "
                    "input. Nothing is written (a store in an older layout is migrated first, as on any open).")
    verify.add_argument("engagement_dir", metavar="ENGAGEMENT_DIR", type=Path)

    requests = commands.add_parser(
        "request-list", help="write the evidence request list for the sampled items (to send to the client)",
        description="Select each control's sample (as a run does, pinning populations; no notebook is run) and "
                    "write FILE.xlsx: one request per sample (a shared sample once, with every control that uses it) "
                    "and, for each sampled item, the evidence needed per manual attribute. Exit 0 when written, 1 "
                    "when written without the controls whose test stopped (named on standard error), 2 for bad "
                    "input.")
    requests.add_argument("engagement_dir", metavar="ENGAGEMENT_DIR", type=Path)
    requests.add_argument("--control", default=None, metavar="ID",
                          help="one control (and the controls sharing its sample); default every tested control")
    requests.add_argument("--out", required=True, type=Path, metavar="FILE.xlsx", help="the workbook to write")
    criterion = commands.add_parser(
        "criterion", help="record whether the controls achieved a criterion, given the exceptions (manager)",
        description="Record the manager's (or partner's) judgement of one criterion in scope in the results store, "
                    "with the tool's proposal from the latest outcome records (OUTPUT/records). The summary's "
                    "Section 4 sheet shows it, and the opinion the judgements make, from the next workbench run. "
                    "\"No\" needs --reason, and so does \"yes\" against a proposal of not achieved. Exit 0 when "
                    "recorded, 2 for bad input.")
    criterion.add_argument("engagement_dir", metavar="ENGAGEMENT_DIR", type=Path)
    criterion.add_argument("--criterion", required=True, metavar="ID", help="a criterion in scope, e.g. CC6.1")
    criterion.add_argument("--achieved", required=True, choices=("yes", "no"))
    criterion.add_argument("--by", required=True, metavar="INITIALS", help="a manager or partner on the staff")
    criterion.add_argument("--reason", default=None, help="why (kept in the trail)")
    criterion.add_argument("--out", default=None, type=Path, metavar="OUTPUT_DIR",
                           help="the run's output folder, for the proposal (default ENGAGEMENT_DIR/output)")

    verify.add_argument("--head", action="append", default=[], type=_sha256, metavar="SHA256",
                        help="a chain head printed earlier (in a workpaper or the manifest) that must still be in "
                             "the chain; repeat for several")
    return parser


def _sha256(text: str) -> str:
    value = text.strip().lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a SHA-256 (64 hexadecimal digits)")
    return value


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
    from workbench.engagement.problems import did_you_mean
    from workbench.formats import FORMAT_NAMES
    from workbench.formats.schemas import KINDS
    from workbench.validation import check_population

    if args.as_of and (args.period_start or args.period_end):
        parser.error("check-population: give either --period-start/--period-end or --as-of, not both")
    if bool(args.period_start) != bool(args.period_end):
        parser.error("check-population: --period-start and --period-end go together")
    for option, value, names in (("--kind", args.kind, KINDS), ("--format", args.format, ("auto",) + FORMAT_NAMES)):
        if value is not None and value not in names:
            raise ParameterError(f"{option} {value!r} is not known.{did_you_mean(value, names)} Use one of: "
                                 f"{', '.join(names)}.")
    if args.population is not None and args.engagement is None:
        parser.error("check-population: --population ID names a population of an engagement; give --engagement DIR")
    if args.file is None and args.population is None:
        parser.error("check-population: give the FILE to check (or --engagement DIR --population ID)")
    if args.kind is None and args.population is None:
        parser.error(f"check-population: --kind is required (one of: {', '.join(KINDS)}), unless --population names "
                     f"a population of the engagement")
    columns: dict[str, str] = {}
    for canonical, source in args.map:
        if canonical in columns and columns[canonical] != source:
            parser.error(f"check-population: --map {canonical} is given twice ({columns[canonical]!r} and {source!r})")
        columns[canonical] = source
    if args.report is not None:
        from workbench.findings import REPORT_SUFFIXES
        if args.report.suffix.lower() not in REPORT_SUFFIXES:
            parser.error(f"check-population: --report {args.report}: write the report as .csv or .xlsx")
    engagement = None
    if args.engagement is not None:
        from workbench.engagement import load_engagement
        engagement = load_engagement(args.engagement)
    try:
        population, report = check_population(
            args.file, kind=args.kind, format=args.format, engagement=engagement, population_id=args.population,
            columns=columns or None, records=args.records, history="latest" if args.latest_per_key else None,
            timezone=args.timezone, period_start=args.period_start, period_end=args.period_end, as_of=args.as_of,
            expected_count=args.expected_count)
    except PopulationError as error:  # the file itself cannot be read as a population
        print(f"workbench check-population: {error}", file=sys.stderr)
        return 1
    if population is not None:
        print(population.summary())
        print("  columns (canonical <- the file's):")
        width = max(len(canonical) for canonical, _ in population.column_sources)
        for canonical, source in population.column_sources:
            print(f"    {canonical:<{width}} <- {source}")
        print()
    print(report.summary())
    print()
    print(_findings_table(report))
    if args.report is not None:
        from workbench.findings import write_findings
        written = write_findings(report, args.report, population)
        print(f"\nEvery finding ({len(report.findings):,}) written to {written}")
    return 0 if report.usable else 1


def _findings_table(report: "ValidationReport") -> str:
    """The findings counted by severity, rule and column (exact counts), as a fixed-width table."""
    table = report.findings_by_rule()
    if table.empty:
        return "Findings: none."
    counts = {severity: int(table.loc[table["severity"] == severity, "findings"].sum())
              for severity in ("error", "warning", "info")}
    lines = [f"Findings: {len(report.findings):,} ({counts['error']:,} error(s), {counts['warning']:,} warning(s), "
             f"{counts['info']:,} info), by rule:"]
    rule_w = max(4, *(len(r) for r in table["rule"]))
    col_w = min(30, max(6, *(len(c) for c in table["column"])))
    lines.append(f"  {'severity':<8} {'rule':<{rule_w}} {'column':<{col_w}} {'findings':>9}  rows")
    for severity, rule, column, findings, rows in table.itertuples(index=False):
        lines.append(f"  {severity:<8} {rule:<{rule_w}} {column[:col_w]:<{col_w}} {findings:>9,}  {rows}")
    if len(report.findings) > 20:
        lines.append("  every finding, with its message: --report FILE.csv or --report FILE.xlsx")
    return "\n".join(lines)


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


def _criterion(args: argparse.Namespace) -> int:
    from workbench.engagement import load_engagement
    from workbench.engagement.criteria import normalize_criterion_id
    from workbench.outcome import load_outcome
    from workbench.section4 import PROPOSALS, record_criterion_judgement, section4

    engagement = load_engagement(args.engagement_dir)
    out = args.out if args.out is not None else engagement.folder / "output"
    rows = [load_outcome(out, control.id) or {"control_id": control.id, "status": "not_run"}
            for control in engagement.controls]
    wanted = normalize_criterion_id(args.criterion) or args.criterion
    line = next((line for line in section4(engagement, rows, judgements={}).criteria if line.criterion == wanted),
                None)
    judgement = record_criterion_judgement(engagement, args.criterion, achieved=args.achieved == "yes", by=args.by,
                                           proposed=line.proposed if line is not None else None, reason=args.reason)
    print(f"Recorded {judgement.criterion}: {'achieved' if judgement.achieved else 'not achieved'}, by "
          f"{judgement.by} at {judgement.at}"
          + (f" (the tool proposed: {PROPOSALS[line.proposed].lower()}: {line.why})" if line is not None else "")
          + ". The summary's Section 4 sheet shows it from the next workbench run.")
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


def _request_list(args: argparse.Namespace) -> int:
    from workbench.engagement import load_engagement
    from workbench.errors import ParameterError
    from workbench.request_list import build_requests, tests_for_requests, write_request_list

    out = Path(args.out)
    if out.suffix.lower() != ".xlsx":
        raise ParameterError(f"--out {out}: give an .xlsx file name, e.g. --out requests.xlsx.")
    if out.is_dir():
        raise ParameterError(f"--out {out} is a folder; give the file to write, e.g. {out / 'requests.xlsx'}.")
    engagement = load_engagement(args.engagement_dir)
    tests, failures = tests_for_requests(engagement, args.control)
    for control_id, message in failures:
        print(f"workbench request-list: {control_id} left out: {message}", file=sys.stderr)
    if not tests:
        print("workbench request-list: no control could be tested, so nothing was written.", file=sys.stderr)
        return 1
    path = write_request_list(out, tests)
    requests = build_requests(tests)
    items = sum(len(r.items) for r in requests)
    print(f"Request list: {path} ({len(requests)} request(s), {items} item(s), {len(tests)} control(s)).")
    return 1 if failures else 0


def _verify(args: argparse.Namespace) -> int:
    import warnings

    from workbench.errors import StoreIntegrityError
    from workbench.results import RESULTS_FILE, ZERO_SHA256, NetworkFileSystemWarning, ResultsStore

    folder = args.engagement_dir
    path = folder / RESULTS_FILE
    if folder.is_dir() and not path.exists():
        if args.head:
            print(f"FAILED {path}: there is no results store, but chain head(s) {', '.join(args.head)} were "
                  f"printed from it: it was deleted or moved.")
            return 1
        print(f"OK {path}: no results store yet (nothing recorded): 0 entries, chain head {ZERO_SHA256}")
        return 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NetworkFileSystemWarning)   # shown below, once
            with ResultsStore.open(folder) as store:
                for note in store.warnings:
                    print(f"workbench verify: note: {note}", file=sys.stderr)
                status = store.verify(known_heads=args.head)
    except StoreIntegrityError as error:
        print(f"FAILED {error}")
        return 1
    print(status.summary())
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
        if args.command == "verify":
            return _verify(args)
        if args.command == "request-list":
            return _request_list(args)
        if args.command == "criterion":
            return _criterion(args)
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
