"""Natural-language request -> Sourcegraph code-search query.

``grammar`` parses (Lark), ``validate`` applies the strict rules, ``canonical``
defines semantic equality, ``metrics`` scores completions, ``constrain`` exports the
constrained-decoding grammar, ``generate`` writes synthetic data, ``task`` ties
them into the Task protocol.
"""
