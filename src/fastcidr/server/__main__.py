"""``python -m fastcidr.server``: the same as ``fastcidr serve``."""
import sys

from . import main

if __name__ == "__main__":  # importing this module (e.g. by stubtest) must not start a server
    sys.exit(main())
