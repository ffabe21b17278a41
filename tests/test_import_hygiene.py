"""The engine knows nothing of the UI: importing it must not import textual."""
import subprocess
import sys

from support import REPO

ENGINE_MODULES = ["workbench.engine.train.trainer", "workbench.engine.infer.sampling", "workbench.engine.sessions.session",
                  "workbench.engine.corpus.load", "workbench.engine.infer.inference", "workbench.models", "workbench.cli"]


def test_engine_never_imports_textual():
    code = "import sys\n" + "".join(f"import {m}\n" for m in ENGINE_MODULES) + \
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'textual_plotext', 'plotext')]\n" \
        "assert not bad, bad\n"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
