"""Readers for on-disk datasets (KITTI, NYU): units converted once, at load."""
