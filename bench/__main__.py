import sys

from rnnbench.bench.cli import main

sys.exit(main())
