"""Request phrasings per intent. The last ``HELD_OUT`` templates of each intent are
used only for the test split, so test measures phrasings never seen in training.

Slots: {lang} {code} {code2} {repo} {files} {excl} {symbol} {kind} {author} {since}
{message} {regex} {flag}. An empty {since} is allowed where a template has one.
"""
from __future__ import annotations

HELD_OUT = 2

TEMPLATES: dict[str, list[str]] = {
    "code_lang": [
        "find {lang} code that uses {code}", "{code} in {lang}", "Search {lang} files for {code}.",
        "where do we use {code} in our {lang} code?", "show me {lang} usages of {code}",
        "grep {lang} for {code}", "Locate all occurrences of {code} in {lang} sources.",
        "which {lang} files contain {code}",
    ],
    "code_repo": [
        "find {code} in {repo}", "search the {repo} repo for {code}", "where is {code} used in {repo}?",
        "{code} usages in {repo}", "look for {code} inside {repo}", "In the {repo} repository, list occurrences of {code}.",
        "does {repo} use {code} anywhere?", "Show all references to {code} within {repo}.",
    ],
    "code_repo_lang": [
        "find {code} in the {lang} code of {repo}", "{lang} files in {repo} that mention {code}",
        "search {repo} for {code}, {lang} only", "where does {repo} use {code} in {lang}?",
        "Show {lang} occurrences of {code} in the {repo} repository.", "grep {repo} {lang} sources for {code}",
        "in {repo}, which {lang} files have {code}", "List {lang} matches for {code} in {repo}.",
    ],
    "code_files": [
        "find {code} in {files}", "search {files} for {code}", "which {files} mention {code}?",
        "{code} in {files}", "Look through {files} for {code}.", "do any {files} reference {code}",
        "Find every occurrence of {code} within {files}.", "check {files} for {code}",
    ],
    "files": [
        "find {files}", "list all {files}", "show me the {files}", "where are the {files}?",
        "Locate {files} across the codebase.", "get me every one of the {files}",
        "Which {files} exist?", "I need a list of {files}",
    ],
    "code_excluding": [
        "find {code} in {lang} but skip {excl}", "{lang} usages of {code}, excluding {excl}",
        "search {lang} code for {code} without {excl}", "{code} in {lang}, no {excl} please",
        "Show {code} in {lang} files, leaving out {excl}.", "where do we call {code} in {lang} outside of {excl}?",
        "Find {code} in {lang} code, ignoring {excl}.", "grep {lang} for {code} minus {excl}",
    ],
    "either": [
        "{lang} files using {code} or {code2}", "find {code} or {code2} in {lang}",
        "search {lang} for either {code} or {code2}", "which {lang} files have {code} or {code2}?",
        "Show {lang} code containing {code} or {code2}.", "{code} / {code2} in {lang} code",
        "Find {lang} sources that use either {code} or {code2}.", "any {lang} code with {code} or else {code2}",
    ],
    "but_not": [
        "{lang} files with {code} but not {code2}", "find {code} in {lang} where there's no {code2}",
        "search {lang} for {code} excluding files that have {code2}", "{code} without {code2} in {lang}",
        "Show {lang} files that use {code} and do not contain {code2}.", "which {lang} files have {code} but lack {code2}?",
        "Find {lang} code containing {code} but not {code2}.", "{lang}: {code} yes, {code2} no",
    ],
    "symbol": [
        "where is {symbol} defined", "find the definition of {symbol}", "go to definition {symbol}",
        "symbol search for {symbol}", "which file defines {symbol}?", "jump to {symbol}",
        "Locate the declaration of {symbol}.", "Find the symbol named {symbol}.",
    ],
    "symbol_kind": [
        "{lang} {kind} named like {symbol}", "find {lang} {kind} called {symbol}",
        "list {kind} matching {symbol} in {lang}", "which {lang} {kind} are named {symbol}?",
        "show me {kind} named {symbol}, {lang} only", "search {lang} {kind} for {symbol}",
        "List all {lang} {kind} whose name matches {symbol}.", "Find {kind} named {symbol} in {lang} code.",
    ],
    "commits_author": [
        "commits by {author} {since}", "what did {author} commit {since}?", "show me {author}'s commits {since}",
        "list commits authored by {author} {since}", "{author} commits {since}", "find all commits from {author} {since}",
        "What has {author} committed {since}?", "Retrieve the commits made by {author} {since}.",
    ],
    "commits_author_repo": [
        "commits by {author} in {repo} {since}", "what did {author} push to {repo} {since}?",
        "{author}'s commits in {repo} {since}", "show commits in {repo} by {author} {since}",
        "list {repo} commits from {author} {since}", "Find commits authored by {author} in the {repo} repository {since}.",
        "{repo}: commits by {author} {since}", "Which commits did {author} make to {repo} {since}?",
    ],
    "commit_message": [
        "commits mentioning {message} {since}", "find commits whose message says {message} {since}",
        "which commits talk about {message} {since}?", "commit messages containing {message} {since}",
        "search the commit log for {message} {since}", "git log grep {message} {since}",
        "Show commits that reference {message} in the message {since}.", "Find commit messages that include {message} {since}.",
    ],
    "diff_code": [
        "changes touching {code} {since}", "diffs that mention {code} {since}", "which commits changed {code} {since}?",
        "show diffs with {code} {since}", "find code changes involving {code} {since}", "{code} in diffs {since}",
        "Which diffs modified lines containing {code} {since}?", "Search commit diffs for {code} {since}.",
    ],
    "diff_added": [
        "who added {code}", "when was {code} introduced", "find commits that added {code}",
        "diffs adding {code}", "which change introduced {code}?", "search added lines for {code}",
        "Find the commits where {code} was added.", "Show diffs that introduce {code}.",
    ],
    "diff_removed": [
        "who removed {code}", "when was {code} deleted", "find commits that removed {code}",
        "diffs deleting {code}", "which change took out {code}?", "search removed lines for {code}",
        "Find the commits where {code} was removed.", "Show diffs that delete {code}.",
    ],
    "regex": [
        "find {regex} in {lang} code", "{lang}: search for {regex}", "regex search {lang} for {regex}",
        "look for {regex} in {lang} files", "where do {regex} show up in {lang}?", "find all {regex}, {lang} only",
        "Search {lang} sources for {regex}.", "Locate {regex} in the {lang} code.",
    ],
    "repos_using": [
        "which repos use {code}", "list repositories that contain {code}", "repos with {code} in them",
        "what repositories reference {code}?", "find repos using {code}", "show me all repos mentioning {code}",
        "Which repositories contain {code}?", "List the repos where {code} appears.",
    ],
    "repos_with_file": [
        "which repos have {files}", "repos containing {files}", "list repositories with {files}",
        "find repos that have {files}", "what repos include {files}?", "show repositories that contain {files}",
        "Which repositories include {files}?", "List every repo that has {files}.",
    ],
    "this_repo": [
        "find {code} in this repo", "where does this repo use {code}?", "search this repository for {code}",
        "{code} in here", "look for {code} in the current repo", "any {code} in this codebase?",
        "Find all occurrences of {code} in this repository.", "Where is {code} used in the repo I'm in?",
    ],
    "flags": [
        "find {code} in {lang}, {flag}", "{flag}: {lang} code with {code}", "search {lang} for {code} ({flag})",
        "{code} in {lang} {flag}", "look for {code} in {lang} files, {flag}", "{lang} {code} {flag}",
        "Search {lang} code for {code}, {flag}.", "Find {code} in {lang} sources, {flag}.",
    ],
}
