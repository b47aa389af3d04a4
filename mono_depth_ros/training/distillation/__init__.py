"""Distillation: a teacher labels recordings (LiDAR-calibrated pseudo-labels), a fast student learns them."""
