"""Generate the demo client "Acme Cloud, Inc." (two engagements) deterministically.

Run from the repository root, with no arguments::

    .venv/bin/python sample_data/generate.py

It (re)writes ``sample_data/acme-type2/`` and ``sample_data/acme-type1/``: ``engagement.toml``,
``controls.xlsx`` and the client exports under ``populations/``. Every file is a pure function of
the code below: all randomness comes from :class:`random.Random` instances seeded with fixed
strings, no clock is read, and nothing iterates over a set or relies on hash order. CSV, TOML and
(after the zip is rewritten with fixed timestamps) XLSX bytes are identical on every run with the
same Python and openpyxl versions.

The exports imitate the real formats described in ``shared/domain/formats.md`` (Jira "all fields"
CSV with repeated column names and ``16/Feb/26 3:29 PM`` dates, ServiceNow list export in cp1252
with every field quoted, Okta user export, AWS IAM credential report without a trailing newline,
an HR roster in UTF-8 with BOM, ...). The planted exceptions are chosen here and listed, with
their exact record ids, in ``sample_data/README.md``; ``tests/test_sample_data.py`` recomputes
them from the raw files.
"""

from __future__ import annotations

import csv
import io
import re
import sys
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from random import Random
from zoneinfo import ZoneInfo

import openpyxl

__all__ = ["generate", "planted_exceptions", "planted_markdown", "manual_failures_markdown", "main"]

HERE = Path(__file__).resolve().parent
TZ = ZoneInfo("America/New_York")
UTC = timezone.utc
PERIOD_START = date(2025, 7, 1)
PERIOD_END = date(2026, 6, 30)
DOMAIN = "acmecloud.example"
DST_DAYS = (date(2025, 11, 2), date(2026, 3, 8))  # local hours 01:00-02:59 avoided on these days
XLSX_TIMESTAMP = datetime(2026, 7, 10, 9, 0, 0)
#: The Type 1 as-of window: the 90 days up to the as-of date 2026-06-30 (workbench.scope.TYPE1_LOOKBACK_DAYS).
TYPE1_WINDOW = (date(2026, 4, 2), date(2026, 6, 30))
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
QUARTERS = (
    ("2025-Q3", date(2025, 7, 1), date(2025, 9, 30)),
    ("2025-Q4", date(2025, 10, 1), date(2025, 12, 31)),
    ("2026-Q1", date(2026, 1, 1), date(2026, 3, 31)),
    ("2026-Q2", date(2026, 4, 1), date(2026, 6, 30)),
)


# --------------------------------------------------------------------------------------------
# formatting helpers (no locale: month names are spelled out here, never via strftime %b)
# --------------------------------------------------------------------------------------------
def jira_dt(dt: datetime) -> str:
    """Jira locale format ``dd/MMM/yy h:mm a`` (e.g. ``16/Feb/26 3:29 PM``), no zone."""
    hour12 = dt.hour % 12 or 12
    ampm = "AM" if dt.hour < 12 else "PM"
    return f"{dt.day:02d}/{MONTHS[dt.month - 1]}/{dt.year % 100:02d} {hour12}:{dt.minute:02d} {ampm}"


def sn_dt(dt: datetime | None) -> str:
    """ServiceNow default display format ``2025-11-13 15:22:31`` (local, no zone)."""
    return "" if dt is None else dt.strftime("%Y-%m-%d %H:%M:%S")


def to_utc(local: datetime) -> datetime:
    """Naive engagement-zone wall time -> aware UTC."""
    return local.replace(tzinfo=TZ).astimezone(UTC)


def to_local(utc: datetime) -> datetime:
    """Aware UTC -> naive engagement-zone wall time."""
    return utc.astimezone(TZ).replace(tzinfo=None)


def iso_z(utc: datetime | None, ms: bool = False) -> str:
    if utc is None:
        return ""
    text = utc.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return text + (".000Z" if ms else "Z")


def in_dst_gap(local: datetime) -> bool:
    return local.date() in DST_DAYS and 1 <= local.hour < 3


def weekday_on_or_after(d: date) -> date:
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


def add_business_days(d: date, n: int) -> date:
    while n > 0:
        d += timedelta(days=1)
        if d.weekday() < 5:
            n -= 1
    return d


def np_busdays(start: date, end: date) -> int:
    """Weekdays in [start, end) - what ``numpy.busday_count(start, end)`` returns."""
    n, d = 0, start
    while d < end:
        if d.weekday() < 5:
            n += 1
        d += timedelta(days=1)
    return n


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def rand_date(rng: Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randint(0, (end - start).days))


def write_csv(path: Path, header: list[str], rows: list[list[str]], *, encoding: str = "utf-8",
              quoting: int = csv.QUOTE_MINIMAL, lineterminator: str = "\r\n",
              trailing_newline: bool = True) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=quoting, lineterminator=lineterminator)
    writer.writerow(header)
    writer.writerows(rows)
    text = buf.getvalue()
    if not trailing_newline:
        text = text[: -len(lineterminator)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))


