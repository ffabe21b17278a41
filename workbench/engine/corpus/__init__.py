"""Corpora: text in, integer ids out.

    load.py       load_corpus(CorpusSpec) -> Corpus: a text file or a named corpus, cleaned and encoded
    encode.py     ids and vocabulary: the fast one-byte path and the general one; encode_text, decode_ids
    checks.py     every way a corpus can be unusable, as one-line CorpusErrors; check_fits
    gutenberg.py  Project Gutenberg's header and licence footer, cut away
    fetch.py      a named corpus downloaded into the cache (workbench/corpora holds the catalog)
    text.py       read_text: a text to score or probe, read by the same rules
"""
