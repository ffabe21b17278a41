"""The training engine: corpus, training loop, checkpoints, sampling and sessions.

Nothing in this package imports textual, and nothing at package import time imports torch:
`workbench --help` must stay fast.
"""
