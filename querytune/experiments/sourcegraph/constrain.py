"""The constrained-decoding grammar: the validator's language, as far as a grammar can say it.

It follows ``query.lark`` term by term (fields and aliases in any case, filters before,
between or after patterns, AND/OR/NOT in any case, nested groups, quoted values) and
adds the value rules a grammar can state: known fields only (``async:yes`` is out),
enumerated values (``type:``, ``case:``, ``fork:``, ``select:``, ``patterntype:`` ...),
``lang:`` names and aliases, Go durations, counts, contexts, revision lists, known
predicates with non-empty arguments, negation only where a field allows it, no
``NOT -x``, no bare ``and``/``or``/``not`` pattern, non-empty quoted patterns, no
escaping artifacts. It is emitted as GBNF for xgrammar and as Lark for llguidance.

What a grammar cannot check, and the validator still does (:data:`UNCHECKED` holds
their reason codes):

- once-only fields used twice, and the other rules about a whole basic query (the grammar
  sees no set of filters): ``select:commit.diff.*`` needs ``type:diff``,
  ``rev:`` needs a ``repo:`` and no ``@rev``, ``repohasfile:`` with ``type:symbol``,
  structural search with ``type:`` or negated patterns, more than 256 basic queries;
- RE2 validity of regex values and patterns (and of every word in regexp mode), beyond the
  escapes of ``/.../`` patterns (only those Python's ``re`` reads, see ``_slashed_regex``);
- counts above 2^31-1.

Dates (``before:``/``after:`` values and ``at.time``) are checked, in a narrower form (``_date``):
on the GPU an unchecked date let the model write ``after:1 week ago`` and ``before:christmas``.

Commit filters (``author:``, ``committer:``, ``message:``, ``before:``, ``after:``) need
``type:commit`` or ``type:diff``, which the grammar states one way: that term stands at the top level
of a query with no top-level OR (anywhere in it: ``after:yesterday type:commit`` too), so every basic
query has it; the filters may then sit in groups (``type:commit (author:a OR author:b)``). Before an
unclosed ``(`` (``type:diff after:"2 weeks ago" eval(``) the rule is left to the validator.

Narrower than the validator, on purpose or for simplicity: no outer whitespace (answers
are stripped); enumerated values quoted only when they hold a space; backslash runs of
three or more outside quotes; ``name:value`` words in regexp mode only when
``patterntype:regexp`` stands at the top level, before them, and is the only ``patterntype:`` (their
value must hold regex syntax, else the validator calls them invented filters); words with ``-"`` or that are
``and``/``or``/``not`` plus a backslash; a word that starts with a group
(``(get|set)Value``) only with a group of no spaces or quotes; an unclosed ``(`` (the
parser then reads parens as text [spec 8]) only inside a word that does not start with
``(`` (``fmt.Println(``, not ``(a``), after terms without groups and before terms without
``)``; and
values spelled like a known predicate, which the grammar reads as a regex while the
parser reads the predicate and checks its arguments (``repo:has.file(x:y)``); commit filters under a
top-level OR (``(type:commit author:a) OR (type:diff author:b)``), in regexp mode or after an unclosed ``(``.
"""
from __future__ import annotations

import calendar
import random
from functools import lru_cache

from querytune.experiments import grammars as g
from querytune.experiments.grammars import Chars, Lit, NotChars, Ref, alt, nocase, opt, plus, seq, star
from querytune.experiments.sourcegraph import values as v
from querytune.experiments.sourcegraph.grammar import FIELD_ALIASES, FIELDS, PREDICATES, RESERVED_WORDS
from querytune.experiments.sourcegraph.languages import ALIASES
from querytune.experiments.sourcegraph.rewrites import countable, unquoted, without_close, without_open
from querytune.experiments.sourcegraph.validate import COMMIT_FIELDS, DATE_FIELDS, NEGATABLE, UNNEGATABLE_PREDICATES

#: validator reason codes the grammar leaves to the validator (see the module docstring)
UNCHECKED = frozenset({"duplicate_field", "needs_commit_type", "needs_diff_type", "rev_without_repo",
                       "rev_conflict", "bad_combination", "too_complex", "bad_regex", "bad_count"})

LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
WS = g.WHITESPACE
SPACE = Chars(" \t")


def _names(field: str) -> list[str]:
    return [field, *(alias for alias, name in FIELD_ALIASES.items() if name == field)]


