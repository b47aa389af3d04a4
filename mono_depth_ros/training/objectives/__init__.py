"""Training objectives: depth losses, monodepth2 self-supervision, and how they are assembled."""
