"""The text report styled for a terminal with ``rich`` (colour only: the words are those of
:func:`trd_cds.engine.render.text`, so piped output and terminal output say the same)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rich is imported only when a terminal asks for colour
    from rich.text import Text

#: (regular expression, rich style), applied in order to every line.
STYLES: tuple[tuple[str, str], ...] = (
    (r"^NEXT STEP: .*$", "bold reverse"),
    (
        r"^(NOW|NEXT|LATER|THROUGHOUT|OVERRIDDEN|DATA NEEDED|SETTINGS IN FORCE|DETAILS|GATES"
        r"|RECOMMENDATIONS|NOT RECOMMENDED|CAUTIONS|FINDINGS)\b.*$",
        "bold",
    ),
    (r"\((offer)[^)]*\)", "green"),
    (r"\((consider)[^)]*\)", "yellow"),
    (r"after stabilisation", "dim"),
    (r"^  x .*$", "red"),
    (r"^  \? ", "bold cyan"),
    (r"^  ! .*$", "bold red"),
)


def styled(text: str) -> Text:
    """The plain text with styles for a terminal."""
    from rich.text import Text

    out = Text(text, no_wrap=True)
    for pattern, style in STYLES:
        for m in re.finditer(pattern, text, flags=re.MULTILINE):
            out.stylize(style, m.start(), m.end())
    return out


def print_styled(text: str) -> None:
    """Print the text report to the terminal in colour."""
    from rich.console import Console

    Console(highlight=False, soft_wrap=True).print(styled(text), end="")