def write_xlsx(path: Path, sheets: list[tuple[str, list[str], list[list[object]]]]) -> None:
    """Write a workbook with openpyxl, then rewrite the zip with fixed timestamps (stable bytes).

    Client text is stored as text: a string cell is always given data_type "s" so a value that
    starts with ``=`` is never stored as a formula.
    """
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, header, rows in sheets:
        ws = wb.create_sheet(title)
        ws.append(header)
        for row in rows:
            ws.append([None if v == "" else v for v in row])
        for cells in ws.iter_rows():
            for cell in cells:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
                elif isinstance(cell.value, datetime):
                    cell.number_format = "yyyy-mm-dd hh:mm"
                elif isinstance(cell.value, date):
                    cell.number_format = "yyyy-mm-dd"
        for col, name in enumerate(header, start=1):
            ws.column_dimensions[openpyxl.utils.get_column_letter(col)].width = max(12, len(name) + 2)
    wb.properties.creator = "Acme Cloud, Inc."
    wb.properties.created = XLSX_TIMESTAMP
    buf = io.BytesIO()
    wb.save(buf)
    stamp = XLSX_TIMESTAMP.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                              rb"\g<1>" + stamp.encode() + rb"\g<2>", data)
            zi = zipfile.ZipInfo(info.filename, date_time=(2026, 7, 10, 9, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            dst.writestr(zi, data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out.getvalue())


# --------------------------------------------------------------------------------------------
# people
# --------------------------------------------------------------------------------------------
FIRST = ("Aaron Abigail Adrian Aisha Alan Alicia Amir Ana Andre Angela Arjun Ben Bianca Brandon "
         "Caleb Camila Carlos Chloe Chris Dana Darius Diana Dmitri Elena Eli Emma Ethan Farah Felix "
         "Fiona Gabriel Hannah Hassan Hugo Imani Isaac Isabel Jack Jade Jamal Jasmine Jonah Julia "
         "Kai Karen Leo Lena Liam Lucia Luis Maya Mateo Mia Miguel Nathan Nina Noah Olivia Omar "
         "Paul Quinn Rachel Ravi Rosa Ryan Sara Sean Simone Tara Theo Uma Victor Wendy Yara Zane").split()
LAST = ("Abbott Adler Bailey Banerjee Barnes Becker Bishop Boyd Carver Castillo Chavez Cole Costa "
        "Dalton Dixon Doyle Duarte Ellison Farrell Fischer Flores Foster Garner Gupta Hale Hartley "
        "Hayes Holt Ibarra Iqbal Jensen Joshi Kane Keller Khan Kowalski Lam Larsen Lowe Maddox Mehta "
        "Mendez Morrow Nakamura Nash Novak Nunez Ortiz Park Pereira Quinlan Ramos Reed Rhodes Romero "
        "Sandoval Schmidt Serrano Sharma Sims Soto Stone Sutton Tanaka Thornton Vance Vargas Walsh "
        "Weber Whitlock Yadav Young Zamora").split()
NON_ASCII = {"Zoe": "Zoë", "Jose": "José"}  # a couple of names with accents (HR roster in UTF-8)


@dataclass
class Person:
    emp_id: str
    first: str
    last: str
    dept: str
    title: str
    hire: date
    term: date | None = None
    manager: str = ""
    jira_id: str = ""
    okta_id: str = ""
    ascii_first: str = ""
    flags: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def handle(self) -> str:
        return f"{(self.ascii_first or self.first).lower()}.{self.last.lower()}"

    @property
    def email(self) -> str:
        return f"{self.handle}@{DOMAIN}"

    def employed_on(self, d: date) -> bool:
        return self.hire <= d and (self.term is None or d < self.term)


# fixed key people: name, department, title, hire date, manager name
KEY_PEOPLE = (
    ("Helen Okafor", "Executive", "Chief Executive Officer", date(2018, 2, 5), ""),
    ("Marcus Lindqvist", "Engineering", "Chief Technology Officer", date(2018, 2, 5), "Helen Okafor"),
    ("Rafael Moreno", "Finance", "Chief Financial Officer", date(2019, 4, 1), "Helen Okafor"),
    ("Nadia Karimi", "Security", "Head of Security", date(2019, 9, 16), "Marcus Lindqvist"),
    ("Grace Whitfield", "People", "Head of People", date(2019, 1, 14), "Helen Okafor"),
    ("Tomas Brandt", "Engineering", "Director of Engineering", date(2018, 6, 4), "Marcus Lindqvist"),
    ("Priya Shah", "Engineering", "Release Manager", date(2020, 3, 2), "Tomas Brandt"),
    ("Ivan Petrov", "Engineering", "SRE Lead", date(2019, 5, 6), "Tomas Brandt"),
    ("Sofia Almeida", "Engineering", "Engineering Manager", date(2019, 11, 4), "Tomas Brandt"),
    ("Kenji Watanabe", "Engineering", "Engineering Manager", date(2020, 8, 17), "Tomas Brandt"),
    ("Lauren Brooks", "Engineering", "Engineering Manager", date(2021, 2, 1), "Tomas Brandt"),
    ("Daniel Osei", "Engineering", "Engineering Manager", date(2021, 9, 13), "Tomas Brandt"),
    ("Owen Fitzgerald", "IT", "IT Manager", date(2019, 7, 8), "Nadia Karimi"),
    ("Carla Jensen", "Sales", "VP Sales", date(2018, 9, 10), "Helen Okafor"),
    ("Bianca Russo", "Customer Success", "VP Customer Success", date(2019, 2, 11), "Helen Okafor"),
    ("Elliot Grant", "Product", "VP Product", date(2019, 3, 4), "Marcus Lindqvist"),
    ("Monica Hale", "Marketing", "VP Marketing", date(2020, 1, 6), "Helen Okafor"),
    ("Victor Lang", "Legal", "General Counsel", date(2021, 5, 3), "Helen Okafor"),
)
DEPT_HEAD = {"Engineering": "Tomas Brandt", "Finance": "Rafael Moreno", "Security": "Nadia Karimi",
             "People": "Grace Whitfield", "IT": "Owen Fitzgerald", "Sales": "Carla Jensen",
             "Customer Success": "Bianca Russo", "Product": "Elliot Grant", "Marketing": "Monica Hale",
             "Legal": "Victor Lang"}
ENG_MANAGERS = ("Sofia Almeida", "Kenji Watanabe", "Lauren Brooks", "Daniel Osei", "Ivan Petrov")
CHANGE_APPROVERS = ("Priya Shah", "Tomas Brandt", "Sofia Almeida", "Kenji Watanabe", "Lauren Brooks",
                    "Daniel Osei")
DEPT_WEIGHTS = (("Engineering", 42), ("Sales", 15), ("Customer Success", 13), ("Product", 7),
                ("Marketing", 6), ("Finance", 4), ("People", 3), ("IT", 4), ("Security", 4), ("Legal", 2))
TITLES = {
    "Engineering": (("Software Engineer", 45), ("Senior Software Engineer", 25),
                    ("Site Reliability Engineer", 12), ("Platform Engineer", 8), ("QA Engineer", 10)),
    "Sales": (("Account Executive", 60), ("Sales Development Representative", 40)),
    "Customer Success": (("Customer Success Manager", 50), ("Support Engineer", 50)),
    "Product": (("Product Manager", 70), ("Product Designer", 30)),
    "Marketing": (("Marketing Manager", 100),),
    "Finance": (("Accountant", 60), ("Financial Analyst", 40)),
    "People": (("HR Business Partner", 60), ("Recruiter", 40)),
    "IT": (("IT Support Specialist", 70), ("Systems Administrator", 30)),
    "Security": (("Security Engineer", 70), ("GRC Analyst", 30)),
    "Legal": (("Counsel", 100),),
}
CLOUD_TITLES = ("Site Reliability Engineer", "Platform Engineer")


def _pick(rng: Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([w[0] for w in weighted], weights=[w[1] for w in weighted])[0]


def _account_id(rng: Random) -> str:
    """Jira Cloud account id: either ``712020:<uuid>`` or 24 hex digits (both occur)."""
    if rng.random() < 0.3:
        return "712020:" + str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return f"{rng.getrandbits(96):024x}"


def _okta_id(rng: Random) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "00u" + "".join(rng.choice(alphabet) for _ in range(17))


def make_people() -> list[Person]:
    rng = Random("acme-people")
    taken = {n for n, *_ in KEY_PEOPLE}
    combos = [(f, l) for f in FIRST for l in LAST]
    rng.shuffle(combos)
    combos = [c for c in combos if f"{c[0]} {c[1]}" not in taken]
    raw: list[tuple[str, str, date, date | None, str, str]] = []
    for name, dept, title, hire, _mgr in KEY_PEOPLE:
        first, last = name.split(" ", 1)
        raw.append((first, last, hire, None, dept, title))

    def generic(kind: str) -> None:
        first, last = combos.pop()
        dept = _pick(rng, DEPT_WEIGHTS)
        title = _pick(rng, TITLES[dept])
        if kind == "pre":            # left before the period
            hire = rand_date(rng, date(2018, 3, 1), date(2024, 6, 30))
            term = weekday_on_or_after(min(hire + timedelta(days=rng.randint(120, 1500)), date(2025, 6, 20)))
            term = max(term, date(2019, 9, 2))
        elif kind == "in":           # terminated during the period
            term = weekday_on_or_after(rand_date(rng, date(2025, 7, 7), date(2026, 6, 19)))
            hire = rand_date(rng, date(2018, 3, 1), min(term - timedelta(days=90), date(2025, 3, 31)))
        elif kind == "new":          # hired during the period, still employed
            hire = weekday_on_or_after(rand_date(rng, date(2025, 7, 7), date(2026, 6, 15)))
            term = None
        else:                        # employed throughout
            hire = weekday_on_or_after(rand_date(rng, date(2018, 3, 1), date(2025, 6, 16)))
            term = None
        raw.append((first, last, hire, term, dept, title))

    for kind, n in (("pre", 80), ("in", 60), ("new", 80), ("stay", 255)):
        for _ in range(n):
            generic(kind)
    # two accented first names (the HR roster is UTF-8 with BOM)
    for i, (_plain, accented) in enumerate(sorted(NON_ASCII.items())):
        raw[len(KEY_PEOPLE) + 150 + i * 7] = (accented,) + raw[len(KEY_PEOPLE) + 150 + i * 7][1:]
    raw.sort(key=lambda r: (r[2], r[1], r[0]))
    people: list[Person] = []
    by_name_mgr = {n: m for n, _d, _t, _h, m in KEY_PEOPLE}
    for i, (first, last, hire, term, dept, title) in enumerate(raw):
        ascii_first = {v: k for k, v in NON_ASCII.items()}.get(first, "")
        p = Person(emp_id=f"E{10001 + i}", first=first, last=last, dept=dept, title=title,
                   hire=hire, term=term, ascii_first=ascii_first)
        p.jira_id = _account_id(rng)
        p.okta_id = _okta_id(rng)
        people.append(p)
    for p in people:
        if p.name in by_name_mgr:
            p.manager = by_name_mgr[p.name]
        elif p.dept == "Engineering":
            p.manager = ENG_MANAGERS[int(p.emp_id[1:]) % len(ENG_MANAGERS)]
        else:
            p.manager = DEPT_HEAD[p.dept]
    names = [p.name for p in people]
    handles = [p.handle for p in people]
    assert len(set(names)) == len(names) and len(set(handles)) == len(handles)
    return people


# --------------------------------------------------------------------------------------------
# the data set: one object holding every generated population and the planted exceptions
# --------------------------------------------------------------------------------------------
@dataclass
class Change:
    key: str
    issue_id: int
    ctype: str
    system: str
    summary: str
    author: Person
    reporter: Person
    approver: Person | None
    created: datetime
    approved: datetime | None
    deployed: datetime
    resolved: datetime
    updated: datetime
    priority: str
    status: str
    labels: list[str]
    components: list[str]
    description: str
    test_evidence: str
    deploy_seconds: int = 0
    deployer: str = "svc-deploy"


SYSTEMS = ("api-gateway", "billing-service", "web-app", "auth-service", "data-pipeline",
           "search-service", "notifications", "infra-terraform", "postgres-main", "mobile-backend")
SUMMARY_VERBS = ("Add", "Fix", "Update", "Refactor", "Upgrade", "Remove", "Tune", "Migrate", "Enable",
                 "Harden", "Patch", "Roll out")
SUMMARY_OBJECTS = ("rate limiting on public endpoints", "invoice PDF rendering", "session timeout handling",
                   "SAML assertion validation", "nightly ETL retries", "search index mapping",
                   "email template for password reset", "RDS parameter group", "connection pool sizing",
                   "feature flag for new onboarding flow", "TLS cipher configuration", "CSV export of reports",
                   "webhook signature verification", "dependency versions (security advisories)",
                   "dashboard query performance", "push notification batching", "audit log retention job",
                   "S3 bucket policy for customer documents", "OAuth token refresh", "pagination in list API")


def _rand_local(rng: Random, d: date, lo_hour: int, hi_hour: int) -> datetime:
    return datetime.combine(d, time(rng.randint(lo_hour, hi_hour), rng.randint(0, 59)))


class Demo:
    """Everything generated; built once, then written to one or both engagement folders."""

    def __init__(self) -> None:
        self.people = make_people()
        self.by_name = {p.name: p for p in self.people}
        self.engineers = [p for p in self.people if p.dept == "Engineering"]
        self.planted: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self.dated: dict[tuple[str, str, str], date] = {}
        #: Emergency changes approved retroactively by the next business day: CM-03's window is met (no exception).
        self.retro_within_window: set[str] = set()
        self._pick_access_plants()
        self.changes, self.deploy_rows = self._changes()
        self.incidents = self._incidents()
        self.hr = self.hr_rows()
        self.okta = self.okta_rows()
        self.iam = self.iam_lines()
        self.request_rows = self.access_request_rows()
        self.reviews, self.review_items = self.uar_sheets()
        self.backups = self.backup_rows()
        self.vendors = self.vendor_rows()
        self.training = self.training_rows()

    def plant(self, pop: str, check: str, record_id: str, note: str, on: date | None = None) -> None:
        """Record a planted exception; ``on``: the date that makes it one (a Type 1 lists it only when that
        date falls in its as-of window, TYPE1_WINDOW)."""
        self.planted.setdefault((pop, check), []).append((record_id, note))
        if on is not None:
            self.dated[(pop, check, record_id)] = on

    # ---------------------------------------------------------------- access plants (people)
    def _pick_access_plants(self) -> None:
        rng = Random("acme-access-plants")
        terminated = [p for p in self.people if p.term and PERIOD_START <= p.term <= PERIOD_END]
        eng_term = [p for p in terminated if p.dept == "Engineering"]
        picks = rng.sample(eng_term, 6)
        for p in picks[:2]:
            p.title = "Site Reliability Engineer"
        picks[0].flags.add("aws_active")          # still active in AWS IAM
        picks[1].flags.add("aws_disabled_kept")   # IAM user kept but disabled (not an exception)
        picks[2].flags.add("okta_active")         # still ACTIVE in Okta
        picks[3].flags.add("okta_late")           # disabled >5 business days after termination
        picks[4].flags.add("okta_late")
        # the planted terminated users must have been hired long enough ago to have accounts
        for p in picks:
            assert p.hire < p.term - timedelta(days=60)

    # ---------------------------------------------------------------- changes + deployments
    def _changes(self) -> tuple[list[Change], list[list[str]]]:
        rng = Random("acme-changes")
        period_days = days(PERIOD_START, PERIOD_END)
        weights = [1.0 if d.weekday() < 5 else 0.08 for d in period_days]
        deploy_dates = rng.choices(period_days, weights=weights, k=1499)
        deploy_dates += [rand_date(rng, date(2025, 5, 19), date(2025, 6, 27)) for _ in range(30)]
        deploy_dates += [weekday_on_or_after(rand_date(rng, date(2026, 7, 1), date(2026, 7, 8)))
                         for _ in range(30)]
        approvers = [self.by_name[n] for n in CHANGE_APPROVERS]
        product = [p for p in self.people if p.dept == "Product"]
        drafts = []
        for d in deploy_dates:
            ctype = rng.choices(("Standard", "Normal", "Emergency"), weights=(50, 48, 2))[0]
            drafts.append(self._draft_change(rng, d, ctype, approvers, product, boundary=False))
        # one change deployed late on the last evening of the period (after midnight UTC)
        drafts.append(self._draft_change(rng, PERIOD_END, "Normal", approvers, product, boundary=True))
        drafts.sort(key=lambda c: (c.created, c.deployed, c.summary))
        issue_id = 10412
        for n, c in enumerate(drafts):
            c.key = f"CHG-{1040 + n}"
            issue_id += rng.randint(1, 4)
            c.issue_id = issue_id
        self.boundary_change = next(c for c in drafts if c.deployed.hour == 22 and c.deployed.minute == 47
                                    and c.deployed.date() == PERIOD_END)
        # planted exceptions (in-period changes only)
        inp = [c for c in drafts if PERIOD_START <= c.deployed.date() <= PERIOD_END and c is not self.boundary_change]
        emergency = [c for c in inp if c.ctype == "Emergency"]
        others = [c for c in inp if c.ctype != "Emergency"]
        retro = rng.sample(emergency, 3)
        chosen = rng.sample(others, 12)
        late_appr, self_appr, no_appr, after_doc, no_deploy = (
            chosen[0:5], chosen[5:8], chosen[8:9], chosen[9:11], chosen[11:12])
        for c in late_appr:
            c.approved = c.deployed + timedelta(minutes=rng.randint(75, 2 * 24 * 60))
            self.plant("changes", "approved_before_deployment", c.key,
                       f"{c.ctype} change approved {jira_dt(c.approved)}, after deployment {jira_dt(c.deployed)}")
        for n, c in enumerate(retro):
            if n < 2:   # approved retroactively by the next business day (CM-03 met, CM-01 not)
                self.retro_within_window.add(c.key)
                c.approved = c.deployed + timedelta(minutes=rng.randint(150, 15 * 60))
                if in_dst_gap(c.approved):
                    c.approved += timedelta(hours=2)
            else:       # approved retroactively four business days later (CM-03 not met either)
                c.approved = datetime.combine(add_business_days(c.deployed.date(), 4), time(10, rng.randint(0, 59)))
                self.plant("changes", "emergency_approval_late", c.key,
                           f"Emergency change deployed {jira_dt(c.deployed)}, approved only {jira_dt(c.approved)} "
                           f"(policy: by the next business day)")
            # An emergency change is judged by CM-03's retroactive window, never by "approved before deployment"
            # (CM-01 and CM-02 test standard and normal changes): the two approved by the next business day are
            # not exceptions of any control, so they are not planted (sample_data/README.md names them).
        for c in self_appr:
            author = rng.choice([a for a in approvers if a.employed_on(c.created.date())])
            c.author = author
            c.approver = author
            self.plant("changes", "approver_not_author", c.key,
                       f"Self-approved: approver = author = {author.name} (account id {author.jira_id})")
        for c in no_appr:
            c.approver = None
            c.approved = None
            self.plant("changes", "approver_not_author", c.key, "No approver recorded (Approver blank)")
            self.plant("changes", "approved_before_deployment", c.key, "No approval time recorded (Approved blank)")
        for c in after_doc:
            c.created = c.deployed + timedelta(minutes=rng.randint(24 * 60, 3 * 24 * 60))
            if in_dst_gap(c.created):
                c.created += timedelta(hours=2)
            c.approved = c.created + timedelta(minutes=rng.randint(30, 180))
            c.resolved = c.approved + timedelta(minutes=rng.randint(10, 120))
            self.plant("changes", "ticket_before_deployment", c.key,
                       f"Ticket created {jira_dt(c.created)}, after deployment {jira_dt(c.deployed)}")
            self.plant("changes", "approved_before_deployment", c.key,
                       f"Ticket and approval ({jira_dt(c.approved)}) raised after the deployment")
        for c in drafts:
            late = max(x for x in (c.resolved, c.approved, c.created) if x is not None)
            c.updated = max(c.updated, late + timedelta(minutes=rng.randint(1, 240)))
            c.updated = min(c.updated, datetime(2026, 7, 9, 17, 55))
            assert c.updated >= late
        # deployment log rows
        rows: list[tuple[datetime, str, str, str, str]] = []
        for c in drafts:
            if c in no_deploy:
                continue
            at = to_utc(c.deployed) + timedelta(seconds=c.deploy_seconds)
            rows.append((at, c.key, c.deployer, c.system, "production"))
        self.no_deploy_change = no_deploy[0]
        self.plant("changes", "no_deployment_record", no_deploy[0].key,
                   "Change says deployed but no row in the deployment log")
        hotfixers = [p for p in self.engineers if p.title in CLOUD_TITLES and p.term is None]
        for d in (date(2025, 10, 18), date(2026, 3, 21)):   # Saturdays
            who = rng.choice(hotfixers)
            at = to_utc(_rand_local(rng, d, 10, 16)) + timedelta(seconds=rng.randint(0, 59))
            rows.append((at, "", who.handle, rng.choice(SYSTEMS), "production"))
        rows.sort(key=lambda r: (r[0], r[1]))
        deploy_rows = []
        for n, (at, key, who, system, env) in enumerate(rows):
            dep_id = f"dep-{200001 + n}"
            if key == "":
                self.plant("deployments", "no_change_ticket", dep_id,
                           f"Production deploy of {system} by {who} at {iso_z(at)} with no change key")
            deploy_rows.append([dep_id, key, iso_z(at), who, system, env])
            if key in {c.key for c in no_appr}:   # the deployment of the change never approved (CM-04)
                self.plant("deployments", "change_not_approved", dep_id,
                           f"Production deploy of {key}, whose ticket records no approval (Approved and Approver "
                           f"blank)")
        self.check_changes(drafts)
        return drafts, deploy_rows

    def _draft_change(self, rng: Random, d: date, ctype: str, approvers: list[Person],
                      product: list[Person], boundary: bool) -> Change:
        while True:
            if boundary:
                deployed = datetime.combine(d, time(22, 47))
            elif ctype == "Emergency":
                deployed = _rand_local(rng, d, 6, 22)
            else:
                deployed = _rand_local(rng, d, 9, 20)
            if ctype == "Standard":
                created = deployed - timedelta(minutes=rng.randint(120, 3 * 24 * 60))
                approved = created + timedelta(minutes=rng.randint(5, 60))
            elif ctype == "Normal":
                created = deployed - timedelta(minutes=rng.randint(24 * 60, 12 * 24 * 60))
                approved = created + timedelta(minutes=rng.randint(60, int((deployed - created).total_seconds() // 60) - 30))
            else:
                created = deployed - timedelta(minutes=rng.randint(25, 240))
                approved = created + timedelta(minutes=rng.randint(5, int((deployed - created).total_seconds() // 60) - 10))
            resolved = deployed + timedelta(minutes=rng.randint(10, 360))
            if any(in_dst_gap(x) for x in (created, approved, deployed, resolved)):
                continue
            if approved > deployed - timedelta(minutes=10):
                continue
            authors = [p for p in self.engineers if p.employed_on(created.date()) and p.employed_on(deployed.date())
                       and p.title not in ("Chief Technology Officer",)]
            author = rng.choice(authors)
            appr = [a for a in approvers if a is not author and a.employed_on(approved.date())]
            approver = rng.choice(appr)
            break
        reporter = author if rng.random() < 0.7 else rng.choice([p for p in product if p.employed_on(created.date())] or [author])
        system = rng.choice(SYSTEMS)
        summary = f"{rng.choice(SUMMARY_VERBS)} {rng.choice(SUMMARY_OBJECTS)} ({system})"
        if ctype == "Emergency":
            summary = "EMERGENCY: " + summary
        labels = rng.sample(["release", "backend", "frontend", "security", "infra", "customer-request",
                             "tech-debt", "hotfix"], rng.randint(0, 3))
        if ctype == "Emergency" and "hotfix" not in labels:
            labels = labels + ["hotfix"]
        comps = rng.sample(["Platform", "Billing", "Identity", "Web", "Data"], rng.randint(1, 2))
        pr = rng.randint(1200, 9800)
        description = (f"h3. Change\n{summary}.\n\nh3. Rollback\nRevert PR #{pr} and redeploy the previous "
                       f"image tag.\n\nRisk: {'low' if ctype == 'Standard' else 'medium'}")
        if rng.random() < 0.15:
            description += '\nNote: customer said "it only fails on Mondays", see thread.'
        evidence = f"https://ci.{DOMAIN}/acme/{system}/actions/runs/{rng.randint(10**9, 10**10 - 1)}"
        priority = rng.choices(("Low", "Medium", "High", "Highest"), weights=(20, 55, 20, 5))[0]
        if ctype == "Emergency":
            priority = "Highest"
        status = "Done" if rng.random() < 0.85 else "Closed"
        deployer = "svc-deploy" if rng.random() < 0.9 else self.by_name["Priya Shah"].handle
        return Change(key="", issue_id=0, ctype=ctype, system=system, summary=summary, author=author,
                      reporter=reporter, approver=approver, created=created, approved=approved,
                      deployed=deployed, resolved=resolved, updated=resolved, priority=priority,
                      status=status, labels=labels, components=comps, description=description,
                      test_evidence=evidence, deploy_seconds=rng.randint(0, 59), deployer=deployer)

    def check_changes(self, changes: list[Change]) -> None:
        """Self-check: only planted changes break the CM-01 rules."""
        planted = {rid for (pop, _c), items in self.planted.items() if pop == "changes" for rid, _ in items}
        for c in changes:
            ok = (c.approver is not None and c.approved is not None
                  and (c.approved <= c.deployed or c.key in self.retro_within_window)
                  and c.created < c.deployed and c.approver is not c.author)
            assert ok or c.key in planted, c.key
        assert len({c.key for c in changes}) == len(changes)

    # ---------------------------------------------------------------- incidents
    def _incidents(self) -> list[list[str]]:
        rng = Random("acme-incidents")
        export = datetime(2026, 7, 1, 8, 30, 0)
        groups = (("Service Desk", "IT"), ("Application Support", "Customer Success"), ("SRE", "Engineering"),
                  ("Security Operations", "Security"))
        cats = ("Software", "Network", "Database", "Inquiry / Help", "Hardware", "Security")
        texts = ("Customer cannot log in via SSO", "API latency above threshold", "Invoice PDF not generated",
                 "Password reset email not received", "Dashboard shows stale data", "VPN disconnects",
                 "Webhook deliveries failing", "Laptop will not boot", "Search returns no results",
                 "Suspicious login alert", "Disk usage above 85% on worker node", "Export to CSV times out",
                 "Mobile app crashes on launch", "Phishing email reported", "Certificate expiry warning")
        period_days = days(PERIOD_START, PERIOD_END)
        opened: list[datetime] = []
        for _ in range(4020):
            while True:
                dt = datetime.combine(rng.choice(period_days), time(rng.randint(0, 23), rng.randint(0, 59),
                                                                    rng.randint(0, 59)))
                if not in_dst_gap(dt):
                    break
            opened.append(dt)
        opened.sort()
        prios = ("1 - Critical", "2 - High", "3 - Moderate", "4 - Low")
        rows = []
        prio_of = [rng.choices(prios, weights=(1, 7, 45, 47))[0] for _ in opened]
        late_ids: set[int] = set()
        for pr in prios:   # two incidents per priority resolved outside the SLA
            cand = [i for i, o in enumerate(opened) if prio_of[i] == pr and o < export - timedelta(days=30)
                    and i % 611 != 100 and i != 1717]
            late_ids.update(rng.sample(cand, 2))
        open_slots = set(range(4020 - 40, 4020, 3))    # a few still open at export
        for i, o in enumerate(opened):
            number = f"INC{10001 + i:07d}"
            prio = prio_of[i]
            gname, dept = rng.choice(groups)
            staff = [p for p in self.people if p.dept == dept and p.employed_on(o.date())]
            assignee = rng.choice(staff)
            caller = rng.choice([p for p in self.people if p.employed_on(o.date())])
            desc = rng.choice(texts)
            if i == 1717:
                desc = "Login failures \u2013 EU region"   # en dash: byte 0x96 in cp1252
            late = i in late_ids
            if i in open_slots and prio in ("3 - Moderate", "4 - Low") and o.date() >= date(2026, 6, 29):
                state = rng.choice(("New", "In Progress", "On Hold"))
                rows.append([number, sn_dt(o), desc, caller.name, prio, state, rng.choice(cats), gname,
                             assignee.name if state != "New" else "", "", "", "", sn_dt(o + timedelta(minutes=37))])
                continue
            if i % 611 == 100 and not late:
                closed = o + timedelta(minutes=rng.randint(20, 300))
                rows.append([number, sn_dt(o), desc, caller.name, prio, "Canceled", rng.choice(cats), gname,
                             assignee.name, "", sn_dt(closed), "Canceled", sn_dt(closed)])
                continue
            while True:
                if late:
                    minutes = {"1 - Critical": rng.randint(6 * 60, 20 * 60), "2 - High": rng.randint(12 * 60, 40 * 60),
                               "3 - Moderate": rng.randint(9 * 1440, 15 * 1440),
                               "4 - Low": rng.randint(12 * 1440, 20 * 1440)}[prio]
                else:
                    minutes = {"1 - Critical": rng.randint(15, 180), "2 - High": rng.randint(30, 390),
                               "3 - Moderate": rng.randint(60, 47 * 60), "4 - Low": rng.randint(120, 9 * 1440)}[prio]
                resolved = o + timedelta(minutes=minutes, seconds=rng.randint(0, 59))
                if not in_dst_gap(resolved) and resolved < export:
                    break
            closed = resolved + timedelta(days=3)
            state = "Closed" if closed <= export else "Resolved"
            if late:
                self.plant("incidents", "resolved_outside_sla", number,
                           f"{prio}: opened {sn_dt(o)}, resolved {sn_dt(resolved)}")
            rows.append([number, sn_dt(o), desc, caller.name, prio, state, rng.choice(cats), gname, assignee.name,
                         sn_dt(resolved), sn_dt(closed) if state == "Closed" else "",
                         "Solved (Permanently)" if rng.random() < 0.8 else "Solved (Work Around)",
                         sn_dt(closed if state == "Closed" else resolved + timedelta(minutes=5))])
        return rows

    # ---------------------------------------------------------------- HR roster
    def hr_rows(self) -> list[list[str]]:
        rows = []
        for p in self.people:
            rows.append([p.emp_id, p.name, p.email, p.dept, p.title, p.manager, p.hire.isoformat(),
                         p.term.isoformat() if p.term else "N/A-StillEmployed",
                         "Terminated" if p.term else "Active"])
        return rows

    # ---------------------------------------------------------------- Okta
    def okta_rows(self) -> list[list[str]]:
        rng = Random("acme-okta")
        export = datetime(2026, 7, 2, 14, 5, tzinfo=UTC)
        rollout = datetime(2019, 6, 3, 15, 12, tzinfo=UTC)
        stay = [p for p in self.people if p.term is None and p.hire < date(2025, 1, 1)
                and p.name not in {n for n, *_ in KEY_PEOPLE}]
        odd = rng.sample(stay, 3)
        odd_status = {odd[0].emp_id: "LOCKED_OUT", odd[1].emp_id: "PASSWORD_EXPIRED", odd[2].emp_id: "SUSPENDED"}
        records = []
        for p in self.people:
            created = to_utc(datetime.combine(p.hire - timedelta(days=rng.randint(3, 10)),
                                              time(rng.randint(10, 16), rng.randint(0, 59), rng.randint(0, 59))))
            activated = to_utc(datetime.combine(p.hire, time(8, rng.randint(0, 59), rng.randint(0, 59))))
            if created < rollout:
                created = rollout + timedelta(minutes=rng.randint(0, 600))
                activated = created + timedelta(minutes=rng.randint(5, 300))
            status, changed = "ACTIVE", activated
            if p.term is not None and "okta_active" not in p.flags:
                status = "DEPROVISIONED"
                if "okta_late" in p.flags:
                    d = add_business_days(p.term, rng.randint(8, 12))
                    changed = to_utc(datetime.combine(d, time(10, rng.randint(0, 59), rng.randint(0, 59))))
                    self.plant("okta_users", "disabled_late", p.okta_id,
                               f"{p.email}: terminated {p.term}, deactivated {iso_z(changed)} "
                               f"({np_busdays(p.term, d)} business days)", on=p.term)
                elif rng.random() < 0.7:
                    changed = to_utc(datetime.combine(p.term, time(rng.randint(17, 18), rng.randint(0, 59),
                                                                   rng.randint(0, 59))))
                else:
                    d = add_business_days(p.term, 1)
                    changed = to_utc(datetime.combine(d, time(rng.randint(9, 11), rng.randint(0, 59),
                                                              rng.randint(0, 59))))
            elif p.term is not None:
                self.plant("okta_users", "terminated_still_active", p.okta_id,
                           f"{p.email}: terminated {p.term} (HR) but Okta status ACTIVE")
            elif p.emp_id in odd_status:
                status = odd_status[p.emp_id]
                changed = export - timedelta(days=rng.randint(1, 20), minutes=rng.randint(0, 600))
            end = changed if status == "DEPROVISIONED" else export
            if p.term is not None:
                end = min(end, to_utc(datetime.combine(p.term, time(16, 0))))
            last_login = end - timedelta(minutes=rng.randint(30, 3 * 24 * 60))
            if last_login < activated:
                last_login = activated + timedelta(minutes=30)
            pwd = None
            if rng.random() < 0.95:
                pwd = max(activated, last_login - timedelta(days=rng.randint(1, 170)))
            updated = max(x for x in (changed, pwd or changed) if x) + timedelta(minutes=rng.randint(0, 90))
            if updated > export:
                updated = export - timedelta(minutes=1)
            records.append((created, [p.okta_id, status, iso_z(created, True), iso_z(activated, True),
                                      iso_z(changed, True), iso_z(last_login, True), iso_z(updated, True),
                                      iso_z(pwd, True), p.email, p.email, p.first, p.last]))
        # a contractor with an Okta account and no HR record
        c_created = datetime(2025, 9, 15, 14, 2, 11, tzinfo=UTC)
        c_id = _okta_id(rng)
        records.append((c_created, [c_id, "ACTIVE", iso_z(c_created, True),
                                    iso_z(c_created + timedelta(hours=2), True),
                                    iso_z(c_created + timedelta(hours=2), True),
                                    iso_z(export - timedelta(hours=20), True),
                                    iso_z(c_created + timedelta(hours=2), True), "",
                                    f"jordan.blake.ext@{DOMAIN}", f"jordan.blake.ext@{DOMAIN}", "Jordan", "Blake"]))
        self.plant("okta_users", "not_in_hr_roster", c_id,
                   f"jordan.blake.ext@{DOMAIN}: active contractor account with no HR record")
        records.sort(key=lambda r: (r[0], r[1][0]))
        return [r for _, r in records]

    # ---------------------------------------------------------------- AWS IAM credential report
    def iam_lines(self) -> list[list[str]]:
        rng = Random("acme-aws-iam")
        report = datetime(2026, 7, 2, 13, 40, 12, tzinfo=UTC)
        regions = ("us-east-1", "us-west-2")
        services = ("s3", "ec2", "rds", "cloudwatch", "sts", "iam")
        rows = [["<root_account>", "arn:aws:iam::482913576210:root", "2019-06-01T16:02:11Z", "true",
                 "2026-02-11T17:40:02Z", "not_supported", "not_supported", "true", "false", "N/A", "N/A", "N/A",
                 "N/A", "false", "N/A", "N/A", "N/A", "N/A", "false", "N/A", "false", "N/A"]]
        self.plant("aws_iam_users", "root_account_used", "<root_account>",
                   "root password used 2026-02-11T17:40:02Z, during the period",
                   on=date(2026, 2, 11))
        users = []
        for p in self.people:
            cloud = p.title in CLOUD_TITLES or p.name in ("Ivan Petrov", "Tomas Brandt", "Nadia Karimi")
            if not cloud:
                continue
            if p.term is not None and not p.flags & {"aws_active", "aws_disabled_kept"}:
                continue          # IAM user deleted at termination
            users.append(p)
        body = []
        for p in users:
            created = to_utc(datetime.combine(max(p.hire, date(2019, 6, 10)) + timedelta(days=1),
                                              time(rng.randint(9, 17), rng.randint(0, 59), rng.randint(0, 59))))
            end = report if p.term is None else to_utc(datetime.combine(p.term, time(12, 0)))
            used = end - timedelta(minutes=rng.randint(60, 6 * 24 * 60))
            pwd_changed = max(created, used - timedelta(days=rng.randint(5, 200)))
            key = rng.random() < 0.35 or "aws_active" in p.flags
            if "aws_disabled_kept" in p.flags:
                row = [p.handle, f"arn:aws:iam::482913576210:user/{p.handle}", iso_z(created), "false",
                       iso_z(used), "N/A", "N/A", "false",
                       "false", iso_z(pwd_changed), iso_z(used), rng.choice(regions), rng.choice(services),
                       "false", "N/A", "N/A", "N/A", "N/A", "false", "N/A", "false", "N/A"]
            else:
                row = [p.handle, f"arn:aws:iam::482913576210:user/{p.handle}", iso_z(created), "true",
                       iso_z(used), iso_z(pwd_changed), "N/A", "true"]
                if key:
                    rotated = max(created, used - timedelta(days=rng.randint(10, 80)))
                    row += ["true", iso_z(rotated), iso_z(used - timedelta(minutes=rng.randint(0, 600))),
                            rng.choice(regions), rng.choice(services)]
                else:
                    row += ["false", "N/A", "N/A", "N/A", "N/A"]
                row += ["false", "N/A", "N/A", "N/A", "N/A", "false", "N/A", "false", "N/A"]
            if "aws_active" in p.flags:
                self.plant("aws_iam_users", "terminated_still_active", p.handle,
                           f"terminated {p.term} (HR); password_enabled true, access_key_1_active true")
                rotated_on = to_local(datetime.fromisoformat(row[9].replace("Z", "+00:00"))).date()
                self.plant("aws_iam_users", "key_not_rotated", p.handle,
                           f"access key 1 active, last rotated {row[9]} ({rotated_on} in New York): "
                           f"{(PERIOD_END - rotated_on).days} days before {PERIOD_END} (period end, as-of date)")
            body.append(row)
        for name, created in (("ci-deployer", date(2020, 2, 3)), ("svc-backup", date(2019, 8, 12)),
                              ("svc-terraform", date(2021, 4, 20))):
            c = to_utc(datetime.combine(created, time(11, 7, 40)))
            used = report - timedelta(minutes=rng.randint(5, 600))
            body.append([name, f"arn:aws:iam::482913576210:user/{name}", iso_z(c), "false", "N/A", "N/A", "N/A",
                         "false", "true", iso_z(report - timedelta(days=rng.randint(20, 80))), iso_z(used),
                         "us-east-1", rng.choice(services), "false", "N/A", "N/A", "N/A", "N/A",
                         "false", "N/A", "false", "N/A"])
        body.sort(key=lambda r: r[0])
        return rows + body

    # ---------------------------------------------------------------- access requests
    def access_request_rows(self) -> list[list[str]]:
        rng = Random("acme-access-requests")
        catalog = {
            "AWS Production": ("Ivan Petrov", ("ReadOnly", "Developer", "Administrator")),
            "GitHub Organization": ("Tomas Brandt", ("Member", "Maintainer", "Owner")),
            "PostgreSQL Production": ("Ivan Petrov", ("read_only", "app_support", "dba")),
            "Salesforce": ("Carla Jensen", ("Sales User", "Sales Manager", "System Administrator")),
            "Okta Admin Console": ("Owen Fitzgerald", ("Help Desk Admin", "Super Admin")),
            "Zendesk": ("Bianca Russo", ("Agent", "Admin")),
        }
        by_dept = {"Engineering": "GitHub Organization", "Sales": "Salesforce", "Customer Success": "Zendesk",
                   "IT": "Okta Admin Console"}
        it_staff = [p for p in self.people if p.dept == "IT"]
        drafts = []
        for p in self.people:   # new hires in the period
            if PERIOD_START <= p.hire <= PERIOD_END and p.dept in by_dept:
                systems = [by_dept[p.dept]]
                if p.title in CLOUD_TITLES:
                    systems.append("AWS Production")
                for s in systems:
                    opened = _rand_local(rng, p.hire - timedelta(days=rng.randint(1, 6)), 9, 17)
                    opened += timedelta(seconds=rng.randint(0, 59))
                    drafts.append((opened, p, self.by_name[p.manager], s, catalog[s][1][0]))
        stayers = [p for p in self.people if p.dept in by_dept or p.title in CLOUD_TITLES]
        for _ in range(190):    # role changes / additional access
            while True:
                p = rng.choice(stayers)
                d = weekday_on_or_after(rand_date(rng, PERIOD_START, date(2026, 6, 24)))
                if p.employed_on(d) and p.employed_on(d + timedelta(days=5)):
                    break
            s = "AWS Production" if p.title in CLOUD_TITLES and rng.random() < 0.5 else by_dept.get(p.dept, "AWS Production")
            if p.title in CLOUD_TITLES and rng.random() < 0.3:
                s = "PostgreSQL Production"
            opened = _rand_local(rng, d, 8, 18) + timedelta(seconds=rng.randint(0, 59))
            drafts.append((opened, p, p, s, rng.choice(catalog[s][1][1:])))
        drafts.sort(key=lambda r: (r[0], r[1].emp_id))
        n = len(drafts)
        idx = rng.sample(range(20, n - 20), 4)
        plan = {idx[0]: "granted_before_approval", idx[1]: "granted_before_approval", idx[2]: "self_approved",
                idx[3]: "no_approval"}
        rows = []
        for i, (opened, who, opener, system, role) in enumerate(drafts):
            number = f"RITM{10001 + i:07d}"
            owner = self.by_name[catalog[system][0]]
            approver = owner if owner is not who else self.by_name[owner.manager]
            approval_set = opened + timedelta(minutes=rng.randint(10, 2 * 24 * 60), seconds=rng.randint(0, 59))
            closed = approval_set + timedelta(minutes=rng.randint(30, 3 * 24 * 60), seconds=rng.randint(0, 59))
            approval = "Approved"
            kind = plan.get(i)
            if kind == "granted_before_approval":
                closed = opened + timedelta(minutes=rng.randint(20, 120))
                approval_set = closed + timedelta(minutes=rng.randint(6 * 60, 3 * 24 * 60))
                self.plant("access_requests", kind, number,
                           f"{system} {role} for {who.name}: fulfilled {sn_dt(closed)}, approved {sn_dt(approval_set)}")
            elif kind == "self_approved":
                approver = who
                self.plant("access_requests", kind, number, f"{system} {role}: approver = requested_for = {who.name}")
            elif kind == "no_approval":
                approver = None
                approval = "Not Yet Requested"
                self.plant("access_requests", kind, number, f"{system} {role} for {who.name}: fulfilled with no approval")
            if any(in_dst_gap(x) for x in (opened, approval_set, closed)):
                approval_set += timedelta(hours=3)
                closed += timedelta(hours=3)
            fulfiller = rng.choice([p for p in it_staff if p.employed_on(closed.date())])
            rows.append([number, f"REQ{10001 + i:07d}", f"{system} access", f"{role} access to {system}",
                         who.name, opener.name, sn_dt(opened), approval, approver.name if approver else "",
                         sn_dt(approval_set) if approver else "", system, role, "Closed Complete", sn_dt(closed),
                         fulfiller.name])
        return rows

    # ---------------------------------------------------------------- user access reviews
    def uar_sheets(self) -> tuple[list[list[object]], list[list[object]]]:
        rng = Random("acme-uar")
        systems = (
            ("AWS", "AWS Production (IAM)", "Ivan Petrov", "Marcus Lindqvist",
             lambda p: p.title in CLOUD_TITLES or p.name in ("Ivan Petrov", "Tomas Brandt", "Nadia Karimi"),
             "IAM credential report"),
            ("GITHUB", "GitHub Organization", "Tomas Brandt", "Marcus Lindqvist",
             lambda p: p.dept == "Engineering", "GitHub org members export"),
            ("PGPROD", "PostgreSQL Production", "Ivan Petrov", "Marcus Lindqvist",
             lambda p: p.title in CLOUD_TITLES or p.name == "Ivan Petrov", "pg_roles query"),
            ("OKTAADM", "Okta Admin Console", "Owen Fitzgerald", "Nadia Karimi",
             lambda p: p.dept == "IT" or p.name == "Nadia Karimi", "Okta admin roles report"),
        )
        reviews, items = [], []
        ticket = 20411
        # reviews are due 30 days after the quarter they cover: the 2025-Q2 to 2026-Q1 reviews are due in the
        # period (2025-07-30 to 2026-04-30); the 2026-Q2 reviews, due 2026-07-30, come after it
        for q, _qs, qe in (("2025-Q2", date(2025, 4, 1), date(2025, 6, 30)),) + QUARTERS:
            for code, system, reviewer, escalate, in_scope, source in systems:
                rid = f"UAR-{q.replace('-', '')}-{code}"
                scope = sorted((p for p in self.people if p.employed_on(qe) and in_scope(p)), key=lambda p: p.handle)
                started = qe + timedelta(days=rng.randint(3, 6))
                due = qe + timedelta(days=30)
                completed = started + timedelta(days=rng.randint(5, 18))
                if rid == "UAR-2025Q4-GITHUB":
                    completed = due + timedelta(days=21)
                    self.plant("access_reviews", "late_review", rid,
                               f"completed {completed}, due {due} (30 days after quarter end)")
                others = [p for p in scope if p.name != reviewer]
                removed = rng.sample(others, rng.randint(0, 2)) if others else []
                if code == "AWS":
                    removed = []   # the IAM report of 2026-07-02 (the later listing) still holds every AWS user
                own = ""
                for p in scope:
                    decided_by = reviewer if p.name != reviewer else escalate
                    if p.name == reviewer and rid == "UAR-2026Q1-PGPROD":
                        decided_by = reviewer
                        self.plant("access_reviews", "self_review", rid,
                                   f"{reviewer} approved their own access (item row for {p.name})")
                    level = {"AWS": "PowerUser" if p.title in CLOUD_TITLES else "Administrator",
                             "GITHUB": "Owner" if p.name == reviewer else "Member",
                             "PGPROD": "dba" if p.name == reviewer else "app_support",
                             "OKTAADM": "Super Admin" if p.name in (reviewer, "Nadia Karimi") else "Help Desk Admin"}[code]
                    day = started + timedelta(days=rng.randint(0, (completed - started).days))
                    items.append([rid, p.name, p.email, level, "Remove" if p in removed else "Keep", decided_by, day])
                    if p.name == reviewer:
                        own = decided_by
                rem_ticket = ""
                if removed:
                    rem_ticket = f"RITM{ticket:07d}"
                    ticket += rng.randint(3, 40)
                reviews.append([rid, system, q, reviewer, reviewer, "Completed", started, due, completed,
                                len(scope), len(removed), rem_ticket, source, own or "No account"])
        return reviews, items

    # ---------------------------------------------------------------- backups
    def backup_rows(self) -> list[list[str]]:
        rng = Random("acme-backups")
        resources = (("prod-postgres-main", "RDS", "daily-35d"), ("prod-postgres-billing", "RDS", "daily-35d"),
                     ("s3-customer-documents", "S3", "daily-90d"))
        drafts = []
        for d in days(PERIOD_START, PERIOD_END):
            for name, rtype, plan in resources:
                sched = datetime.combine(d, time(5, 0), tzinfo=UTC)
                drafts.append([sched, name, rtype, plan])
        fail_idx = sorted(rng.sample(range(len(drafts)), 10))
        no_follow = set(rng.sample(fail_idx, 3))
        rows = []
        for i, (sched, name, rtype, plan) in enumerate(drafts):
            start = sched + timedelta(seconds=rng.randint(20, 900))
            retention = "35" if plan == "daily-35d" else "90"
            size = {"prod-postgres-main": 412, "prod-postgres-billing": 96, "s3-customer-documents": 1830}[name]
            job = str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper()
            if i in fail_idx:
                end = start + timedelta(minutes=rng.randint(2, 25), seconds=rng.randint(0, 59))
                ticket = "" if i in no_follow else f"OPS-{rng.randint(2100, 4800)}"
                reason = FAILURE_MESSAGES[fail_idx.index(i) % len(FAILURE_MESSAGES)]
                rows.append((sched, [job, name, rtype, plan, iso_z(sched), iso_z(start), iso_z(end), "Failed",
                                     reason, retention, "us-west-2", "", ticket]))
                if ticket == "":
                    self.plant("backups", "failed_no_followup", job,
                               f"{name} backup of {sched.date()} failed; no follow-up ticket, no re-run")
                else:
                    rerun = end + timedelta(hours=rng.randint(1, 4), minutes=rng.randint(0, 59))
                    rjob = str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper()
                    rend = rerun + timedelta(minutes=rng.randint(20, 70), seconds=rng.randint(0, 59))
                    rows.append((rerun, [rjob, name, rtype, "on-demand", iso_z(rerun), iso_z(rerun), iso_z(rend),
                                         "Success", f"Re-run after failure ({ticket})", retention, "us-west-2",
                                         str(int(size * (1 + rng.random() * 0.1) * 2**30)), ticket]))
                continue
            end = start + timedelta(minutes=rng.randint(20, 70), seconds=rng.randint(0, 59))
            growth = 1 + (sched.date() - PERIOD_START).days / 900
            rows.append((sched, [job, name, rtype, plan, iso_z(sched), iso_z(start), iso_z(end), "Success", "",
                                 retention, "us-west-2", str(int(size * growth * (0.97 + rng.random() * 0.06) * 2**30)),
                                 ""]))
        rows.sort(key=lambda r: (r[0], r[1][1]))
        return [r for _, r in rows]

    # ---------------------------------------------------------------- vendors
    def vendor_rows(self) -> list[list[object]]:
        D = date
        rows = [
            # vendor, service, tier, customer data, report, start, end, bridge, last review, reviewer, DPA, notes
            ["Amazon Web Services", "Cloud infrastructure hosting (subservice organization)", "Critical", "Y",
             "SOC 2 Type 2", D(2025, 4, 1), D(2026, 3, 31), "Y", D(2026, 5, 12), "Nadia Karimi", "Y", "Carve-out"],
            ["Okta", "Workforce identity provider", "High", "N", "SOC 2 Type 2", D(2025, 1, 1), D(2025, 12, 31),
             "Y", D(2026, 3, 3), "Nadia Karimi", "Y", ""],
            ["GitHub", "Source code hosting and CI", "High", "Y", "SOC 2 Type 2", D(2025, 4, 1), D(2026, 3, 31),
             "Y", D(2026, 4, 21), "Nadia Karimi", "Y", ""],
            ["Atlassian", "Jira change and issue tracking", "High", "N", "SOC 2 Type 2", D(2025, 4, 1),
             D(2026, 3, 31), "Y", D(2026, 4, 21), "Nadia Karimi", "Y", ""],
            ["Datadog", "Monitoring and log management", "High", "Y", "SOC 2 Type 2", D(2025, 1, 1),
             D(2025, 12, 31), "Y", D(2025, 2, 14), "Nadia Karimi", "Y", "Annual review not yet scheduled"],
            ["Stripe", "Payment processing", "Critical", "Y", "SOC 2 Type 2", D(2025, 1, 1), D(2025, 12, 31), "Y",
             D(2026, 2, 9), "Rafael Moreno", "Y", ""],
            ["Snowflake", "Analytics data warehouse", "High", "Y", "SOC 2 Type 2", D(2024, 10, 1), D(2025, 9, 30),
             "N", D(2025, 11, 18), "Nadia Karimi", "Y", "Newer report requested"],
            ["Google Workspace", "Email and documents", "High", "Y", "SOC 2 Type 2", D(2025, 5, 1),
             D(2026, 4, 30), "Y", D(2026, 5, 28), "Owen Fitzgerald", "Y", ""],
            ["Zendesk", "Customer support ticketing", "High", "Y", "SOC 2 Type 2", D(2025, 7, 1), D(2026, 6, 30),
             "N/A", D(2026, 1, 19), "Bianca Russo", "Y", ""],
            ["ServiceNow", "IT service management", "High", "N", "SOC 2 Type 2", D(2025, 4, 1), D(2026, 3, 31),
             "Y", D(2026, 4, 7), "Owen Fitzgerald", "Y", ""],
            ["PagerDuty", "On-call alerting", "Medium", "N", "SOC 2 Type 2", D(2025, 1, 1), D(2025, 12, 31), "N",
             D(2025, 10, 2), "Ivan Petrov", "N", ""],
            ["SendGrid", "Transactional email", "Medium", "Y", "SOC 2 Type 2", D(2025, 1, 1), D(2025, 12, 31),
             "N", D(2025, 12, 4), "Nadia Karimi", "N", "DPA in negotiation"],
            ["Salesforce", "CRM", "Medium", "N", "SOC 2 Type 2", D(2025, 4, 1), D(2026, 3, 31), "N",
             D(2025, 9, 22), "Carla Jensen", "Y", ""],
            ["Slack", "Internal messaging", "Medium", "N", "SOC 2 Type 2", D(2025, 2, 1), D(2026, 1, 31), "N",
             D(2025, 8, 30), "Owen Fitzgerald", "Y", ""],
            ["Gusto", "Payroll", "Medium", "N", "SOC 1 Type 2", D(2025, 1, 1), D(2025, 12, 31), "N",
             D(2025, 7, 15), "Rafael Moreno", "Y", "Employee data only"],
            ["Figma", "Design tool", "Low", "N", "None", "", "", "N/A", D(2025, 8, 11), "Elliot Grant", "N", ""],
            ["DocuSign", "Contract signatures", "Low", "N", "None", "", "", "N/A", D(2025, 11, 3), "Victor Lang",
             "Y", ""],
        ]
        onboarded = (D(2019, 5, 20), D(2019, 5, 27), D(2018, 3, 12), D(2018, 3, 12), D(2020, 2, 3), D(2019, 9, 9),
                     D(2022, 4, 18), D(2018, 2, 19), D(2019, 2, 25), D(2021, 6, 7), D(2020, 2, 3), D(2021, 1, 11),
                     D(2019, 1, 7), D(2018, 2, 19), D(2019, 4, 8), D(2021, 8, 2), D(2021, 5, 17))
        out = []
        for i, (row, onb) in enumerate(zip(rows, onboarded)):
            vid = f"VND-{i + 1:03d}"
            received = row[6] + timedelta(days=40) if row[6] else ""
            contract_end = D(2027 if onb.month <= 6 else 2026, onb.month, min(onb.day, 28)) - timedelta(days=1)
            out.append([vid, row[0], row[1], row[2], "Active", onb] + row[3:8] + [received] + row[8:11]
                       + [contract_end, row[11]])
            note = {"Snowflake": ("soc_not_covering_period", "Snowflake (High): SOC 2 period ends 2025-09-30, "
                                                             "no bridge letter"),
                    "Datadog": ("review_overdue", "Datadog (High): last review 2025-02-14, more than 365 days "
                                                  "before the period end"),
                    "SendGrid": ("no_dpa", "SendGrid: processes customer data (email addresses), no DPA")}.get(row[0])
            if note:
                self.plant("vendors", note[0], vid, note[1])
        return out

    # ---------------------------------------------------------------- training
    def training_rows(self) -> list[list[str]]:
        rng = Random("acme-training")
        annual_enroll, annual_due = date(2025, 9, 2), date(2025, 10, 31)
        annual = [p for p in self.people if p.employed_on(annual_enroll)]
        must = [p for p in annual if p.term is None and p.hire < date(2025, 1, 1)
                and p.name not in {n for n, *_ in KEY_PEOPLE}]
        picks = rng.sample(must, 5)
        missing_rows = set(id(p) for p in picks[:4])
        not_enrolled = picks[4]
        late_notes: dict[tuple[str, str], str] = {}
        rows = []
        for p in annual:
            if p is not_enrolled:
                continue
            course = "Security Awareness Training 2025"
            if id(p) in missing_rows or (p.term is not None and p.term <= annual_due and rng.random() < 0.6):
                status = "Past Due" if id(p) in missing_rows else "Not Started"
                rows.append([p.email, p.first, p.last, course, annual_enroll.isoformat(),
                             annual_due.isoformat(), "", status])
                if id(p) in missing_rows:
                    late_notes[(p.email, course)] = (f"{p.email}: {course}, enrolled {annual_enroll}, "
                                                     f"due {annual_due}, never completed")
                continue
            done = rand_date(rng, annual_enroll, min(annual_due, (p.term or annual_due) - timedelta(days=1)))
            rows.append([p.email, p.first, p.last, course, annual_enroll.isoformat(),
                         annual_due.isoformat(), done.isoformat(), "Completed"])
        self.plant("training", "not_enrolled", not_enrolled.emp_id,
                   f"{not_enrolled.email}: employed all year (hired {not_enrolled.hire}) but absent from the LMS "
                   "export (id = HR Employee ID: there is no LMS record)")
        new_hires = [p for p in self.people if annual_enroll < p.hire <= PERIOD_END]
        late_hire = rng.choice([p for p in new_hires if p.term is None and p.hire <= date(2026, 4, 30)])
        for p in new_hires:
            due = p.hire + timedelta(days=30)
            course = "New Hire Security Awareness"
            if p is late_hire:
                rows.append([p.email, p.first, p.last, course, p.hire.isoformat(), due.isoformat(),
                             "", "Past Due"])
                late_notes[(p.email, course)] = f"{p.email}: {course}, hired {p.hire}, due {due}, never completed"
                continue
            if due > PERIOD_END and rng.random() < 0.5:
                rows.append([p.email, p.first, p.last, course, p.hire.isoformat(), due.isoformat(),
                             "", "In Progress"])
                continue
            if p.term is not None and p.term <= due:
                rows.append([p.email, p.first, p.last, course, p.hire.isoformat(), due.isoformat(),
                             "", "Not Started"])
                continue
            done = p.hire + timedelta(days=rng.randint(1, 25))
            rows.append([p.email, p.first, p.last, course, p.hire.isoformat(), due.isoformat(),
                         done.isoformat(), "Completed"])
        # people hired in the period before the annual campaign take the new-hire course too (within 30 days of
        # hire, as the policy requires), then the annual course; own random stream, so nothing above changes
        summer = Random("acme-training-summer-hires")
        for p in self.people:
            if not PERIOD_START <= p.hire <= annual_enroll:
                continue
            due = p.hire + timedelta(days=30)
            course = "New Hire Security Awareness"
            if p.term is not None and p.term <= due:
                rows.append([p.email, p.first, p.last, course, p.hire.isoformat(), due.isoformat(), "",
                             "Not Started"])
                continue
            done = p.hire + timedelta(days=summer.randint(1, 25))
            rows.append([p.email, p.first, p.last, course, p.hire.isoformat(), due.isoformat(), done.isoformat(),
                         "Completed"])
        rows.sort(key=lambda r: (r[4], r[0], r[3]))
        rows = [[f"ENR-{100001 + i}"] + r for i, r in enumerate(rows)]
        for r in rows:
            if (r[1], r[4]) in late_notes:
                self.plant("training", "not_completed", r[0], late_notes[(r[1], r[4])])
        return rows


# --------------------------------------------------------------------------------------------
# writers
# --------------------------------------------------------------------------------------------
JIRA_HEADER = (["Summary", "Issue key", "Issue id", "Issue Type", "Status", "Project key", "Project name",
                "Project type", "Project lead", "Project description", "Project url", "Priority", "Resolution",
                "Assignee", "Assignee Id", "Reporter", "Reporter Id", "Creator", "Creator Id", "Created",
                "Updated", "Last Viewed", "Resolved", "Due date", "Votes"]
               + ["Labels"] * 4 + ["Description", "Environment"] + ["Watchers"] * 3
               + ["Watchers Id"] * 3
               + ["Original estimate", "Remaining Estimate", "Time Spent", "Σ Original Estimate",
                  "Security Level", "Component/s", "Component/s", "Fix versions",
                  "Custom field (Change type)", "Custom field (Approver)", "Custom field (Approved)",
                  "Custom field (Deployed)", "Custom field (System)", "Custom field (Rollback plan)",
                  "Custom field (Test evidence)", "Custom field (Rank)", "Sprint", "Status Category",
                  "Status Category Changed"])


def jira_rows(changes: list[Change]) -> list[list[str]]:
    rng = Random("acme-jira-cosmetics")
    rows = []
    for c in changes:
        labels = (c.labels + ["", "", "", ""])[:4]
        watchers = [c.author]
        for w in (c.approver, c.reporter):
            if w is not None and w not in watchers:
                watchers.append(w)
        wn = ([w.name for w in watchers] + ["", "", ""])[:3]
        wi = ([w.jira_id for w in watchers] + ["", "", ""])[:3]
        comps = (c.components + ["", ""])[:2]
        rank = f"0|i{rng.getrandbits(20):05x}:"
        rows.append([c.summary, c.key, str(c.issue_id), "Change", c.status, "CHG", "Change Management",
                     "service_desk", "Priya Shah", "Production change requests", "", c.priority, "Done",
                     c.author.name, c.author.jira_id, c.reporter.name, c.reporter.jira_id, c.reporter.name,
                     c.reporter.jira_id, jira_dt(c.created), jira_dt(c.updated), "", jira_dt(c.resolved), "", "0"]
                    + labels + [c.description, "production"] + wn + wi
                    + ["", "", "", "", "", comps[0], comps[1], "",
                       c.ctype, c.approver.jira_id if c.approver else "",
                       jira_dt(c.approved) if c.approved else "", jira_dt(c.deployed), c.system,
                       "Revert the release and redeploy the previous image tag.", c.test_evidence, rank, "",
                       "Done", jira_dt(c.resolved)])
    assert all(len(r) == len(JIRA_HEADER) for r in rows)
    return rows


DEPLOY_HEADER = ["deploy_id", "jira_key", "finished_at", "actor", "app", "target_env"]
INCIDENT_HEADER = ["number", "opened_at", "short_description", "caller_id", "priority", "state", "category",
                   "assignment_group", "assigned_to", "resolved_at", "closed_at", "close_code", "sys_updated_on"]
HR_HEADER = ["Employee ID", "Worker Name", "Work Email", "Department", "Job Title", "Manager", "Hire Date",
             "Termination Date", "Worker Status"]
OKTA_HEADER = ["id", "status", "created", "activated", "statusChanged", "lastLogin", "lastUpdated",
               "passwordChanged", "profile.login", "profile.email", "profile.firstName", "profile.lastName"]
IAM_HEADER = ["user", "arn", "user_creation_time", "password_enabled", "password_last_used",
              "password_last_changed", "password_next_rotation", "mfa_active", "access_key_1_active",
              "access_key_1_last_rotated", "access_key_1_last_used_date", "access_key_1_last_used_region",
              "access_key_1_last_used_service", "access_key_2_active", "access_key_2_last_rotated",
              "access_key_2_last_used_date", "access_key_2_last_used_region", "access_key_2_last_used_service",
              "cert_1_active", "cert_1_last_rotated", "cert_2_active", "cert_2_last_rotated"]
REQUEST_HEADER = ["number", "request", "cat_item", "short_description", "requested_for", "opened_by", "opened_at",
                  "approval", "u_approver", "approval_set", "u_system", "u_role", "state", "closed_at",
                  "assigned_to"]
UAR_HEADER = ["Review ID", "System", "Quarter", "Reviewer", "System Owner", "Status", "Started", "Due Date",
              "Completed",
              "Users in Scope", "Users Removed", "Removal Ticket", "Listing Source", "Reviewer Access Decided By"]
UAR_ITEM_HEADER = ["Review ID", "User", "User Email", "Access Level", "Decision", "Decided By", "Decided On"]
BACKUP_HEADER = ["job_id", "resource_name", "resource_type", "backup_plan", "scheduled_start", "started_at",
                 "completed_at", "status", "status_message", "retention_days", "destination_region",
                 "backup_size_bytes", "followup_ticket"]
FAILURE_MESSAGES = ("Snapshot quota exceeded for the DB instance", "IAM role could not be assumed by AWS Backup",
                    "Copy to destination vault timed out", "Source resource was being modified")
VENDOR_HEADER = ["Vendor ID", "Vendor", "Service", "Risk Tier", "Status", "Onboarded", "Customer Data Access",
                 "Assurance Report", "Report Period Start", "Report Period End", "Bridge Letter", "Report Received",
                 "Last Review Date", "Reviewer", "Contract DPA", "Contract End", "Notes"]
TRAINING_HEADER = ["Enrollment ID", "User Email", "First Name", "Last Name", "Course", "Enrollment Date", "Due Date",
                   "Completion Date", "Status"]


@dataclass
class Pop:
    """One population file: its engagement.toml entry and its content."""

    pid: str
    file: str
    kind: str
    fmt: str
    system: str
    provided_by: str
    received: date
    request: str
    query: str
    count: int
    columns: tuple[tuple[str, str], ...] = ()


def _toml_str(value: str) -> str:
    out = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{out}"'


def write_toml(path: Path, header: list[str], pops: list[Pop], policy: tuple[str, ...] = ()) -> None:
    lines = list(header)
    for p in pops:
        lines += ["", f"[populations.{p.pid}]",
                  f"file = {_toml_str(p.file)}",
                  f"kind = {_toml_str(p.kind)}",
                  f"format = {_toml_str(p.fmt)}",
                  f"stated_count = {p.count}",
                  f"system = {_toml_str(p.system)}",
                  f"provided_by = {_toml_str(p.provided_by)}",
                  f"received = {p.received.isoformat()}",
                  f"request = {_toml_str(p.request)}",
                  f"query = {_toml_str(p.query)}"]
        if p.columns:
            lines += ["", f"[populations.{p.pid}.columns]"]
            lines += [f"{k} = {_toml_str(v)}" for k, v in p.columns]
    lines += policy
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))


def engagement_header(type1: bool) -> list[str]:
    if type1:
        head = ["# Demo engagement (fictional client). Generated by sample_data/generate.py - do not edit by hand.",
                "[engagement]", 'client = "Acme Cloud, Inc."', 'report_type = "type1"', "as_of = 2026-06-30"]
    else:
        head = ["# Demo engagement (fictional client). Generated by sample_data/generate.py - do not edit by hand.",
                "[engagement]", 'client = "Acme Cloud, Inc."', 'report_type = "type2"',
                "period_start = 2025-07-01", "period_end = 2026-06-30"]
    head += ['timezone = "America/New_York"', 'criteria = ["security", "availability", "confidentiality"]',
             'firm = "Example & Partners LLP"',
             f'engagement_id = "{"ACME-SOC2-T1-FY26" if type1 else "ACME-SOC2-T2-FY26"}"',
             "", "[sampling]", 'model = "binomial"', "confidence = 0.90", "tolerable_rate = 0.10",
             "expected_rate = 0.0", f'method = "{"random" if type1 else "stratified"}"',
             "", "[sampling.frequency_table]", "annual = 1", "quarterly = 2", "monthly = 2", "weekly = 5",
             "daily = 25", "many_times_a_day = 40"]
    for name, initials, role in (("Dana Reyes", "DR", "preparer"), ("Jamie Okoro", "JO", "preparer"),
                                 ("Morgan Ellis", "ME", "reviewer"), ("Sam Whitaker", "SW", "manager"),
                                 ("Alex Chen", "AC", "partner")):
        head += ["", "[[staff]]", f"name = {_toml_str(name)}", f'initials = "{initials}"', f'role = "{role}"']
    head += ["", "[[subservice_organizations]]", 'name = "Amazon Web Services"',
             'services = "Cloud infrastructure hosting (compute, storage, managed databases)"',
             'method = "carve-out"',
             "csocs = [",
             '    "Physical access to data centers is restricted to authorized personnel.",',
             '    "Environmental protections (power, cooling, fire suppression) are maintained at data centers.",',
             '    "Storage media are securely decommissioned before disposal.",',
             "]", 'criteria = ["CC6.4", "CC6.5", "A1.2"]']
    for cid, desc, crit in (
            ("CUEC-01", "User entities maintain accurate lists of their authorized users and remove access "
                        "of their personnel who no longer need it.", '["CC6.2", "CC6.3"]'),
            ("CUEC-02", "User entities protect the credentials and API keys issued to them.", '["CC6.1"]'),
            ("CUEC-03", "User entities report suspected security incidents and availability issues to Acme "
                        "Cloud support promptly.", '["CC7.3", "CC7.4"]')):
        head += ["", "[[cuecs]]", f'id = "{cid}"', f"description = {_toml_str(desc)}", f"criteria = {crit}"]
    return head


CONTROLS_HEADER = ["Control ID", "Description", "Criteria", "Owner", "Frequency", "Nature", "Procedure",
                   "Populations", "Attributes", "Record filter", "Evidence", "Manual attributes"]
#: Record filters (routing by type): standard and normal changes to CM-01 and CM-02, emergency ones to CM-03.
RECORD_FILTERS = {"CM-01": "change_type in standard, normal", "CM-02": "change_type in standard, normal",
                  "CM-03": "change_type = emergency"}
#: Policy settings of the engagement (engagement.toml [policy.<procedure>] / [controls.<id>.policy]).
POLICY: tuple[str, ...] = (
    "", "[policy.user_deprovisioning]",
    "# the AWS IAM service users, which belong to no person (the client's list, PBC-12)",
    'non_person_accounts = "ci-deployer, svc-backup, svc-terraform"',
)
#: The attributes of the controls tested by inspection (no client export), one per line: "id: what the evidence
#: shows" (docs/procedures-library.md). They are judged from evidence, so these controls read "testing in
#: progress" until results are recorded.
MANUAL_ATTRIBUTES = {
    "GOV-01": "policies_approved: The information security policies were reviewed and approved by management\n"
              "policies_published: The approved policies were published to personnel",
    "GOV-02": "committee_met: The security committee met in the quarter and minutes were kept\n"
              "metrics_and_risks_reviewed: The minutes showed review of security metrics, open risks and the "
              "status of remediation",
    "RA-01": "risk_assessment_performed: A risk assessment identifying threats, including fraud risk, was "
             "performed\n"
             "risk_treatment_approved: Risk treatment was approved by management",
    "BC-01": "dr_plan_tested: The business continuity and disaster recovery plan was tested\n"
             "dr_results_documented: The test results were documented and the issues found were tracked to "
             "resolution",
    "BK-02": "restore_tested: A restore from backup was tested and completed successfully\n"
             "restore_documented: The restore test and its outcome were documented and reviewed",
    "CAP-01": "capacity_reviewed: Capacity and availability were reviewed against the thresholds for the month\n"
              "breaches_followed_up: Threshold breaches found in the review were followed up",
    "CF-01": "retention_applied: Customer data of contracts terminated in the quarter was disposed of per the "
             "retention schedule\n"
             "disposal_evidenced: Secure disposal was evidenced by deletion tickets and certificates",
}
CONTROLS = [
    ["ENT-01", "Employees acknowledge the Code of Conduct and Acceptable Use Policy at hire and annually.",
     "CC1.1", "Grace Whitfield", "as_needed", "manual", "new_hire_onboarding", "hr_roster",
     "code_of_conduct_acknowledged", "Signed acknowledgements (HRIS)"],
    ["ENT-02", "Background checks are completed for new hires before their start date.", "CC1.4",
     "Grace Whitfield", "as_needed", "manual", "new_hire_onboarding", "hr_roster", "background_check_before_start",
     "Background check vendor reports"],
    ["ENT-03", "Personnel complete security awareness training at hire (within 30 days) and annually.",
     "CC1.4; CC2.2", "Nadia Karimi", "annual", "manual", "security_training", "training;hr_roster", "",
     "LMS completion export"],
    ["GOV-01", "Information security policies are reviewed and approved by management annually and "
               "published to personnel.", "CC2.2; CC5.3", "Nadia Karimi", "annual", "manual", "inspection", "", "",
     "Policy approval record"],
    ["GOV-02", "A security committee meets quarterly to review security metrics, open risks and the status "
               "of remediation.", "CC1.2; CC4.1; CC4.2", "Nadia Karimi", "quarterly", "manual", "inspection", "", "",
     "Committee minutes"],
    ["RA-01", "An annual risk assessment identifies threats, including fraud risk, and risk treatment is "
              "approved by management.", "CC3.1; CC3.2; CC3.3; CC3.4", "Nadia Karimi", "annual", "manual", "inspection",
     "", "", "Risk register"],
    ["AC-01", "Access to production systems is requested through ServiceNow and approved by the system owner "
              "before it is granted.", "CC6.2; CC6.3", "Owen Fitzgerald", "as_needed", "manual",
     "user_provisioning", "access_requests", "", "ServiceNow RITM records"],
    ["AC-02", "Access of terminated personnel is removed from Okta and AWS within five business days of the "
              "termination date.", "CC6.2; CC6.3", "Owen Fitzgerald", "as_needed", "manual",
     "user_deprovisioning", "hr_roster;okta_users;aws_iam_users", "", "HR roster, Okta and IAM listings"],
    ["AC-03", "System owners review user access to in-scope systems quarterly and removals are completed.",
     "CC6.2; CC6.3", "Nadia Karimi", "quarterly", "manual", "access_review", "access_reviews", "",
     "Review workbooks and removal tickets"],
    ["AC-04", "Privileged access to AWS production is restricted to SRE and platform engineers, reviewed "
              "quarterly and requires MFA; the root account is not used and API access keys are rotated every 90 "
              "days.", "CC6.1; CC6.3", "Ivan Petrov", "quarterly", "manual", "privileged_access",
     "aws_iam_users", "", "IAM credential report"],
    ["AC-05", "Okta enforces multi-factor authentication and password complexity for all workforce users.",
     "CC6.1", "Owen Fitzgerald", "many_times_a_day", "automated", "automated_control", "", "",
     "Okta policy configuration"],
    ["AC-06", "Customer data is encrypted at rest (AES-256) and in transit (TLS 1.2+).", "CC6.1; CC6.7; C1.1",
     "Ivan Petrov", "many_times_a_day", "automated", "automated_control", "", "",
     "AWS KMS and load balancer configuration"],
    ["OPS-01", "Security events are logged centrally and alerts are routed to the on-call engineer.", "CC7.1; CC7.2",
     "Nadia Karimi", "many_times_a_day", "automated", "automated_control", "", "",
     "Datadog monitors and PagerDuty routing"],
    ["IM-01", "Incidents are logged, prioritised and resolved within the SLA for their priority; P1/P2 "
              "incidents receive a post-incident review, and affected customers are notified.", "CC7.3; CC7.4; CC7.5", "Ivan Petrov", "as_needed",
     "manual", "incident_management", "incidents", "", "ServiceNow incident records"],
    ["CM-01", "Production changes are documented in a change ticket and approved by someone other than the "
              "author before deployment.", "CC8.1", "Priya Shah", "as_needed", "manual", "change_management",
     "changes", "ticket_before_deployment;approved_before_deployment;approver_not_author",
     "Jira CHG tickets, deployment log"],
    ["CM-02", "Production changes are tested (CI pipeline run) before deployment.", "CC8.1", "Priya Shah",
     "as_needed", "manual", "change_management", "changes", "testing_evidenced", "CI run linked on the ticket"],
    ["CM-03", "Emergency changes are approved by the Release Manager or an Engineering Manager before "
              "deployment or, when that is not possible, retroactively no later than the next business day.", "CC8.1", "Priya Shah", "as_needed", "manual",
     "emergency_change", "changes", "", "Jira CHG tickets (Change type = Emergency)"],
    ["CM-04", "Every production deployment is traced to an approved change ticket, and every change ticket "
              "recorded as deployed to a production deployment.", "CC8.1", "Priya Shah",
     "as_needed", "automated", "deployment_reconciliation", "deployments;changes", "",
     "Deployment log reconciled to Jira"],
    ["VM-01", "Critical and high-risk vendors are reviewed annually, including their SOC reports and bridge "
              "letters; vendors with access to customer data sign a data processing agreement.", "CC9.2",
     "Nadia Karimi", "as_needed", "manual", "vendor_management", "vendors", "",
     "Vendor register and review notes"],
    ["BC-01", "The business continuity and disaster recovery plan is tested annually.", "CC9.1; A1.3",
     "Ivan Petrov", "annual", "manual", "inspection", "", "", "DR test report"],
    ["BK-01", "Production databases and customer documents are backed up daily to a separate region; failed "
              "jobs are followed up.", "A1.2; CC9.1", "Ivan Petrov", "daily", "automated", "backup_monitoring",
     "backups", "ran_on_schedule;failure_followed_up;copied_to_other_region", "AWS Backup job report"],
    ["BK-02", "Restores from backup are tested annually.", "A1.3", "Ivan Petrov", "annual", "manual", "inspection",
     "", "", "Restore test record"],
    ["CAP-01", "Capacity and availability are monitored against thresholds and reviewed monthly.", "A1.1",
     "Ivan Petrov", "monthly", "manual", "inspection", "", "", "Capacity review deck"],
    ["CF-01", "Confidential customer data is identified, retained per the retention schedule and disposed of "
              "securely on contract termination.", "C1.1; C1.2", "Victor Lang", "quarterly", "manual", "inspection",
     "", "", "Deletion tickets and certificates"],
]


class Writer:
    """Writes the demo's files for one engagement folder; records each population's entry."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pops: list[Pop] = []

    def csv(self, pid: str, file: str, header: list[str], rows: list[list[str]], *, kind: str, fmt: str,
            system: str, provided_by: str, received: date, request: str, query: str,
            columns: tuple[tuple[str, str], ...] = (), **csv_kw) -> None:
        write_csv(self.folder / file, header, rows, **csv_kw)
        self.pops.append(Pop(pid, file, kind, fmt, system, provided_by, received, request, query, len(rows),
                             columns))

    def xlsx(self, pid: str, file: str, sheets: list[tuple[str, list[str], list[list[object]]]], *, kind: str,
             system: str, provided_by: str, received: date, request: str, query: str,
             columns: tuple[tuple[str, str], ...] = ()) -> None:
        write_xlsx(self.folder / file, sheets)
        self.pops.append(Pop(pid, file, kind, "generic", system, provided_by, received, request, query,
                             len(sheets[0][2]), columns))


COLUMNS = {   # canonical name (workbench/formats/schemas.py) -> header in the file
    "deployments": (("deployment_id", "deploy_id"), ("change_id", "jira_key"), ("deployed_at", "finished_at"),
                    ("deployed_by", "actor"), ("service", "app"), ("environment", "target_env")),
    "hr_roster": (("employee_id", "Employee ID"), ("name", "Worker Name"), ("email", "Work Email"),
                  ("user_id", "Work Email"), ("department", "Department"), ("title", "Job Title"),
                  ("manager", "Manager"), ("status", "Worker Status"), ("hire_date", "Hire Date"),
                  ("termination_date", "Termination Date")),
    "access_requests": (("request_id", "number"), ("requested_for", "requested_for"), ("requested_by", "opened_by"),
                        ("system", "u_system"), ("role", "u_role"), ("approver", "u_approver"), ("status", "state"),
                        ("requested_at", "opened_at"), ("approved_at", "approval_set"), ("granted_at", "closed_at")),
    "access_reviews": (("review_id", "Review ID"), ("system", "System"), ("period", "Quarter"),
                       ("reviewer", "Reviewer"), ("system_owner", "System Owner"), ("started_at", "Started"),
                       ("due_date", "Due Date"), ("completed_at", "Completed"), ("users_in_scope", "Users in Scope"),
                       ("users_removed", "Users Removed"), ("removal_ticket", "Removal Ticket"),
                       ("reviewer_access_decided_by", "Reviewer Access Decided By")),
    "backups": (("job_id", "job_id"), ("system", "resource_name"), ("status", "status"),
                ("scheduled_at", "scheduled_start"), ("started_at", "started_at"), ("completed_at", "completed_at"),
                ("retention_days", "retention_days"), ("destination_region", "destination_region"),
                ("followup_ticket", "followup_ticket")),
    "vendors": (("vendor_id", "Vendor ID"), ("vendor", "Vendor"), ("service", "Service"), ("risk_tier", "Risk Tier"),
                ("customer_data_access", "Customer Data Access"), ("report_type", "Assurance Report"),
                ("report_period_start", "Report Period Start"), ("report_period_end", "Report Period End"),
                ("bridge_letter", "Bridge Letter"), ("last_review_date", "Last Review Date"),
                ("reviewer", "Reviewer"), ("dpa", "Contract DPA"), ("notes", "Notes"), ("onboarded_at", "Onboarded"),
                ("report_received_at", "Report Received"), ("contract_end_at", "Contract End")),
    "training": (("record_id", "Enrollment ID"), ("email", "User Email"), ("course", "Course"), ("status", "Status"),
                 ("assigned_at", "Enrollment Date"), ("due_date", "Due Date"), ("completed_at", "Completion Date")),
}


#: Changes of CM-02's sample whose testing evidence the demo keeps as files (docs/recording.md#evidence-files).
EVIDENCE_ITEMS = ("CHG-1130", "CHG-1124")


def write_evidence(folder: Path, changes: list[Change], pops: list[Pop]) -> None:
    """A few evidence files: the CI run of two sampled changes, and the query behind the change export."""
    by_key = {c.key: c for c in changes}
    for key in EVIDENCE_ITEMS:
        c = by_key[key]
        path = folder / "evidence" / "CM-02" / key / "ci-run.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{key}: {c.summary}\nCI run: {c.test_evidence}\nResult: all checks passed\n"
                        f"Finished: {c.deployed.date().isoformat()}, before the deployment at "
                        f"{c.deployed.strftime('%H:%M')} New York time\n", encoding="utf-8", newline="\n")
    pop = next(p for p in pops if p.pid == "changes")
    path = folder / "evidence" / "populations" / "changes" / "export-query.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"Export of {pop.file}, observed by Dana Reyes on {pop.received.isoformat()}\n"
                    f"System: {pop.system}\nQuery: {pop.query}\nRecords exported: {pop.count}\n",
                    encoding="utf-8", newline="\n")


def write_engagement(demo: "Demo", folder: Path, type1: bool) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """Write one engagement folder; return its planted exceptions (ids present in its files)."""
    w = Writer(folder)
    fy = "Jun2026" if type1 else "FY26"
    lo = date(2026, 6, 1) if type1 else date(1900, 1, 1)   # Type 1: June 2026 onwards only
    changes = [c for c in demo.changes if c.deployed.date() >= lo]
    keys = {c.key for c in changes}
    deploys = [r for r in demo.deploy_rows if (r[1] in keys) or (r[1] == "" and to_local(
        datetime.fromisoformat(r[2].replace("Z", "+00:00"))).date() >= lo)]
    incidents = [r for r in demo.incidents if r[1][:10] >= lo.isoformat()]
    requests = [r for r in demo.request_rows if r[6][:10] >= lo.isoformat()]
    backups = [r for r in demo.backups if r[4][:10] >= lo.isoformat()]
    reviews = [r for r in demo.reviews if not type1 or r[2] in ("2026-Q1", "2026-Q2")]
    rids = {r[0] for r in reviews}
    items = [r for r in demo.review_items if r[0] in rids]
    recv = date(2026, 7, 10)
    since = "on or after 2026-06-01" if type1 else "between 2025-07-01 and 2026-06-30"
    w.csv("changes", f"populations/jira_changes_{fy}.csv", JIRA_HEADER, jira_rows(changes), kind="changes",
          fmt="jira", system="Jira Software Cloud (project CHG)", provided_by="Priya Shah, Release Manager",
          received=recv, request="PBC-07",
          query=("project = CHG AND issuetype = Change AND \"Deployed[Date]\" >= 2026-06-01" if type1 else
                 "project = CHG AND issuetype = Change AND \"Deployed[Date]\" >= 2025-05-01") +
          " ORDER BY created ASC (Export > CSV (all fields))")
    w.csv("deployments", f"populations/deployments_{fy}.csv", DEPLOY_HEADER, deploys, kind="deployments",
          fmt="generic", system="GitHub Actions deployment history (production environment)",
          provided_by="Ivan Petrov, SRE Lead", received=recv, request="PBC-08",
          query="gh api repos/acme/*/deployments?environment=production, flattened to CSV by deploy-export.py",
          columns=COLUMNS["deployments"], lineterminator="\n")
    w.csv("incidents", f"populations/servicenow_incidents_{fy}.csv", INCIDENT_HEADER, incidents, kind="incidents",
          fmt="servicenow", system="ServiceNow (incident table)", provided_by="Owen Fitzgerald, IT Manager",
          received=recv, request="PBC-15",
          query=f"incident list, filter opened_at {since}, Export > CSV",
          encoding="cp1252", quoting=csv.QUOTE_ALL, lineterminator="\n")
    w.csv("okta_users", "populations/okta_users_2026-07-02.csv", OKTA_HEADER, demo.okta, kind="users", fmt="okta",
          system="Okta (workforce identity)", provided_by="Owen Fitzgerald, IT Manager", received=recv,
          request="PBC-11", query="Reports > Users > export all users, including DEPROVISIONED, 2026-07-02 14:05 UTC",
          lineterminator="\n")
    w.csv("aws_iam_users", "populations/aws_iam_credential_report_2026-07-02.csv", IAM_HEADER, demo.iam,
          kind="users", fmt="aws-iam", system="AWS IAM (account 482913576210)", provided_by="Ivan Petrov, SRE Lead",
          received=recv, request="PBC-12",
          query="aws iam generate-credential-report; aws iam get-credential-report (2026-07-02 13:40 UTC)",
          lineterminator="\n", trailing_newline=False)
    w.csv("hr_roster", "populations/hr_roster_2026-07-02.csv", HR_HEADER, demo.hr, kind="terminations",
          fmt="generic", system="BambooHR", provided_by="Grace Whitfield, Head of People", received=recv,
          request="PBC-10", query="Report 'All workers incl. terminated' (all statuses), run 2026-07-02",
          columns=COLUMNS["hr_roster"], encoding="utf-8-sig")
    w.csv("access_requests", f"populations/servicenow_access_requests_{fy}.csv", REQUEST_HEADER, requests,
          kind="access_requests", fmt="servicenow", system="ServiceNow (sc_req_item, access catalog items)",
          provided_by="Owen Fitzgerald, IT Manager", received=recv, request="PBC-13",
          query=f"sc_req_item list, cat_item.category = Access, opened_at {since}, Export > CSV",
          columns=COLUMNS["access_requests"], quoting=csv.QUOTE_ALL, lineterminator="\n")
    w.xlsx("access_reviews", f"populations/user_access_reviews_{fy}.xlsx",
           [("Reviews", UAR_HEADER, reviews), ("Review items", UAR_ITEM_HEADER, items)], kind="access_reviews",
           system="Quarterly review workbooks (Security team)", provided_by="Nadia Karimi, Head of Security",
           received=date(2026, 8, 3), request="PBC-14",
           query="Compiled from the quarterly review workbooks" + (" (2026-Q1 and 2026-Q2)" if type1 else ""),
           columns=COLUMNS["access_reviews"])
    w.csv("backups", f"populations/aws_backup_jobs_{fy}.csv", BACKUP_HEADER, backups, kind="backups",
          fmt="generic", system="AWS Backup", provided_by="Ivan Petrov, SRE Lead", received=recv, request="PBC-18",
          query=f"aws backup list-backup-jobs --by-created-after {'2026-06-01' if type1 else '2025-07-01'}, "
                "flattened to CSV",
          columns=COLUMNS["backups"], lineterminator="\n")
    w.xlsx("vendors", "populations/vendor_register_2026.xlsx", [("Vendors", VENDOR_HEADER, demo.vendors)],
           kind="vendors", system="Vendor register (Security team)", provided_by="Nadia Karimi, Head of Security",
           received=recv, request="PBC-20", query="Vendor register as of 2026-06-30",
           columns=COLUMNS["vendors"])
    w.csv("training", "populations/lms_security_training_FY26.csv", TRAINING_HEADER, demo.training,
          kind="training", fmt="generic", system="LMS (security awareness)", provided_by="Grace Whitfield, Head of People",
          received=recv, request="PBC-05", query="Course completion report, courses 'Security Awareness*', all users",
          columns=COLUMNS["training"])
    write_toml(folder / "engagement.toml", engagement_header(type1), w.pops, POLICY)
    if not type1:
        write_evidence(folder, changes, w.pops)
    rows = [row[:9] + [RECORD_FILTERS.get(row[0], "")] + row[9:] + [MANUAL_ATTRIBUTES.get(row[0], "")]
            for row in CONTROLS]
    write_xlsx(folder / "controls.xlsx", [("Controls", CONTROLS_HEADER, rows)])
    # planted exceptions whose record is in this folder's files
    present = {
        "changes": keys, "deployments": {r[0] for r in deploys}, "incidents": {r[0] for r in incidents},
        "okta_users": {r[0] for r in demo.okta}, "aws_iam_users": {r[0] for r in demo.iam},
        "access_requests": {r[0] for r in requests}, "access_reviews": rids, "backups": {r[0] for r in backups},
        "vendors": {r[0] for r in demo.vendors}, "training": {r[0] for r in demo.training} | {
            e for (p, c), items_ in demo.planted.items() if c == "not_enrolled" for e, _ in items_},
    }
    out: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for (pop, check), entries in demo.planted.items():
        kept = [e for e in entries if e[0] in present[pop]
                and not (type1 and demo.dated.get((pop, check, e[0]), TYPE1_WINDOW[0]) < TYPE1_WINDOW[0])]
        if kept:
            out[(pop, check)] = kept
    return out


# --------------------------------------------------------------------------------------------
# the tester's work: filled testing templates (testing/<control>.xlsx), imported by `workbench run`
# --------------------------------------------------------------------------------------------
#: Planted manual failures: engagement folder -> (control, sample no, attribute, comment). The templates record
#: them as a Fail, with an evaluation (isolated, operating) on the template's Exception evaluations sheet.
MANUAL_FAILURES: dict[str, tuple[tuple[str, int, str, str], ...]] = {
    "acme-type2": (
        ("CM-02", 5, "testing_evidenced",
         "No test evidence: the CI test stage was skipped for this deployment (pipeline override by the author)."),
        ("ENT-01", 3, "code_of_conduct_acknowledged",
         "No signed code of conduct acknowledgement in the HR file; HR obtained it only after our request."),
    ),
    "acme-type1": (
        ("ENT-02", 1, "background_check_before_start",
         "Background check report dated after the start date; the hire started before the check cleared."),
    ),
}
#: Who filled each control's template (the engagement's two preparers, by control).
TESTERS = ("DR", "JO")
WALKTHROUGH_DATE = {"acme-type2": date(2026, 7, 14), "acme-type1": date(2026, 7, 7)}


def _calendar_day(value: object, tz: str) -> date | None:
    """A date of an item as a calendar date in the engagement's zone (None when there is none)."""
    import pandas as pd

    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    if stamp is pd.NaT:
        return None
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert(tz)
    return stamp.date()


def demo_fill(test: object, folder_name: str, tester: str) -> object:
    """The filled cells of one control's template: every manual attribute of every item tested (a pass, or the
    planted failure), evidence references and dates, an evaluation of every exception, and the walkthrough."""
    from workbench.recording import manual_attributes
    from workbench.template import FilledResult, TemplateFill

    t = test  # a workbench.control_test.ControlTest
    engagement, control = t.engagement, t.control  # type: ignore[attr-defined]
    end = engagement.as_of or engagement.period_end
    items = t.testing.items.loc[:, ~t.testing.items.columns.duplicated()]  # type: ignore[attr-defined]
    key_column, date_column = t.testing.key_column, t.testing.date_column  # type: ignore[attr-defined]
    failures = {(c, n, a): why for c, n, a, why in MANUAL_FAILURES.get(folder_name, ())}
    results: dict[tuple[str, str], FilledResult] = {}
    failed: dict[str, str] = {}
    for row in items.to_dict("records"):
        key, number = str(row[key_column]), int(row["sample_no"])
        item_day = _calendar_day(row.get(date_column), engagement.timezone) or end
        for index, attribute in enumerate(manual_attributes(t)):  # type: ignore[arg-type]
            compared = getattr(attribute, "compared_date_column", "")
            day = _calendar_day(row.get(compared), engagement.timezone) if compared else None
            if day is not None:
                after = getattr(attribute, "compared_date_relation", "on_or_before") == "on_or_after"
                evidence_day = day + timedelta(days=1 if after else -1)
            else:
                evidence_day = min(item_day + timedelta(days=1 + index), end + timedelta(days=10))
            ref = f"PBC {control.id}-{number:02d} ({key}): {attribute.label.lower()}"
            why = failures.get((control.id, number, attribute.id))
            if why is not None:
                results[(key, attribute.id)] = FilledResult("Fail", ref, evidence_day, why)
                failed[key] = why
            else:
                results[(key, attribute.id)] = FilledResult("Pass", ref, evidence_day)
    evaluations: dict[str, dict[str, str]] = {}
    exceptions = t.evaluation.exceptions  # type: ignore[attr-defined]
    described = {str(r["item"]): str(r["description"]) for r in exceptions.to_dict("records")}
    described.update({key: why for key, why in failed.items()})
    for item, description in described.items():
        evaluations[item] = {
            "type": "operating", "extent": "isolated",
            "why": f"One occurrence ({description}); no other instance with the same cause in the period, and the "
                   f"owner ({control.owner}) confirmed it was not repeated.",
            "root_cause": "Manual step missed under time pressure; the reminder in the workflow was not followed.",
            "effect_on_criteria": f"Isolated: the control still meets {', '.join(control.criteria)} for the period.",
            "compensating_control": "",
            "management_response": "Management reminded the team of the procedure and added a workflow check.",
        }
    first = str(items[key_column].iloc[0]) if len(items) else "the control's configuration"
    walkthrough = {
        "instance": first, "inquiry_of": control.owner or "the control owner",
        "inquiry_date": WALKTHROUGH_DATE[folder_name],
        "inspected": f"the evidence of {first} ({control.description[:80].rstrip()})",
        "observed": "the control owner performing the control on the system of record",
        "design": "suitably designed",
    }
    return TemplateFill(tested_by=tester, results=results, evaluations=evaluations, walkthrough=walkthrough)


def stable_zip(path: Path) -> None:
    """Rewrite an .xlsx zip with fixed timestamps (stable bytes, as :func:`write_xlsx` does)."""
    stamp = XLSX_TIMESTAMP.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(?:modified|created)[^>]*>)[^<]*(</dcterms:(?:modified|created)>)",
                              rb"\g<1>" + stamp + rb"\g<2>", data)
            zi = zipfile.ZipInfo(info.filename, date_time=(2026, 7, 10, 9, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            dst.writestr(zi, data)
    path.write_bytes(out.getvalue())


def write_testing_templates(folder: Path) -> list[tuple[str, str, str, str]]:
    """Write ``folder/testing/<control>.xlsx``: each tested control's template, filled as the demo's testers did
    (written through workbench.template on a scratch copy, so they match the current selections exactly).
    Returns the planted manual failures as (control, item key, attribute, comment)."""
    import shutil
    import tempfile

    from workbench.engagement import load_engagement
    from workbench.library import is_testable
    from workbench.pipeline import run_control_test
    from workbench.recording import manual_attributes
    from workbench.template import write_template

    planted: list[tuple[str, str, str, str]] = []
    target = folder / "testing"
    if target.exists():
        shutil.rmtree(target)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / folder.name
        shutil.copytree(folder, scratch, ignore=shutil.ignore_patterns("output", "results.sqlite*", "testing"))
        engagement = load_engagement(scratch)
        testable = [c for c in engagement.controls if is_testable(engagement, c)]
        for number, control in enumerate(testable):
            test = run_control_test(engagement, control.id)
            if not manual_attributes(test) or not len(test.selection.keys):
                continue
            fill = demo_fill(test, folder.name, TESTERS[number % len(TESTERS)])
            path = write_template(test, target / f"{control.id}.xlsx", fill=fill)  # type: ignore[arg-type]
            stable_zip(path)
            for (key, attribute_id), result in fill.results.items():  # type: ignore[attr-defined]
                if result.outcome == "Fail":
                    planted.append((control.id, key, attribute_id, result.comment or ""))
    return planted


def planted_exceptions() -> dict[str, dict[tuple[str, str], list[tuple[str, str]]]]:
    """Planted exceptions per engagement folder: {"acme-type2": {(population id, check): [(id, note)]}}."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        return generate(Path(tmp))


def generate(out: Path = HERE) -> dict[str, dict[tuple[str, str], list[tuple[str, str]]]]:
    """Write both engagements under ``out`` (default: this folder); return their planted exceptions."""
    demo = Demo()
    planted = {"acme-type2": write_engagement(demo, Path(out) / "acme-type2", type1=False),
               "acme-type1": write_engagement(demo, Path(out) / "acme-type1", type1=True)}
    for name in planted:
        write_testing_templates(Path(out) / name)
    return planted


def manual_failures_markdown(out: Path = HERE) -> str:
    """The README table of the planted manual failures (read back from the filled templates)."""
    import openpyxl as _openpyxl

    lines = ["| engagement | control | item | attribute | comment (the Fail recorded) |", "|---|---|---|---|---|"]
    for name in ("acme-type2", "acme-type1"):
        for path in sorted((out / name / "testing").glob("*.xlsx")):
            book = _openpyxl.load_workbook(path)
            binding = {str(r[0]): str(r[1]) for r in book["Binding"].iter_rows(values_only=True)}
            columns = {v.split(":")[0]: k[len("attribute:"):] for k, v in binding.items() if k.startswith("attribute:")}
            ws = book["Testing"]
            for row in ws.iter_rows(min_row=7):
                for cell in row:
                    if cell.column_letter in columns and str(cell.value).lower() == "fail":
                        comment = ws.cell(row=cell.row, column=cell.column + 3).value
                        lines.append(f"| `{name}` | `{path.stem}` | `{ws.cell(row=cell.row, column=2).value}` | "
                                     f"`{columns[cell.column_letter]}` | {comment} |")
    return "\n".join(lines)


def planted_markdown(planted: dict[str, dict[tuple[str, str], list[tuple[str, str]]]]) -> str:
    """The README tables (printed by ``python -c 'import generate; ...'`` when the data changes)."""
    lines = []
    for eng, table in planted.items():
        lines.append(f"### {eng}")
        pops: dict[str, list[tuple[str, str, str]]] = {}
        for (pop, check), entries in table.items():
            for rid, note in entries:
                pops.setdefault(pop, []).append((rid, check, note))
        for pop, entries in pops.items():
            lines += ["", f"#### {eng} / {pop}", "", "| record id | check | what is wrong |", "|---|---|---|"]
            lines += [f"| `{rid}` | `{check}` | {note} |" for rid, check, note in sorted(entries, key=lambda e: (e[1], e[0]))]
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) > 1:
        print("usage: python sample_data/generate.py   (takes no arguments)", file=sys.stderr)
        return 2
    generate(HERE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
