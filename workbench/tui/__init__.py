"""The terminal workbench: a Textual app that watches and steers trainer processes.

The app never trains and never imports torch: every session is trained by its own
`workbench resume NAME --headless` process (engine/launcher.py), which the app follows through
the session folder (engine/follow.py) and steers over its control socket (engine/control.py).
"""
