"""The ``workbench`` command line: thin; it parses, validates and calls the package.

Exit codes: 0 success; 1 the work ran but something failed (a notebook, an unusable
population; an engagement of a batch left out); 2 bad input or usage (a wrong option, an engagement
folder with errors); 3 ``workbench run``: the output folder is in use by another run; 128 + the signal
number when a run was stopped by a signal (130 for Ctrl-C).
Bad input never shows a traceback: the message names the file, key, row or column and the fix.
"""

from __future__ import annotations

import argparse
import contextlib
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
    deliver.add_argument("--addition", action="store_true",
                         help="the engagement is locked: record the new version as a dated addition (--reason says "
                              "why)")
    deliver.add_argument("--by", default=None,
                         help="who delivers it: initials of a member of the staff (default: the engagement's first "
                              "preparer); the OS account is recorded beside it")

    receipts = commands.add_parser(
        "receipts", help="list every population's receipts (versions, SHA-256, who pinned them and when)",
        description="Print the receipts of every population of the engagement, oldest version first.")
    receipts.add_argument("engagement_dir", metavar="ENGAGEMENT_DIR", type=Path)

    verify = commands.add_parser(
        "verify", help="check the results store's hash chain and append-only triggers",
        description="Recompute the SHA-256 of every entry of ENGAGEMENT_DIR/results.sqlite and its link to the "
                    "previous one, and check the sequence and the append-only triggers. Exit 0 with one line "
                    "(entries and chain head) when intact; exit 1 naming the first bad entry when not, or every "
                    "evidence file changed or deleted after a result cited it; 2 for bad input. Nothing is written (a "
                    "store in an older layout is migrated first, as on any open).")
    verify.add_argument("engagement_dir", metavar="ENGAGEMENT_DIR", type=Path)

    record = commands.add_parser(
        "record", help="record one tested result (validated, like the form and the Excel import)",
        description="Record the outcome of one attribute of one sampled item in ENGAGEMENT's results store, through "
                    "workbench.recording (the same checks as the form and the Excel import: tester, outcome, "
                    "evidence, evidence date, the item in the current selection). Exit 0 printing what was "
                    "recorded (or that it was already recorded); 1 with every problem, one a line; 2 for bad "
                    "input. See docs/recording.md.")
    record.add_argument("engagement_dir", metavar="ENGAGEMENT", type=Path)
    record.add_argument("--control", required=True, metavar="ID", help="the control id, e.g. CM-02")
    record.add_argument("--item", required=True, metavar="KEY", help="the sampled item's key, e.g. CHG-1042")
    record.add_argument("--attribute", required=True, metavar="A", help="the attribute id, e.g. testing_evidenced")
    record.add_argument("--result", required=True, metavar="pass|fail|n/a", help="the outcome (any case)")
    record.add_argument("--evidence", default=None, metavar="REF",
                        help="where the evidence is (required for pass and fail)")
    record.add_argument("--evidence-date", default=None, metavar="YYYY-MM-DD", help="the date the evidence shows")
    record.add_argument("--comment", default=None, metavar="TEXT")
    record.add_argument("--override-reason", default=None, metavar="TEXT",
                        help="automated attributes only: why this item's computed outcome is replaced")
    record.add_argument("--tester", required=True, metavar="INITIALS", help="the preparer who performed the test")
    _addition_options(record)

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
    lab = commands.add_parser(
        "lab", help="start JupyterLab on the engagement, its control notebooks ready to run",
        description="Write a working copy of each control's notebook under ENGAGEMENT_DIR/output/interactive/"
                    "notebooks/ with its parameters set to the engagement and control (nothing the inputs "
                    "fingerprint covers is changed), then start JupyterLab on 127.0.0.1 opened on them, with "
                    "news and update checks off. Interactive runs write to output/interactive/. Stop it with "
                    "Ctrl-C. Exit 2 for bad input.")
    lab.add_argument("engagement_dir", metavar="ENGAGEMENT_DIR", type=Path)
    lab.add_argument("--port", type=_positive_int, default=None, help="the server's port (default 8888 or the "
                                                                      "next free one)")
    lab.add_argument("--no-browser", action="store_true", help="do not open a browser; print the URL")
    template = commands.add_parser(
        "template", help="write the testing template of a control (Excel), to fill offline and import back",
        description="Write FILE.xlsx: the control's selected items in sample order with, per manual attribute, "
                    "Result (Pass, Fail, N/A), Evidence reference, Evidence date and Comment; a sheet for the "
                    "exceptions' evaluations and one for the walkthrough; bound (hidden sheet) to the control's "
                    "current selection. Results already recorded are prefilled. See docs/recording-excel.md.")
    template.add_argument("engagement_dir", metavar="ENGAGEMENT_DIR", type=Path)
    template.add_argument("--control", required=True, metavar="ID", help="the control")
    template.add_argument("--round", default=None, metavar="R", help="only the items of this testing round")
    template.add_argument("--out", required=True, type=Path, metavar="FILE.xlsx", help="the workbook to write")

    imports = commands.add_parser(
        "import-results", help="validate a filled testing template and record its results (all or nothing)",
        description="Check every cell of a template written by workbench template (results, evidence, dates, "
                    "items, the binding to the current selection, the tester) and record its results, exception "
                    "evaluations and walkthrough in one transaction. Exit 0 with the counts; 1 with every problem "
                    "(sheet, row, column) and nothing recorded; 2 for bad input.")
    imports.add_argument("engagement_dir", metavar="ENGAGEMENT_DIR", type=Path)
    imports.add_argument("file", metavar="FILE.xlsx", type=Path)
    imports.add_argument("--tester", required=True, metavar="INITIALS",
                         help="the preparer who did the tests (initials or name, on the staff list)")
    imports.add_argument("--control", default=None, metavar="ID",
                         help="refuse the file unless it is the template of this control")
    signoff = commands.add_parser(
        "signoff", help="sign off a control's workpaper as preparer or reviewer (on its inputs fingerprint now)",
        description="Record the preparer's or the reviewer's sign-off of a control with its inputs fingerprint, "
                    "the staff member's initials and, beside them, the OS account and host. The preparer signs "
                    "first; one person is never both. See docs/signoff.md. Exit 0 when recorded, 2 when refused.")
    signoff.add_argument("engagement_dir", metavar="ENGAGEMENT_DIR", type=Path)
    signoff.add_argument("--control", required=True, metavar="ID", help="the control signed off")
    signoff.add_argument("--role", required=True, choices=("preparer", "reviewer"))
    signoff.add_argument("--by", required=True, metavar="INITIALS", help="a member of the engagement's staff")
    _addition_options(signoff)

    note = commands.add_parser(
        "note", help="raise, answer or clear a review note on a control",
        description="--text raises a note (a reviewer, manager or partner); --answer N --text answers note N "
                    "(any member of the staff); --clear N clears it (a reviewer, manager or partner). Who and when "
                    "are recorded for each. Exit 0 when recorded, 2 when refused.")
    note.add_argument("engagement_dir", metavar="ENGAGEMENT_DIR", type=Path)
    note.add_argument("--control", required=True, metavar="ID")
    note.add_argument("--by", required=True, metavar="INITIALS", help="a member of the engagement's staff")
    note.add_argument("--text", default=None, help="the note (to raise one) or the answer (with --answer)")
    which = note.add_mutually_exclusive_group()
    which.add_argument("--answer", type=_positive_int, default=None, metavar="N", help="answer note N")
    which.add_argument("--clear", type=_positive_int, default=None, metavar="N", help="clear note N")
    _addition_options(note)

    lock = commands.add_parser(
        "lock", help="lock the engagement after the report is released, and archive its folder",
        description="Record the report release date and the documentation completion deadline (release date + "
                    "60 days, AU-C 230 / AT-C 205), write ENGAGEMENT_DIR/archive/<id>-locked-<date>.zip with "
                    "MANIFEST.sha256 (every file's SHA-256) inside, and refuse every later write that is not an "
                    "addition (--addition --reason). By a manager or partner. Exit 0 when locked, 2 when refused.")
    lock.add_argument("engagement_dir", metavar="ENGAGEMENT_DIR", type=Path)
    lock.add_argument("--release-date", required=True, type=_date, metavar="YYYY-MM-DD",
                      help="the date the report was released")
    lock.add_argument("--by", required=True, metavar="INITIALS", help="a manager or partner of the staff")
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


