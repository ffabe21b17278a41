"""Sessions on disk: the folder and its files, status.json, the lock, checkpoints, a new session made whole, a session followed from its files, its text, what a first run could be."""