def _field(field: str, value, negated: bool = False):
    """``field:value`` under any spelling of the field name, ``-`` first when ``negated``."""
    name = g.Alt(tuple(nocase(n) for n in _names(field)))
    return seq("-" if negated else Lit(""), name, ":", value)


def _choice(options, lower: bool = True):
    """An enumerated value, in any case when the validator lowercases it.

    Values with spaces or quotes are written in double quotes; the others bare (quoting
    them too would triple the lexeme and llguidance's per-request compile time).
    """
    spell = nocase if lower else Lit
    plain = sorted(o for o in options if not set(o) & set(WS + "()\"'\\"))
    spaced = sorted(o for o in options if o not in plain and not set(o) & set('"\\\n\r'))
    bare = g.Alt(tuple(spell(o) for o in sorted(plain, key=lambda o: (-len(o), o))))
    return alt(bare, seq('"', g.Alt(tuple(spell(o) for o in spaced)), '"')) if spaced else bare


def _unquoted_char(extra_excluded: str = "", pending: bool = False):
    """A character of unquoted text: no whitespace or parens; a ``\\`` (or two) only before a
    character that makes no escaping artifact (``\\"``, ``\\\\.``); see also :data:`TAIL`."""
    parens = "" if pending else "()"
    return alt(NotChars(WS + "()\\" + extra_excluded), seq("\\", NotChars(WS + "\\\"'" + parens)),
               seq("\\\\", NotChars(WS + "\\.\"'()")))  # an escaped backslash: a paren after it is bare


#: what may end unquoted text: an escaped backslash (a lone trailing one escapes nothing: a parse error)
TAIL = Lit("\\\\")


def _balanced(char, depth: int = 3):
    """``(...)`` nested up to ``depth`` levels, as ``query.lark``'s BALANCED."""
    inner = char
    for _ in range(depth):
        inner = seq("(", star(alt(char, inner)), ")")
    return inner


def _quoted(body_char_excluded: str = "", nonblank: bool = False):
    """``"..."`` or ``'...'`` with only the escapes Sourcegraph knows; ``nonblank``: not all whitespace."""
    def one(quote: str):
        char = alt(NotChars(quote + "\\\n\r" + body_char_excluded), seq("\\", Chars("\"'\\nrtabfv")))
        if not nonblank:
            return seq(quote, plus(char), quote)
        solid = alt(NotChars(quote + "\\" + WS + body_char_excluded), seq("\\", Chars("\"'\\ab")))
        return seq(quote, star(char), solid, star(char), quote)
    return alt(one('"'), one("'"))


@lru_cache(maxsize=2)
def rules(pending: bool = True) -> dict[str, object]:
    """The grammar: rule name -> expression (``root`` first; UPPER names are lexemes).

    ``pending`` adds the syntax the parser is being extended to read: ``\\(`` in a word,
    spaces inside a word's parens (``log.Printf(msg, args)``) and ``name:value`` words in
    regexp mode, words that start with a group (``(get|set)Value``) and queries with an
    unclosed ``(`` in a word (``fmt.Println(``), which the parser re-reads with parens as text.
    """
    return {**_structure(pending), **_lexemes(pending)}


def _structure(pending: bool) -> dict[str, object]:
    """Operators and groups, with whitespace as its own lexeme (llguidance's lexer never backtracks)."""
    if not pending:
        return {"root": Ref("expr"), **_expression("", ())}
    join = alt(Ref("SEP"), seq(Ref("SEP"), Ref("KW_OR"), Ref("SEP")), seq(Ref("SEP"), Ref("KW_AND"), Ref("SEP")))
    and_join = alt(Ref("SEP"), seq(Ref("SEP"), Ref("KW_AND"), Ref("SEP")))
    return {"root": alt(Ref("expr"), Ref("typed_query"), Ref("regexp_query"), Ref("literal_query")),
            **_expression("", (Ref("group_word"),)),
            # commit filters: type:commit|diff at the top level, where every basic query holds it
            "typed_query": seq(star(seq(Ref("unary_c"), and_join)), Ref("COMMIT_TYPE"),
                               star(seq(and_join, Ref("unary_c")))),
            **_expression("_c", (Ref("group_word"),), param="PARAM_C", negatable="NEGATABLE_C"),
            **_expression("_re", (Ref("group_word"), Ref("UNKNOWN")), param="PARAM_RE"),
            # a word that starts with a group (``(get|set)Value``): three lexemes, not one, since a
            # lexeme that starts with "(" would swallow a group's "(" (llguidance's lexer never backtracks)
            "group_word": seq("(", Ref("GROUP_INSIDE"), ")", Ref("GROUP_REST")),
            # regexp mode: a top-level patterntype:regexp lets the words after it look like name:value
            # (not those before it: a model that wrote an unknown name:value would be held open, waiting
            # for a patterntype:regexp that never comes, until max_tokens cut it)
            "regexp_query": seq(opt(seq(Ref("expr"), join)), Ref("REGEXP_MODE"), opt(seq(join, Ref("expr_re")))),
            # an unclosed "(" (``fmt.Println(``): the parser re-reads the query with parens as text [spec 8];
            # terms without groups, then OPEN_TAIL (one lexeme to the end, so no ``)`` may follow)
            "literal_query": seq(star(seq(Ref("literal_term"), join)), Ref("OPEN_TAIL")),
            "literal_term": alt(Ref("PARAM_C_LP"), Ref("PATTERN_LIT_LP"),
                                seq(Ref("KW_NOT"), Ref("SEP"), alt(Ref("NEGATABLE_C_LP"), Ref("PATTERN_LIT_LP"))))}


