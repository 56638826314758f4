"""Tiny check harness shared by the Python conformance scripts.

Every check prints exactly one line, ``PASS name`` or ``FAIL name: reason``, which
``run.sh`` counts. A script that reaches its end prints ``END <script>``; run.sh counts a
script that does not (a crash, a hang killed by the timeout) as one extra failure.
"""

from __future__ import annotations

import os
import sys
import traceback
from contextlib import contextmanager

_failed = 0


class CheckFailed(AssertionError):
    pass


def endpoint() -> str:
    url = os.environ.get("TRENT_URL") or (sys.argv[1] if len(sys.argv) > 1 else "")
    if not url:
        sys.exit("TRENT_URL is not set (nor given as the first argument)")
    return url


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text[:600] + ("..." if len(text) > 600 else "")


def ok(name: str) -> None:
    print(f"PASS {name}", flush=True)


def fail(name: str, reason: str) -> None:
    global _failed
    _failed += 1
    print(f"FAIL {name}: {_one_line(reason)}", flush=True)


@contextmanager
def check(name: str):
    """Runs the body as one check; any exception makes it a FAIL with its message."""
    try:
        yield
    except CheckFailed as e:
        fail(name, str(e))
    except Exception as e:  # noqa: BLE001 - a check reports whatever went wrong
        if os.environ.get("CONFORMANCE_VERBOSE"):
            traceback.print_exc()
        fail(name, f"{type(e).__name__}: {e}")
    else:
        ok(name)


def expect(cond: bool, message: str) -> None:
    if not cond:
        raise CheckFailed(message)


def eq(actual, expected, what: str) -> None:
    if actual != expected:
        raise CheckFailed(f"{what}: expected {expected!r}, got {actual!r}")


def end(script: str) -> None:
    print(f"END {script}", flush=True)
    sys.exit(1 if _failed else 0)
