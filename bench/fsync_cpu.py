#!/usr/bin/env python3
"""What the kernel charges the CPU for one durable write on this disk (BENCHMARK-ANALYSIS.md,
"The audit trail's floor"): SIZE random bytes written with pwrite at a growing offset, then
fdatasync, COUNT times; prints the rate and the CPU (system CPU apart) per iteration.

    taskset -c 0 python3 bench/fsync_cpu.py FILE SIZE COUNT
"""
import os
import resource
import sys
import time

path, size, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
buf = os.urandom(size)
before, start = resource.getrusage(resource.RUSAGE_SELF), time.time()
offset = 0
for _ in range(count):
    os.pwrite(fd, buf, offset)
    offset = offset + size if offset < 64 << 20 else 0
    os.fdatasync(fd)
after, end = resource.getrusage(resource.RUSAGE_SELF), time.time()
os.close(fd)
os.unlink(path)
system = after.ru_stime - before.ru_stime
cpu = after.ru_utime - before.ru_utime + system
print(f"{size} bytes: {count / (end - start):.0f} write+fdatasync/s, "
      f"CPU {cpu * 1e6 / count:.1f} us each (system {system * 1e6 / count:.1f})")
