"""The video application: decoding, detection, tracking, 2D keypoints, rendering, outputs."""