def _expression(suffix: str, extra: tuple, param: str = "PARAM", negatable: str = "NEGATABLE") -> dict[str, object]:
    """OR of ANDs of terms, NOT before one term, groups in parens (``query.lark``'s or_expr)."""
    expr, conj, unary = f"expr{suffix}", f"and_expr{suffix}", f"unary{suffix}"
    sep = Ref("SEP")
    return {
        expr: seq(Ref(conj), star(seq(sep, Ref("KW_OR"), sep, Ref(conj)))),
        conj: seq(Ref(unary), star(seq(alt(sep, seq(sep, Ref("KW_AND"), sep)), Ref(unary)))),
        unary: alt(Ref(param), Ref("PATTERN"), *extra,
                   seq(Ref("KW_NOT"), sep, alt(Ref(negatable), Ref("PATTERN"), *extra)),
                   seq("(", opt(sep), Ref(expr), opt(sep), ")")),
    }


def _lexemes(pending: bool) -> dict[str, object]:
    lexemes = _base_lexemes(pending)
    if not pending:
        return lexemes
    char = _unquoted_char(pending=True)
    inside = _unquoted_char("\"'", pending=True)  # query.lark's GROUP_START: no quotes, two levels
    lexemes["GROUP_INSIDE"] = star(alt(inside, _balanced(inside, 1)))
    lexemes["GROUP_REST"] = seq(alt(NotChars(WS + "()\\\"'"), seq("\\", NotChars(WS + "\\\"'"))),
                                star(alt(char, _balanced(char))))
    # the first patterntype: decides the mode, so regexp mode's other terms hold none
    lexemes["PARAM_RE"] = alt(_fields(lambda f: f not in NEGATABLE | COMMIT_FIELDS | {"patterntype"}),
                              *(_field(f, seq(nocase(name), "(", _args(), ")"))
                                for f, name in sorted(UNNEGATABLE_PREDICATES)),
                              seq(opt("-"), Ref("NEGATABLE")))
    # before an unclosed "(" no term may hold a ")" the parser's paren count sees as stray
    lexemes["PATTERN_LIT"] = alt(_quoted(nonblank=True), _slashed_regex("()"), Ref("WORD"))
    closed: dict[str, object] = {}
    for name in ("PARAM", "PATTERN", "NEGATABLE"):
        without_close(Ref(name), lexemes, closed)
    for name in ("PARAM_C", "PATTERN_LIT", "NEGATABLE_C"):
        countable(Ref(name), lexemes, closed)
    join = alt(Ref("SEP"), seq(Ref("SEP"), Ref("KW_OR"), Ref("SEP")), seq(Ref("SEP"), Ref("KW_AND"), Ref("SEP")))
    after = alt(Ref("PARAM_NC"), Ref("PATTERN_NC"),
                seq(Ref("KW_NOT"), Ref("SEP"), alt(Ref("NEGATABLE_NC"), Ref("PATTERN_NC"))))
    return {**lexemes, **closed,
            # a word that opens a paren it never closes, then terms without ")"
            # (no quotes in it: the parser's paren count would read a quote pair around the "(")
            "OPEN_WORD": unquoted(seq(without_close(without_open(_word(pending)), lexemes, closed), "(",
                                      star(alt("(", without_close(_unquoted_char(pending=pending), lexemes,
                                                                  closed))))),
            "OPEN_TAIL": seq(Ref("OPEN_WORD"), star(seq(join, after)))}


