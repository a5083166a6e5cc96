"""`python -m bench [CAPTURE]`: see bench/README.md."""

import os

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # one core: set before polars is imported

from bench.run import main

main()
