"""Value rules of individual fields: dates, durations, regexes, revisions, enumerations.

Each ``check_*`` returns None when the value is fine, else a message naming the rule;
``resolve_date`` is shared with the canonical form, so a date that validates is one
that canonicalises.
"""
from __future__ import annotations

import calendar
import re
import warnings
from datetime import date, datetime, timedelta, timezone

TYPES = ("file", "path", "repo", "symbol", "commit", "diff")
BOOLS = {"yes": "yes", "y": "yes", "true": "yes", "t": "yes", "1": "yes",
         "no": "no", "n": "no", "false": "no", "f": "no", "0": "no"}
YES_NO_ONLY = {**BOOLS, "only": "only", "o": "only"}
VISIBILITIES = ("any", "public", "private")
PATTERN_TYPES = ("keyword", "standard", "literal", "regexp", "regex", "structural", "nls")
SYMBOL_KINDS = ("file module namespace package class method property field constructor enum "
                "interface function variable constant string number boolean array object key null "
                "enum-member struct event operator type-parameter").split()
SELECTS = frozenset(["repo", "file", "file.path", "file.directory", "file.owners", "content",
                     "commit", "commit.diff", "commit.diff.added", "commit.diff.removed", "symbol",
                     *(f"symbol.{kind}" for kind in SYMBOL_KINDS)])
MAX_COUNT = 2**31 - 1
COUNT_ALL = 99999999

#: fields whose value is one of a fixed set: field -> (the values, matched in any case?). The
#: validator checks these and the decoding grammar spells them out, from this one table.
CHOICE_FIELDS = {"type": (TYPES, True), "case": (BOOLS, True), "fork": (YES_NO_ONLY, True),
                 "archived": (YES_NO_ONLY, True), "index": (YES_NO_ONLY, True),
                 "visibility": (VISIBILITIES, True), "select": (SELECTS, True),
                 "patterntype": (PATTERN_TYPES, False)}

_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
#: the words of relative dates ("last monday", "three weeks ago"); the decoding grammar spells the same
WEEKDAYS = [name.lower() for name in calendar.day_name]
UNITS = {"second": 0, "minute": 0, "hour": 0, "day": 1, "week": 7, "month": 0, "year": 0}  # unit -> days
LAST_UNITS = ("week", "month", "year", "day")  # "last week"; the other "last" words are WEEKDAYS
NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
                "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
_DURATION = re.compile(r"(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+|0")
_REF = r"[^\s:~?\[\\^*]+"
_REV_ITEM = re.compile(rf"\*!?[^\s:~?\[\\^]+|\^{_REF}|{_REF}")
_CONTEXT = re.compile(r"global|@?[A-Za-z0-9][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_.-]+)*")
# RE2 has no lookaround, backreferences, atomic groups or possessive quantifiers (a++).
_NOT_RE2 = re.compile(r"(?<!\\)(?:\\\\)*(?:\(\?<?[=!]|\(\?>|\(\?P=|\\[1-9]|(?:[*+?]|\{\d+(?:,\d*)?\})\+)")


def check_regex(pattern: str) -> str | None:
    """None if ``pattern`` compiles as an RE2 regex (checked with Python's ``re``).

    >>> check_regex(r"^github\\.com/org/") is None, check_regex("*.go")
    (True, 'nothing to repeat at position 0')
    """
    if match := _NOT_RE2.search(pattern):
        return f"{match.group()!r} is not supported by RE2 (no lookaround or backreferences)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            re.compile(pattern)
    except re.error as error:
        return str(error)
    return None


def check_duration(value: str) -> str | None:
    """Go durations: ``30s``, ``1m30s``, ``500ms``; no days or weeks."""
    return None if _DURATION.fullmatch(value) else "expected a Go duration such as 30s, 1m or 1m30s"


def check_count(value: str) -> str | None:
    if value.lower() == "all":
        return None
    if not value.isdigit() or not 0 < int(value) <= MAX_COUNT:
        return f"expected a positive whole number up to {MAX_COUNT} or 'all'"
    return None


def check_revisions(value: str) -> str | None:
    """``main``, ``v1.2:dev``, ``*refs/heads/*``, ``*!refs/heads/old*``, ``^abc123`` [spec 5]."""
    bad = [item for item in value.split(":") if not _REV_ITEM.fullmatch(item)]
    if bad:
        return f"bad revision {bad[0]!r}: use branch/tag/sha names separated by ':'"
    return None


def check_context(value: str) -> str | None:
    return None if _CONTEXT.fullmatch(value) else "expected a search context like global, @user or @org/name"


# ---------------------------------------------------------------- dates [spec 7]


