"""`python -m contrastlens` (also what `torchrun -m contrastlens` runs)."""

import sys

from contrastlens.cli import main

if __name__ == "__main__":
    sys.exit(main())
