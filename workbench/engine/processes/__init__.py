"""Processes that train: a trainer's process, one started in the background, the supervisor of a group under torchrun."""