def resolve_date(text: str, today: date | None = None) -> str | None:
    """A canonical spelling of a before:/after: value, or None if Sourcegraph cannot parse it.

    Absolute dates become ``YYYY-MM-DD`` (``...THH:MM:SS`` with a time of day); relative
    ones become a date when ``today`` is known, else a normal form such as ``1 week ago``.

    >>> resolve_date("1 week ago", date(2026, 11, 25)), resolve_date("last week")
    ('2026-11-18', '1 week ago')
    >>> resolve_date("Jan 2, 2020"), resolve_date("1 week"), resolve_date("2024-02-30")
    ('2020-01-02', None, None)
    """
    value = " ".join(text.strip().lower().split())
    for parse in (_absolute, _month_name):
        try:
            moment = parse(value)
        except ValueError:
            return None
        if moment is not None:
            return _render(moment)
    relative = _relative(value)
    if relative is None:
        return None
    amount, unit = relative
    return _render(_go_back(today, amount, unit)) if today else _relative_text(amount, unit)


def _absolute(value: str) -> datetime | date | None:
    if m := re.fullmatch(r"(\d{5,})(?: ([+-]\d{4}))?", value):
        return datetime.fromtimestamp(int(m.group(1)), tz=timezone.utc).date()
    if m := re.fullmatch(r"(\d{4})[-.](\d{1,2})[-.](\d{1,2})", value):
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}[t ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(z| ?[+-]\d{2}:?\d{2})?", value):
        return datetime.fromisoformat(value.replace(" ", "T", 1).upper().replace(" ", ""))
    if m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", value):
        return date(int(m.group(3)), int(m.group(1)), int(m.group(2)))
    if m := re.fullmatch(r"(\d{1,2})\.(\d{1,2})\.(\d{4})", value):
        return date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
    if re.fullmatch(r"[a-z]{3}, \d{1,2} [a-z]{3} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}", value):
        return datetime.strptime(value, "%a, %d %b %Y %H:%M:%S %z")
    return None


def _month_name(value: str) -> date | None:
    m = (re.fullmatch(r"(?P<month>[a-z]+) (?P<day>\d{1,2}),? (?P<year>\d{4})", value)
         or re.fullmatch(r"(?P<day>\d{1,2}) (?P<month>[a-z]+),? (?P<year>\d{4})", value))
    if not m or m.group("month") not in _MONTHS:
        return None
    return date(int(m.group("year")), _MONTHS[m.group("month")], int(m.group("day")))


def _relative(value: str) -> tuple[int, str] | None:
    """(amount, unit) for natural-language dates; weekdays are ``(n, 'monday')``."""
    fixed = {"now": (0, "day"), "today": (0, "day"), "yesterday": (1, "day")}
    if value in fixed:
        return fixed[value]
    if m := re.fullmatch(r"last (\w+)", value):
        word = m.group(1)
        if word in LAST_UNITS:
            return 1, word
        return (1, word) if word in WEEKDAYS else None
    if m := re.fullmatch(rf"(\d+|\w+) ({'|'.join(UNITS)})s? ago", value):
        amount = m.group(1)
        number = int(amount) if amount.isdigit() else NUMBER_WORDS.get(amount)
        return (number, m.group(2)) if number is not None else None
    if re.fullmatch(r"(1[0-2]|0?[1-9])(:[0-5]\d)? ?[ap]m|([01]?\d|2[0-3]):[0-5]\d", value):
        return 0, "day"
    return None


def _go_back(today: date, amount: int, unit: str) -> date:
    if unit in WEEKDAYS:
        back = (today.weekday() - WEEKDAYS.index(unit)) % 7 or 7
        return today - timedelta(days=back)
    if unit in ("month", "year"):
        months = today.year * 12 + today.month - 1 - amount * (12 if unit == "year" else 1)
        year, month = divmod(months, 12)
        return date(year, month + 1, min(today.day, calendar.monthrange(year, month + 1)[1]))
    if UNITS[unit]:
        return today - timedelta(days=amount * UNITS[unit])
    seconds = amount * {"second": 1, "minute": 60, "hour": 3600}[unit]
    return (datetime.combine(today, datetime.min.time()) + timedelta(hours=12)
            - timedelta(seconds=seconds)).date()


#: unit -> (next larger unit, how many make one): "7 days ago" is written "1 week ago"
_LARGER = {"second": ("minute", 60), "minute": ("hour", 60), "hour": ("day", 24), "day": ("week", 7),
           "month": ("year", 12)}


def _relative_text(amount: int, unit: str) -> str:
    """The normal spelling of a relative date: the largest unit that divides it.

    >>> _relative_text(14, "day"), _relative_text(48, "hour"), _relative_text(24, "month")
    ('2 weeks ago', '2 days ago', '2 years ago')
    """
    if unit in WEEKDAYS:
        return f"last {unit}"
    if amount == 0:
        return "today"
    while unit in _LARGER and amount % _LARGER[unit][1] == 0:
        unit, amount = _LARGER[unit][0], amount // _LARGER[unit][1]
    return f"{amount} {unit}{'s' if amount != 1 else ''} ago"


def _render(moment: datetime | date) -> str:
    if isinstance(moment, datetime):
        if moment.time() == datetime.min.time() and moment.utcoffset() in (None, timedelta(0)):
            return moment.date().isoformat()
        return moment.isoformat()
    return moment.isoformat()
