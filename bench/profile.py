"""py-spy on the im-server under load, and a short summary of where the time went.

The raw collapsed stacks are too long for a report; the summary keeps the top frames
by inclusive and by self share of the busy samples.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from bench.log import log
from bench.settings import PY, ROOT

__all__ = ["start_profile", "summarize_profile"]


def start_profile(pid: int, seconds: float, out: Path, *,
                  gil: bool = False) -> subprocess.Popen[bytes] | None:
    """py-spy on ``pid``: every non-idle thread, or (``gil``) only the GIL holder."""
    spy = Path(PY).parent / "py-spy"
    if not spy.exists():
        spy = Path(shutil.which("py-spy") or "py-spy")
    if not spy.exists():
        log("py-spy is not installed (pip install py-spy): no profile")
        return None
    return subprocess.Popen([str(spy), "record", "--pid", str(pid), "--duration",
                             str(int(seconds)), "--rate", "250", "--format", "raw", "--output",
                             str(out), "--nonblocking", *(["--gil"] if gil else [])],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarize_profile(path: Path, top: int = 18) -> str:
    """Top frames of py-spy's collapsed stacks: inclusive and self share of samples.

    Idle time (gevent's hub waiting in its event loop, threads waiting on a condition
    or in select) is left out so the shares are of the time spent working.
    """
    idle = ("wait (threading.py", "select (selectors.py", "poll (selectors.py",
            "_recv_into", "run (gevent/hub.py", "wait (gevent/", "sleep (gevent/",
            "switch (gevent/")
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        leaf = frames[-1]
        if any(mark in leaf for mark in idle):
            continue
        n = int(count)
        total += n
        own[leaf] = own.get(leaf, 0) + n
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n
    if not total:
        return "(no busy samples)"

    def short(frame: str) -> str:
        frame = re.sub(r"/[^ ]*/(site-packages|lib/python3\.\d+)/", "", frame)
        return frame.replace(str(ROOT) + "/", "")

    lines = [f"busy samples: {total}", "inclusive (frames on the stack):"]
    skip = ("<module>", "run (threading.py", "_bootstrap", "run (gevent/", "handle (gunicorn/",
            "init_process (gunicorn/")
    ranked = [kv for kv in sorted(inclusive.items(), key=lambda kv: -kv[1])
              if not any(s in kv[0] for s in skip)]
    lines += [f"  {100 * n / total:5.1f}%  {short(f)}" for f, n in ranked[:top]]
    lines.append("self (leaf frames):")
    lines += [f"  {100 * n / total:5.1f}%  {short(f)}"
              for f, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]]
    return "\n".join(lines)
