"""faces_throughput: live rooms with a protected person on camera, faces + marks detectors at 2 fps.

    python benchmarks/faces_throughput.py [--seconds 30] [--max-rooms 16]

The same ramp as streams_per_core.py (real nginx-rtmp, 720p30 rooms, p95
time-to-alert <= 2 s and no dropped frames), with a real portrait on screen
the whole time and the faces detector beside the marks detector.
Goal (issue 5): >= 12 rooms on 2 cores.
"""

import sys

from streams_per_core import main

if __name__ == "__main__":
    sys.argv = [sys.argv[0], "--with-faces", *sys.argv[1:]]
    main()
