"""A SIGKILL of a study's main process leaves no loky worker behind (issue 27: before, 2 workers and 2
resource trackers were still alive 64 s after the kill, each until killed by hand)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

_SCRIPT = textwrap.dedent("""
    import os, sys, time
    from joblib import Parallel, delayed
    from lipconv._workers import loky_backend_ending_with_parent
    if sys.argv[1] == "watch":
        loky_backend_ending_with_parent()

    def busy(i):
        t = time.time()
        while time.time() - t < 60:  # a run far longer than the test
            pass
        return i

    print(os.getpid(), flush=True)
    for r in Parallel(n_jobs=2, backend="loky", batch_size=1, return_as="generator_unordered")(
            delayed(busy)(i) for i in range(4)):
        pass
""")


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out += [int(c) for c in text]
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _start(mode: str, tmp_path):
    script = tmp_path / "job.py"
    script.write_text(_SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, str(script), mode], stdout=subprocess.PIPE, text=True, env=env)
    main = int(proc.stdout.readline())
    deadline = time.monotonic() + 60
    workers = []
    while time.monotonic() < deadline:  # two loky workers (and the resource trackers) started
        kids = _children(main)
        workers = [k for k in kids if "LokyProcess" in Path(f"/proc/{k}/cmdline").read_text()]
        if len(workers) == 2:
            break
        time.sleep(0.2)
    assert len(workers) == 2, f"the loky workers did not start: children {kids}"
    time.sleep(1.0)  # both are inside a run
    return proc, _children(main)


def _kill_and_wait(proc, children, seconds):
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_alive(c) for c in children):
        time.sleep(0.1)
    return [c for c in children if _alive(c)]


def test_workers_end_within_seconds_of_a_sigkill_of_the_main_process(tmp_path):
    proc, children = _start("watch", tmp_path)
    left = _kill_and_wait(proc, children, 10.0)
    assert not left, f"processes left behind 10 s after the SIGKILL: {left}"


@pytest.mark.slow
def test_without_the_watch_the_workers_outlive_the_kill(tmp_path):
    """The control: plain loky workers are still running their tasks 5 s after the kill."""
    proc, children = _start("plain", tmp_path)
    try:
        left = _kill_and_wait(proc, children, 5.0)
        assert left, "the workers ended without the watch: the test above would prove nothing"
    finally:
        for c in _children_alive(children):
            os.kill(c, signal.SIGKILL)


def _children_alive(children):
    return [c for c in children if _alive(c)]
