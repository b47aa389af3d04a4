"""Offline training: datasets, augmentation, losses, self-supervision, trainer, evaluation, export."""
