"""The terminal workbench: a Textual app that watches and steers trainer processes.

The app never trains and imports torch only through the engine (the studio's models, in
worker threads): every session is trained by a process of its own (engine/processes/launcher.py starts
engine/processes/runner.py), which the app follows through the session folder (engine/sessions/follow.py) and
steers over its control socket (engine/control/client.py).
"""