def _base_lexemes(pending: bool) -> dict[str, object]:
    return {
        "SEP": plus(SPACE),
        "KW_OR": nocase("or"),
        "KW_AND": nocase("and"),
        "KW_NOT": nocase("not"),
        "PARAM": alt(Ref("FIXED"), seq(opt("-"), Ref("NEGATABLE"))),
        # what may follow NOT or '-': negatable fields, without the predicates that cannot be negated
        "NEGATABLE": _fields(lambda f: f in NEGATABLE and f not in COMMIT_FIELDS),
        "FIXED": g.Alt((_fields(lambda f: f not in NEGATABLE and f not in COMMIT_FIELDS),
                        *(_field(f, seq(nocase(name), "(", _args(), ")"))
                          for f, name in sorted(UNNEGATABLE_PREDICATES)))),
        "COMMIT_TYPE": _field("type", g.Alt((nocase("commit"), nocase("diff")))),
        "NEGATABLE_C": alt(Ref("NEGATABLE"), _fields(lambda f: f in NEGATABLE and f in COMMIT_FIELDS)),
        "PARAM_C": alt(Ref("PARAM"), _fields(lambda f: f in COMMIT_FIELDS and f not in NEGATABLE),
                       seq(opt("-"), _fields(lambda f: f in NEGATABLE and f in COMMIT_FIELDS))),
        "REPO_REGEX": seq(alt(_unquoted_char("@\"'"), _balanced(_unquoted_char())),
                          star(alt(_unquoted_char("@"), _balanced(_unquoted_char())))),
        "PATTERN": alt(_quoted(nonblank=True), Ref("REGEX"), Ref("WORD")),
        "REGEX": _slashed_regex(),
        "WORD": alt(seq(_word(pending), opt(TAIL)), TAIL),
        # the validator reads it as search text only when its value has regex syntax (else an invented filter)
        # (and its value starts with no quote, which the parser would read as a quoted value)
        "UNKNOWN": seq(g.words_except(_field_names(), LETTERS), ":",
                       opt(seq(alt(_unquoted_char("\"'"), _balanced(_unquoted_char())), star(Ref("VALUE_CHAR")))),
                       alt(Chars("[]*+?{}|^$"), seq("\\", NotChars(WS + "\\\"'")), _balanced(_unquoted_char())),
                       star(Ref("VALUE_CHAR"))),
        "REGEXP_MODE": seq(nocase("patterntype"), ":", _choice(("regexp", "regex"), lower=False)),
        "VALUE_CHAR": alt(_unquoted_char(), _balanced(_unquoted_char())),
        "VALUE": alt(seq(alt(_unquoted_char("\"'"), _balanced(_unquoted_char())), star(Ref("VALUE_CHAR")), opt(TAIL)),
                     TAIL),
        "QUOTED": _quoted(),
    }


#: the letters Python's ``re`` (the validator's regex check) reads after a backslash; any other
#: letter there is a "bad escape" (``\\g``), and ``\\1``-``\\9`` are backreferences RE2 lacks
RE_ESCAPE_LETTERS = "abBdDfnrsStvwWAZ"


def _slashed_regex(excluded: str = ""):
    """A ``/.../`` pattern whose escapes the validator's regex check accepts: ``\\d``, ``\\.``,
    ``\\x41``, ``\\0``; not ``\\g`` or ``\\1`` (on the GPU the model wrote ``\\ghp_``). A ``/...``
    run with no space can still be read as a bare word (``/(a)\\1/``); llguidance's greedy lexer
    holds a pattern to this lexeme once it runs past a space."""
    hexdigit = Chars(DIGITS + "abcdefABCDEF")
    escaped = alt(NotChars("\n\r\"'\\" + LETTERS + DIGITS + excluded), Chars(RE_ESCAPE_LETTERS),
                  seq("x", hexdigit, hexdigit), "0")
    return seq("/", plus(alt(NotChars("/\\\n\r" + excluded), seq("\\", escaped))), "/")


def _fields(keep):
    """``field:value`` for each field ``keep(field)`` admits."""
    return g.Alt(tuple(_field(f, value) for f, value in _values().items() if keep(f)))


def _field_names() -> set[str]:
    return set(FIELDS) | set(FIELD_ALIASES)


