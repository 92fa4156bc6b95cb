"""``python -m dlbridge.compare FILE.h5 ... --out DIR``."""
from .command import main

raise SystemExit(main())
