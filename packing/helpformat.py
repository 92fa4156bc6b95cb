"""The --help format of both command-line tools: every option's default shown, unless its help
text already says it, and descriptions kept as written (their line breaks included)."""
from __future__ import annotations

import argparse


class DefaultsHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Appends "(default: X)" to the help of an option with a default worth showing (not None,
    not False, not a suppressed one) whose text does not mention its default yet."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        shown = action.default not in (None, False, argparse.SUPPRESS, [], ())
        if shown and "default" not in text and action.option_strings:
            text += " (default: %(default)s)"
        return text