def _word(pending: bool):
    """A bare pattern: not ``and``/``or``/``not``, and not shaped like a filter.

    ``query.lark`` reads ``letters:`` at the start of a term as a filter (a known name,
    or an invented one the validator rejects) unless ``:`` or ``/`` follows the colon
    (``std::move``, ``http://x``). So a word is ``-`` and letters, then nothing, or a
    character that is no letter and no colon, or an unknown name's ``:`` then ``:``/``/``.
    A word never starts with ``(``: llguidance's lexer does not backtrack, so a word
    lexeme that starts like a group's ``(`` would swallow the group (``(eval OR exec)``).
    """
    char = _unquoted_char(pending=pending)
    group = _spaced_group() if pending else _balanced(char)
    rest = star(alt(char, group))
    letters = plus(Chars(LETTERS))
    escape = seq("\\", NotChars(WS + "\\\"'" + ("" if pending else "()")))
    non_letter = alt(NotChars(WS + "()\\\"':" + LETTERS), escape, group)
    return alt(
        seq("-", star(Chars(LETTERS))),
        g.words_except(RESERVED_WORDS, LETTERS),
        seq(opt("-"), letters, non_letter, rest),
        seq(opt("-"), alt(NotChars(WS + "()\\\"'-" + LETTERS), escape), rest),
        seq("--", rest),
        seq(opt("-"), g.words_except(_field_names(), LETTERS), ":", Chars(":/"), rest),
    )


def _spaced_group():
    """query.lark's BALANCED_SPACED: a word's ``(...)`` with spaces at its top level (``f(a, b)``).

    The parser reads a run after ``(`` or a space as a new term when it starts with ``name:``
    (``f(x file:y)``) or is a bare ``and``/``or``/``not`` followed by a space (``author(alice OR bob)``);
    so a run here starts with no ``letters:`` at all (narrower: ``f(x key:y)`` is out, and a trie of
    field names in this lexeme made llguidance's lexer give up), and a bare keyword only ends the group
    (``f(a, or)``).
    """
    char = _unquoted_char(pending=True)
    nested = _balanced(char, 2)
    rest = star(alt(char, nested))

    def then(excluded: str):  # a non-letter item (minus ``excluded``), then the rest of the run
        return seq(alt(_unquoted_char(LETTERS + excluded, pending=True), nested), rest)

    bare = g.Alt(tuple(nocase(k) for k in sorted(RESERVED_WORDS)))
    run = alt(seq(opt("-"), plus(Chars(LETTERS)), then(":")),
              seq(opt("-"), g.words_except(RESERVED_WORDS, LETTERS)),
              seq("-", opt(alt(bare, then("")))),
              then("-"))
    spaces = plus(SPACE)
    body = seq(opt(run), star(seq(spaces, run)), opt(seq(spaces, opt(bare))))
    return seq("(", alt(body, bare), ")")


def _values() -> dict[str, object]:
    """Each canonical field's value shape (predicates that cannot be negated are in FIXED)."""
    text = alt(Ref("QUOTED"), Ref("VALUE"))
    return {
        "repo": alt(_predicates("repo"), seq(alt(Ref("QUOTED"), Ref("REPO_REGEX")), opt(_revision())),
                    seq("@", _revisions())),
        "file": alt(_predicates("file"), text),
        "rev": alt(_predicates("rev"), _revisions(), seq('"', _revisions(), '"')),
        "content": text,
        "lang": _choice(ALIASES),
        **{field: _choice(values, lower=lower) for field, (values, lower) in v.CHOICE_FIELDS.items()},
        "count": alt(nocase("all"), seq(star(Chars(DIGITS)), Chars("123456789"), star(Chars(DIGITS)))),
        "timeout": alt("0", plus(seq(alt(seq(plus(Chars(DIGITS)), opt(seq(".", star(Chars(DIGITS))))),
                                         seq(".", plus(Chars(DIGITS)))),
                                     alt("ns", "us", "µs", "μs", "ms", "s", "m", "h")))),
        "context": alt("global", seq(opt("@"), Chars(LETTERS + DIGITS), star(Chars(LETTERS + DIGITS + "_.-")),
                                     star(seq("/", plus(Chars(LETTERS + DIGITS + "_.-")))))),
        **{field: text for field in ("author", "committer", "message", "repohasfile", "rule")},
        **{field: alt(_date(bare=True), seq('"', _date(), '"')) for field in sorted(DATE_FIELDS)},
    }


