"""Helpers both packages use: errors users read, atomic files and fingerprints, the torch
runtime (device, threads, precision), and the skeletons' joint tables."""
