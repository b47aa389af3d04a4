"""The training loop: configuration, set-up, state (checkpoints), logging, multi-process."""
