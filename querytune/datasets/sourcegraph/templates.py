"""Request heads per intent: how a request opens, with ``{what}`` for the thing searched.

A request is a head plus scope, time and option fragments (see ``scope.py``, ``options.py``) in varied
order. The last ``HELD_OUT`` heads of each intent, and the last quarter of every fragment
phrasing list, are used only for the test split, so test measures phrasings never seen in
training. Heads ending in ``?`` make the whole request a question. No head holds query
syntax: no ``field:``, backticks, slashes around regexes or anchors.

Result shapes, one gold form per meaning (pinned in tests/experiments/test_sourcegraph_conventions.py):

- repos whose code mentions X -> ``select:repo X`` (here and in ``repo_list``); ``repo:has.content``
  only scopes another search ("Y in repos that mention X"), ``repo:has.path`` is repos that *have a
  file named* X. ``select:repo`` keeps lang/file scopes and OR patterns, a predicate cannot.
- files with X -> ``select:file X`` only where the head asks for the names or paths alone ("just the file
  names", "file paths only"); "files with X", "which files mention X" are a plain search (its results
  are files), and so is "where do we call X".
- contents, not names: ``type:file`` only where the head sets file contents against file names or
  paths; ``select:content`` only where it asks for just the matching lines. No head says both.
- symbols named or matching X -> ``type:symbol X`` (``symbol``); ``select:symbol X`` is the symbols
  of the code that mentions X (``select_symbol``): every such head says "in code/files with X".
- repos by name -> ``type:repo``, and every such head says "name"; "projects" are repos, never
  directories (``select_dir`` says folders or directories).
- natural-language search -> ``patterntype:nls`` and the thing described, without the head or the
  question's framing ("code that implements", "how we handle"); see ``intents._nls``.
"""
from __future__ import annotations

HELD_OUT = 2

# reusable openers for code search (patterns plus filters)
_CODE = [
    "find {what}", "{what}", "where do we use {what}?", "search for {what}", "show me {what}",
    "grep for {what}", "look for {what}", "search everywhere for {what}", "can you find {what}",
    "I need to find {what}",
    "where is {what} used?", "locate {what}", "I'm looking for {what}", "where can I find {what}?",
    "list every occurrence of {what}", "find all the places with {what}", "could you search for {what}",
    "pull up {what}", "track down {what}", "hunting for {what}", "do we have {what} anywhere?",
    "Please find {what}", "where does {what} show up?", "search the code for {what}",
    "I want to see {what}", "can you show me {what}", "any idea where to find {what}?", "where's {what}?",
    "remind me where {what} is", "need {what}", "show all {what}", "do you know where {what} is?",
    "trying to find {what}", "looking for {what}", "search {what}",
    "show me all {what}", "find every {what}", "find all {what}", "list all {what}",
    "files with {what}", "files that mention {what}", "where do we call {what}?",
    "point me to {what}", "help me find {what}",
]

