"""Network definitions. Installed as `workbench.models` (see pyproject's package-dir)."""
from workbench.models.charrnn import CELLS, CharRNN, ModelConfig

__all__ = ["CELLS", "CharRNN", "ModelConfig"]