def _addition_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--addition", action="store_true",
                         help="the engagement is locked: record this as a dated addition (with --reason)")
    command.add_argument("--reason", default=None, help="with --addition: why the documentation is added to")


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

    from workbench.results import recording_addition

    engagement = load_engagement(args.engagement_dir)
    with recording_addition(args.reason) if args.addition else contextlib.nullcontext():
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
                  f"(pinned when a control's test first uses it)")
            continue
        note = "" if declared else " (no longer declared in engagement.toml)"
        print(f"{population_id}{note}:")
        for r in listed:
            print(f"  version {r.version}: {r.file}")
            print(f"    SHA-256      {r.sha256} ({r.size_bytes:,} bytes)")
            print(f"    pinned       {r.pinned_at} by {r.pinned_by}"
                  + (f" (OS account {r.os_account})" if r.os_account else ""))
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
    from workbench.evidence import check_evidence
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
                changed = check_evidence(store, folder)
    except StoreIntegrityError as error:
        print(f"FAILED {error}")
        return 1
    if changed:
        print(f"FAILED {path}: the hash chain is intact, but {len(changed)} evidence file(s) are not as the results "
              f"citing them recorded:")
        for problem in changed:
            print(f"  {problem}")
        return 1
    print(status.summary())
    return 0


def _lab(args: argparse.Namespace) -> int:
    import subprocess

    from workbench.lab import prepare_lab   # heavy (the engagement, the batch runner): only for this command

    setup = prepare_lab(args.engagement_dir, port=args.port, open_browser=not args.no_browser)
    print(f"workbench lab: {len(setup.notebooks)} control notebook(s) in "
          f"{setup.notebooks[0].parent if setup.notebooks else setup.engagement_dir}; interactive output goes to "
          f"{setup.engagement_dir / 'output' / 'interactive'}", file=sys.stderr)
    sys.stderr.flush()
    sys.stdout.flush()
    if os.name == "posix":   # become the server: Ctrl-C, SIGTERM and its process id reach it, no orphan left
        os.chdir(setup.engagement_dir)
        os.execve(setup.command[0], list(setup.command), setup.environment)
    server = subprocess.Popen(setup.command, env=setup.environment, cwd=setup.engagement_dir)
    try:
        return server.wait()
    except KeyboardInterrupt:
        server.terminate()
        return server.wait()