TEMPLATES: dict[str, list[str]] = {
    "code": _CODE,
    "select_file": [
        "just file names for {what}", "only file paths with {what}", "paths of files with {what}",
        "names of files using {what}", "show only the matching files for {what}, not the lines",
        "file list for {what}", "file paths only, {what}", "file names only, {what}",
        "Only the paths of files mentioning {what}, please.", "the file list (no lines) for {what}",
    ],
    "select_repo": [
        "which repos use {what}?", "list repositories that contain {what}", "repos with {what} in them",
        "what repositories reference {what}?", "find repos using {what}", "show me every repo mentioning {what}",
        "which of our repositories still have {what}?", "I need the repo names where {what} appears",
        "Which projects depend on {what}?", "list the repos that mention {what}",
    ],
    "select_dir": [
        "which directories contain {what}?", "folders with {what}", "list the directories that have {what}",
        "in which folders do we have {what}?", "show me directories containing {what}",
        "which folders use {what}?", "Which directories mention {what}?",
        "give me the folders where {what} shows up",
    ],
    "select_owners": [
        "who owns the files with {what}?", "code owners of files that contain {what}",
        "which teams own code using {what}?", "find the owners of files mentioning {what}",
        "show the owners for files that reference {what}", "who is responsible for the code with {what}?",
        "list owners of everything that has {what}", "Which owners should I ping about {what}?",
    ],
    "select_content": [
        "just the matching lines for {what}", "only show the matched text of {what}",
        "give me only the lines with {what}", "the exact matches of {what}, nothing else",
        "show the snippets that match {what}", "only the matching lines for {what}",
        "print just the lines containing {what}", "List only the matched lines for {what}.",
    ],
    "select_symbol": [
        "symbols in code mentioning {what}", "the symbols of files that use {what}",
        "which symbols are defined in files mentioning {what}?", "symbols from the code that references {what}",
        "list the symbols in files containing {what}", "what symbols live in code that uses {what}?",
        "Show the symbols of files containing {what}.", "symbols from the files that mention {what}",
    ],
    "type_file": [
        "search only file contents for {what}, not file names", "{what} in file contents only, not file names",
        "look inside files for {what}, skip path matches", "content matches for {what}, no path matches",
        "find {what} in the text of files, not their names", "only in-file hits for {what}, not file name hits",
        "Search file bodies for {what}, not file paths.", "I want content results for {what}, not filenames",
    ],
    "type_path": [
        "files whose path contains {what}", "file names matching {what}", "paths that mention {what}",
        "find files named like {what}", "which file paths include {what}?", "look up files called {what}",
        "search file names for {what}", "Find paths containing {what}.", "is there a file with {what} in its name?",
    ],
    "type_repo": [
        "repositories named like {what}", "repos whose name has {what}", "find repos called {what}",
        "which repos have {what} in the name?", "search repo names for {what}",
        "list repositories whose names match {what}",
        "Is there a repo named {what}?", "look up the repositories with {what} in their names",
    ],
    "repo_list": [
        "which repos {what}?", "list repositories that {what}", "repos that {what}", "find all repos that {what}",
        "show me the repositories that {what}", "what repos {what}?", "I need all repos that {what}",
        "give me the repos that {what}", "Which repositories {what}?", "List all repos that {what}.",
    ],
    "file_list": [
        "find {what}", "list all {what}", "show me the {what}", "where are the {what}?",
        "get me every one of the {what}",
        "I need a list of {what}", "do we have any {what}?", "locate {what}", "Which {what} exist?",
        "Locate {what} across the codebase.",
    ],
    "symbol": [
        "where is {what} defined?", "find the definition of {what}", "go to definition of {what}",
        "symbol search for {what}", "which file defines {what}?", "jump to definition of {what}",
        "where do we declare {what}?",
        "look up {what} in symbol search", "find where {what} is declared", "search symbols for {what}",
        "symbol results for {what}", "list symbols matching {what}", "show symbols that match {what}",
        "Locate the declaration of {what}.",
        "Find {what} with a symbol search.",
    ],
    "commit": [
        "commits {what}", "show me commits {what}", "list the commits {what}", "find commits {what}",
        "git log {what}", "commit history {what}", "I want to see the commits {what}",
        "any commits {what}?", "pull up commits {what}", "search commit history {what}",
        "Which commits were made {what}?", "Retrieve the commits {what}.",
    ],
    "diff": [
        "changes {what}", "diffs {what}", "show me the diffs {what}", "find code changes {what}",
        "which changes were made {what}?", "search diffs {what}", "what changed {what}?",
        "look through the diffs {what}", "Show code changes {what}.", "Find the diffs {what}.",
    ],
    "diff_added": [
        "who added {what}?", "when was {what} introduced?", "find commits that added {what}",
        "diffs adding {what}", "which change introduced {what}?", "search added lines for {what}",
        "when did we start using {what}?", "who introduced {what}?", "Find the commits where {what} was added.",
        "Show diffs that introduce {what}.",
    ],
    "diff_removed": [
        "who removed {what}?", "when was {what} deleted?", "find commits that removed {what}",
        "diffs deleting {what}", "which change took out {what}?", "search removed lines for {what}",
        "when did we stop using {what}?", "who ripped out {what}?", "Find the commits where {what} was removed.",
        "Show diffs that delete {what}.",
    ],
    "diff_commits": [
        "just the commits whose diffs touch {what}", "which commits changed {what}? commits only, no diffs",
        "list the commits that modified {what}", "commits (not diffs) changing {what}",
        "the commits behind changes to {what}", "what commits altered {what}?",
        "Give me the commit list for changes to {what}.", "Which commits edited {what}?",
    ],
    "structural": [
        "structural search for {what}", "find code shaped like {what}", "match {what} structurally",
        "use structural search to find {what}", "syntax-aware search for {what}",
        "structurally find {what}", "Run a structural search for {what}.", "I need a structural match for {what}",
    ],
    "nls": [
        "natural language search for {what}", "semantic search for {what}", "do a natural-language search on {what}",
        "use nls to find {what}", "search in plain English for {what}", "natural-language query about {what}",
        "Run an NLS search for {what}.", "plain-language search, {what}",
    ],
}
