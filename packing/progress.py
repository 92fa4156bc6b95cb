"""Progress bars of both command-line tools: tqdm on stderr, silent when asked and whenever
stderr is not a terminal, so that a log file gets no bar refreshes (one line each)."""
from __future__ import annotations

import sys


def progress_bar(total: int, enabled: bool = True, **kwargs):
    """A tqdm bar of ``total`` steps on stderr; disabled when ``enabled`` is False or stderr is
    not a TTY (tqdm's ``disable=None``). Keyword arguments go to tqdm (desc, unit, leave)."""
    from tqdm import tqdm

    return tqdm(total=total, disable=None if enabled else True, file=sys.stderr, **kwargs)
