#!/usr/bin/env python3
"""Exit 0 when a wherry URL answers 200, else 1: the container HEALTHCHECK and compose's.

Standard library only, so it runs in the slim image without wherry's environment, and
bounded by a timeout so a hung API counts as unhealthy rather than hanging the check.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8080/healthz"
TIMEOUT_S = 5.0


def healthy(url: str) -> bool:
    """True when `url` answers 200 within the timeout."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else DEFAULT_URL
    if healthy(url):
        return 0
    print(f"wherry-healthcheck: {url} did not answer 200", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
