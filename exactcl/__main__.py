"""``python -m exactcl ...``: the ``exactcl`` command (:mod:`exactcl.interfaces.cli`)."""

import sys

from .interfaces.cli import main

if __name__ == "__main__":
    sys.exit(main())