def _date(bare: bool = False):
    """A date ``values.resolve_date`` reads: ``2026-01-31``, ``yesterday``, ``today``, ``now``, and
    (quoted, or inside ``at.time(...)``) ``3 weeks ago`` or ``last monday``. Lowercase, one space
    between words and no time of day: narrower than the validator, and every date the generator and
    the reference write. Days stop at the month's length (February at 28)."""
    digit, nonzero = Chars(DIGITS), Chars("123456789")
    days = {28: alt(seq("0", nonzero), seq("1", digit), seq("2", Chars("012345678"))),
            30: alt(seq("0", nonzero), seq(Chars("12"), digit), "30"),
            31: alt(seq("0", nonzero), seq(Chars("12"), digit), seq("3", Chars("01")))}
    month_days = g.Alt(tuple(seq(f"{m:02d}", "-", days[calendar.monthrange(2023, m)[1]]) for m in range(1, 13)))
    iso = seq(digit, digit, digit, digit, "-", month_days)
    words = alt("yesterday", "today", "now")
    if bare:
        return alt(iso, words)
    amount = alt(seq(nonzero, star(digit)),
                 g.Alt(tuple(Lit(w) for w in sorted(v.NUMBER_WORDS, key=lambda w: (-len(w), w)))))
    unit = g.Alt(tuple(Lit(u) for u in v.UNITS))
    last = g.Alt(tuple(Lit(w) for w in (*v.LAST_UNITS, *v.WEEKDAYS)))
    return alt(iso, words, seq(amount, " ", unit, opt("s"), " ago"), seq("last ", last))


def _revisions():
    """``main``, ``v1:dev``, ``*refs/heads/*``, ``*!refs/old*``, ``^abc`` joined by ``:`` [spec 5]."""
    plain = WS + ":~?[\\^()@\"'"
    item = alt(seq("*", opt("!"), plus(NotChars(plain))), seq(opt("^"), plus(NotChars(plain + "*"))))
    return seq(item, star(seq(":", item)))


def _revision():
    return seq("@", opt(_revisions()))


def _predicates(field: str):
    """``name(args)`` for the field's negatable predicates."""
    names = sorted(n for n in PREDICATES[field] if (field, n) not in UNNEGATABLE_PREDICATES)
    return g.Alt(tuple(seq(nocase(name), "(", _predicate_args(name), ")") for name in names))


def _predicate_args(name: str):
    if name == "at.time":
        return _at_time_args()
    if name in ("has.file", "contains.file", "has", "contains"):
        return _keyed_args()
    return _args(empty=name == "has.owner")


def _args(empty: bool = False, excluded: str = ""):
    """Predicate arguments: one level of inner parens, not blank unless ``empty`` is allowed."""
    char = alt(NotChars("()\\\n\r" + excluded), seq("\\", NotChars("\n\r\"'\\")))
    inner = alt(char, seq("(", star(char), ")"))
    solid = alt(NotChars("()\\" + WS + excluded), seq("\\", NotChars("\n\r\"'\\")), seq("(", star(char), ")"))
    return star(inner) if empty else seq(star(inner), solid, star(inner))


def _at_time_args():
    """``at.time(2 weeks ago)``, ``at.time("2025-01-31", main)``: a date, then maybe a revision."""
    date = alt(_date(), seq('"', _date(), '"'))
    return seq(star(SPACE), date, opt(seq(",", star(SPACE), _revisions())), star(SPACE))


def _keyed_args():
    """``has.file(path:RE content:RE)``: keyed parts split by spaces, or one argument without ``:``."""
    char = alt(NotChars(WS + "()\\"), seq("\\", NotChars("\n\r\"'\\")))
    part = seq(alt("path", "content"), ":", plus(alt(char, seq("(", star(char), ")"))))
    return alt(_args(excluded=":"), seq(star(SPACE), part, star(seq(plus(SPACE), part)), star(SPACE)))


@lru_cache(maxsize=1)
def grammar_gbnf() -> str:
    """The grammar for xgrammar (vLLM's ``xgrammar`` backend)."""
    return g.to_gbnf(rules())


@lru_cache(maxsize=1)
def grammar_lark() -> str:
    """The grammar for llguidance (vLLM's ``guidance`` backend), rendered once per process: the
    service asks for it on every request, and rendering takes ~0.1-0.25 s of CPU."""
    return g.to_lark(rules())


def sample(rng: random.Random, pending: bool = True) -> str:
    """A random query of the grammar (``pending``: with the syntax the parser does not read yet)."""
    return g.sample(rules(pending), rng)
