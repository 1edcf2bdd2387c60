"""Video in, 3D human motion out. Run ``python vis.py --help``."""
import sys

from demo.cli import main

if __name__ == "__main__":
    sys.exit(main())
