"""``python -m fastcidr.server``: the same as ``fastcidr serve``."""
import sys

from . import main

sys.exit(main())
