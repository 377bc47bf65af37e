"""Recipe data for the sourcegraph task: generator vocabularies, request templates, dev set."""
