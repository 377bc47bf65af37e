"""Languages that ``lang:`` accepts: linguist names and their aliases.

Sourcegraph resolves ``lang:`` values through go-enry, which carries GitHub
linguist's table: a value is a language name or alias, case-insensitively, and a
name with spaces may also be written with hyphens (``protocol-buffer``). The table
below covers the languages people search for (linguist has ~700, most of them
rare); anything else is reported as ``unknown_language``.
"""
from __future__ import annotations

# One language per line: "Linguist Name: alias, alias".
_TABLE = """
ABAP:
ActionScript: actionscript 3, actionscript3, as3
Ada: ada95, ada2005
Agda:
ANTLR:
Apex:
APL:
AppleScript: osascript
Arduino: ino
AsciiDoc:
Assembly: asm, nasm
Astro:
Awk: nawk, gawk, mawk
Ballerina:
Batchfile: bat, batch, dosbatch, winbatch
Bicep:
Bison:
BitBake: bitbake
Blade:
C:
C#: csharp, cake, cakescript
C++: cpp
Cairo:
Cap'n Proto:
Chapel: chpl
Clojure:
CMake:
COBOL:
CoffeeScript: coffee, coffee-script
ColdFusion: cfm, cfml, coldfusion html
Common Lisp: lisp
Coq:
Crystal:
CSS:
CSV:
CUE:
Cuda:
Cython: pyrex
D: dlang
Dart:
Dhall:
Diff: udiff
Dockerfile: containerfile
DOT: graphviz
Earthly: earthfile
EJS:
Elixir:
Elm:
Emacs Lisp: elisp, emacs
Erlang:
F#: fsharp
Fish:
Forth:
Fortran:
Fortran Free Form:
FreeMarker: ftl
GDScript:
Gherkin: cucumber
Git Attributes: gitattributes
Git Config: gitconfig, gitmodules
Gleam:
GLSL:
Go: golang
Go Checksums: go.sum, go sum
Go Module: go.mod, go mod
Gradle:
GraphQL:
Groovy:
Hack:
Haml:
Handlebars: hbs, htmlbars
Haskell:
Haxe:
HCL: hashicorp configuration language, terraform
HLSL:
HTML: xhtml
HTML+ERB: erb, rhtml, html+ruby
HTTP:
Idris:
Ignore List: ignore, gitignore, git-ignore
INI: dosini
Io:
Isabelle:
J:
Java:
Java Properties:
JavaScript: js, node
Jinja: django, html+django, html+jinja, htmldjango
JSON: geojson, jsonl, topojson
JSON with Comments: jsonc
JSON5:
Jsonnet:
Julia:
Jupyter Notebook: ipython notebook
Just: justfile
Kotlin:
Kusto:
LaTeX:
Lean:
Less: less-css
Lex: flex
Liquid:
LLVM:
Logos:
Lua:
M4:
Makefile: bsdmake, make, mf
Markdown: md, pandoc
Mathematica: mma, wolfram, wolfram language, wolfram lang, wl
MATLAB: octave
Max: max/msp, maxmsp
MDX:
Mercury:
Meson:
Mermaid:
Mojo:
Move:
Mustache:
Nginx: nginx configuration file
Nim:
Ninja:
Nix: nixos
Nushell: nu-script, nushell-script
Objective-C: obj-c, objc, objectivec
Objective-C++: obj-c++, objc++, objectivec++
OCaml:
Odin:
OpenSCAD:
Org:
Pascal: delphi, objectpascal
Perl: cperl
PHP: inc
PLpgSQL:
PLSQL:
PlantUML:
PostCSS: postcss
PostScript: postscr
PowerShell: posh, pwsh
Prisma:
Prolog:
Protocol Buffer: proto, protobuf, protocol buffers
Protocol Buffer Text Format: text proto, protobuf text format
Pug:
Puppet:
PureScript:
Python: python3, rusthon
Q#: qsharp
QML:
R: rscript, splus
Racket:
Raku: perl6, perl-6
Razor: cshtml
Reason:
ReScript:
Rego:
reStructuredText: rst
Ruby: jruby, macruby, rake, rb, rbx
Rust: rs
SAS:
Sass:
Scala:
Scheme:
SCSS:
sed:
Shell: sh, shell-script, bash, zsh, envrc
Slim:
Smalltalk: squeak
Smarty:
Solidity:
SPARQL:
SQL:
SQLPL:
Stan:
Starlark: bazel, bzl
Stata:
Svelte:
SVG:
Swift:
SystemVerilog:
Tcl: sdc, xdc
Tcsh:
Terra:
TeX: latex
Text: fundamental, plain text
Thrift:
TOML:
TSQL:
TSV: tab-seperated values
TSX:
Twig:
TypeScript: ts
Vala:
VBA: visual basic for applications
VBScript:
Verilog:
VHDL:
Vim Script: vim, viml, nvim, vimscript
Visual Basic .NET: visual basic, vbnet, vb .net, vb.net
Vue:
WebAssembly: wast, wasm
WGSL:
XML: rss, xsd, wsdl
XSLT: xsl
Xonsh:
YAML: yml
Yacc:
Zig:
"""


def _parse_table(table: str) -> tuple[dict[str, str], list[str]]:
    aliases: dict[str, str] = {}
    names: list[str] = []
    for line in table.strip().splitlines():
        name, _, rest = line.partition(": ") if ": " in line else (line.rstrip(":"), "", "")
        names.append(name)
        key = name.lower()
        spellings = [key, key.replace(" ", "-")] + [a.strip() for a in rest.split(",") if a.strip()]
        for spelling in spellings:
            aliases[spelling] = key
    return aliases, names


#: every accepted spelling (lowercase) -> canonical lowercase linguist name
ALIASES, NAMES = _parse_table(_TABLE)


def canonical_language(value: str) -> str | None:
    """The lowercase linguist name for a ``lang:`` value, or None when unknown.

    >>> canonical_language("Golang"), canonical_language("cpp"), canonical_language("klingon")
    ('go', 'c++', None)
    """
    return ALIASES.get(value.strip().lower())
