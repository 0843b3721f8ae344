"""Run a command and report its peak resident memory: ``python -m bench.peak_rss -- CMD ...``.

Prints ``PEAK_RSS_KB=<n>`` on stderr (the child's ru_maxrss from wait4) and
exits with the child's status.
"""

import os
import sys


def main() -> int:
    argv = sys.argv[1:]
    if argv and argv[0] == "--":
        argv = argv[1:]
    pid = os.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    _, status, usage = os.wait4(pid, 0)
    print(f"PEAK_RSS_KB={usage.ru_maxrss}", file=sys.stderr)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
