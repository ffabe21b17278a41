"""The training loop and what it is built of: setup, one step, the checkpoint's state, metrics, budget, guards, schedule, batches, validation, presets, the group's collectives and steering."""
