"""Worker processes that end with the process that started them.

A study's loky workers outlive a SIGKILL of the study's main process: a worker in the middle of a
run finishes it, and an idle one waits for loky's idle timeout (300 s) before it exits; the
resource trackers stay as long as any worker holds their pipe (measured: 2 workers and 2 trackers
still alive 64 s after the kill, each of them until killed by hand). SIGKILL cannot be caught, so
the workers watch for it themselves: :func:`exit_with_parent` (a loky ``initializer``) starts a
daemon thread that ends the worker once its parent process is gone (``os.getppid()`` changes when
the parent dies and the worker is re-parented). Polling rather than Linux's ``PR_SET_PDEATHSIG``:
that signal fires when the parent *thread* that spawned the worker ends, and loky respawns
workers from a management thread.
"""
from __future__ import annotations

import os
import threading
import time

__all__ = ["exit_with_parent", "loky_backend_ending_with_parent"]

POLL_SECONDS = 0.5


def exit_with_parent(parent_pid: int, interval: float = POLL_SECONDS) -> None:
    """Start a daemon thread that ends this process (``os._exit``) within ``interval`` seconds of
    the death of ``parent_pid``, its parent."""

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(interval)
        os._exit(1)

    if os.getppid() != parent_pid:  # already orphaned before the thread could start
        os._exit(1)
    threading.Thread(target=watch, name="lipconv-exit-with-parent", daemon=True).start()


def loky_backend_ending_with_parent():
    """Make joblib's "loky" backend start its workers with :func:`exit_with_parent` (registered under
    the same name, so code that asks for ``backend="loky"`` gets it). For the main process of a
    command-line study: it changes joblib's registry for the whole process."""
    from joblib import parallel, register_parallel_backend

    loky = parallel.BACKENDS["loky"]
    if getattr(loky, "_lipconv_ends_with_parent", False):
        return
    parent = os.getpid()

    class LokyEndingWithParent(loky):
        _lipconv_ends_with_parent = True

        def __init__(self, **kwargs):
            kwargs.setdefault("initializer", exit_with_parent)
            kwargs.setdefault("initargs", (parent,))
            super().__init__(**kwargs)

    register_parallel_backend("loky", LokyEndingWithParent)
