"""Motion after lifting: camera, trajectory, ground, smoothing."""
