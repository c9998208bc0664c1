"""``python -m exactcl ...``: the ``exactcl`` command (:mod:`exactcl.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
