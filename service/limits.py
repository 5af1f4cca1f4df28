"""What the HTTP server refuses before a request reaches a handler, and how long it waits for a client."""

from __future__ import annotations

from typing import Final

# Longest request line (method, path and query string) and longest header line, in bytes; longer is a 400.
MAX_LINE_SIZE: Final = 8190
