"""faces_throughput: live rooms with a protected person on camera, faces + marks detectors at 2 fps.

    python benchmarks/faces_throughput.py [--seconds 34] [--max-rooms 16]

streams_per_core.py --with-faces: the same ramps and the same two verdicts (start-up and steady state;
real nginx-rtmp, 720p30 rooms), with a real portrait on screen the whole time and the faces detector beside
the marks detector; every room must also raise `impersonation` (p95 within 3 s of its first frame).
Goal (issue 5): >= 12 rooms on 2 cores.
"""

import sys

from streams_per_core import main

if __name__ == "__main__":
    sys.argv = [sys.argv[0], "--with-faces", *sys.argv[1:]]
    main()
