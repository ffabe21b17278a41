"""Text corpora: the catalog of named corpora (catalog.py) and the folder where downloads are cached.

Downloaded texts (`<name>.txt`) land next to this file when the folder is writable; they are
never committed (see .gitignore).
"""
