"""QMD query expansion: a search query becomes ``lex:``/``vec:``/``hyde:`` retrieval lines.

``parse`` reads the output language, ``score`` is the original project's scorer (see
``shared/research/qmd.md`` §c), ``reward`` its GRPO form, ``prompt`` the chat turn and
target, ``data`` the real training rows, ``clean`` their repairs measured with the
scorer, ``task`` ties them into the Task protocol.
"""
