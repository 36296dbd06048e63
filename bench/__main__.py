"""``python -m bench [--quick] [--out BENCHMARKS.md] [--sections a,b,...] [--device auto|cpu|cuda]``."""

import sys

from bench.runner import main

sys.exit(main())
