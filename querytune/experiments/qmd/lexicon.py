"""The scorer's word lists, copied verbatim from the original ``reward.py`` (research §c).

They are data, not tuning knobs: changing one changes every score, so it needs a
``scorer_version`` bump.
"""
from __future__ import annotations

#: Stopwords ignored by the hyde repetition penalty.
STOP = frozenset("the a an is are to for of in and or it this that be with as on by".split())

#: Words that are never key terms, never entities, and end an entity chain.
KEY_TERM_STOP = frozenset("""
what is how to the a an in on for of and or with my your do does can i me we who where when
why which find get show tell about from into between through during after before like than
then that this their its was were has had been being have not but just also very so if at by
up out all some any no each every both few more most other only same such here there asked
said notes meeting email discussion conversation call
""".split())

#: Capitalised first words that start a query without naming anything ("Configure ...").
VERB_STOP = frozenset("""
configure setup install build create make run start stop check test debug fix update change
add remove delete use using need want should would could help please best good new old latest
recent setting settings compare comparing implement implementing deploy deploying migrate
migrating optimize optimizing understand understanding explain list describe define convert
connecting performance overview introduction tutorial example difference between about review
resolve resolving troubleshoot troubleshooting monitor monitoring manage managing enable
disable set write read search possible common typical recommended alternative
""".split())

#: Phrases that make a lex line generic when little else remains.
GENERIC = frozenset({
    "find information about", "search for", "look up", "get information", "learn about",
    "information on", "details about", "find out about", "what is", "how to", "guide to",
    "help with",
})

#: Template filler in lex lines, penalised when the query does not use the word itself.
FILLER = frozenset({"overview", "basics"})
