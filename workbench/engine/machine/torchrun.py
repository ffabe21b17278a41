"""What torchrun tells a process through its environment: whether it is one rank of a group.
Read by the command line (train under torchrun), the group's collectives and the supervisor."""
from __future__ import annotations

import os


def launched_by_torchrun() -> bool:
    """Whether torchrun started this process as one rank of a group (its environment says)."""
    return "TORCHELASTIC_RUN_ID" in os.environ or ("RANK" in os.environ and "WORLD_SIZE" in os.environ)