def _template(args: argparse.Namespace) -> int:
    from workbench.engagement import load_engagement
    from workbench.pipeline import run_control_test
    from workbench.template import write_template

    engagement = load_engagement(args.engagement_dir)
    test = run_control_test(engagement, engagement.control(args.control).id)
    path = write_template(test, args.out, round_name=args.round)
    print(f"Testing template: {path} ({test.control.id}, {len(test.selection.keys)} item(s)"
          + (f", round {args.round}" if args.round else "") + ").")
    return 0


def _import_results(args: argparse.Namespace) -> int:
    from workbench.engagement import load_engagement
    from workbench.template import TemplateRejected, import_results

    engagement = load_engagement(args.engagement_dir)
    try:
        report = import_results(engagement, args.file, tester=args.tester, control_id=args.control)
    except TemplateRejected as rejected:
        print(f"workbench import-results: {rejected}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0


def _signoff(args: argparse.Namespace) -> int:
    from workbench.engagement import load_engagement
    from workbench.pipeline import run_control_test
    from workbench.signoff import sign_off

    engagement = load_engagement(args.engagement_dir)
    test = run_control_test(engagement, args.control)
    signed = sign_off(test, args.role, by=args.by, addition=args.addition, reason=args.reason)
    addition = f"; addition after the lock: {signed.addition}" if signed.addition else ""
    print(f"{signed.control_id}: {signed.role} sign-off by {signed.name} ({signed.by}) at {signed.at} "
          f"(OS account {signed.os_account}){addition}")
    print(f"  inputs fingerprint {signed.fingerprint}")
    return 0


def _note(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from workbench.engagement import load_engagement
    from workbench.signoff import answer_note, clear_note, raise_note

    if args.clear is not None and args.text is not None:
        parser.error("note: --clear N takes no --text")
    if args.clear is None and args.text is None:
        parser.error("note: give --text (a new note), --answer N --text (an answer) or --clear N")
    engagement = load_engagement(args.engagement_dir)
    extra = {"addition": args.addition, "reason": args.reason}
    if args.answer is not None:
        note = answer_note(engagement, args.control, args.answer, by=args.by, text=args.text, **extra)
        print(f"{note.control_id} review note {note.number} answered by {note.answered_by} at {note.answered_at}.")
    elif args.clear is not None:
        note = clear_note(engagement, args.control, args.clear, by=args.by, **extra)
        print(f"{note.control_id} review note {note.number} cleared by {note.cleared_by} at {note.cleared_at}.")
    else:
        note = raise_note(engagement, args.control, by=args.by, text=args.text, **extra)
        print(f"{note.control_id} review note {note.number} raised by {note.raised_by} at {note.raised_at}.")
    return 0


def _lock(args: argparse.Namespace) -> int:
    from workbench.engagement import load_engagement
    from workbench.signoff import lock_engagement

    engagement = load_engagement(args.engagement_dir)
    lock = lock_engagement(engagement, release_date=args.release_date, by=args.by)
    print(lock.text())
    return 0


def _record(args: argparse.Namespace) -> int:
    from workbench.engagement import load_engagement
    from workbench.pipeline import run_control_test
    from workbench.recording import ProposedResult, RecordRefused, record_result
    from workbench.results import RESULTS_FILE, ResultsStore, recording_addition

    engagement = load_engagement(args.engagement_dir)
    test = run_control_test(engagement, args.control)
    proposed = ProposedResult(item_key=args.item, attribute_id=args.attribute, outcome=args.result,
                              evidence_ref=args.evidence, evidence_date=args.evidence_date, comment=args.comment,
                              override_reason=args.override_reason)
    before = None
    if (engagement.folder / RESULTS_FILE).is_file():
        with ResultsStore.open(engagement) as store:
            before = store.get(test.control.id, args.item.strip(), args.attribute.strip())
    if args.reason is not None and not args.addition:
        raise ParameterError("record: --reason goes with --addition (a result recorded after the lock).")
    try:
        with recording_addition(args.reason) if args.addition else contextlib.nullcontext():
            result = record_result(test, proposed, tester=args.tester)
    except RecordRefused as refused:
        print(f"workbench record: not recorded ({len(refused.problems)} problem(s)):", file=sys.stderr)
        for problem in refused.problems:
            print(problem.message, file=sys.stderr)
        return 1
    if before is not None and before.tested_at == result.tested_at:
        print(f"Already recorded, nothing changed: {result.summary()}")
    else:
        print(f"Recorded: {result.summary()}")
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
        if args.command == "lab":
            return _lab(args)
        if args.command == "template":
            return _template(args)
        if args.command == "import-results":
            return _import_results(args)
        if args.command == "signoff":
            return _signoff(args)
        if args.command == "note":
            return _note(args, parser)
        if args.command == "lock":
            return _lock(args)
        if args.command == "record":
            return _record(args)
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
