"""QMD training rows (MIT, see LICENSE) and our dev queries: data files, no code."""
