"""benchmarks.work_lock: parallel benchmark processes sharing a work directory build the world and depth model once."""

import multiprocessing
import os
import threading

from benchmarks.work_lock import exclusive


def _hold(path, acquired, release):
    with exclusive(path):
        acquired.set()
        release.wait(30)


def _die_holding(path, acquired):
    with exclusive(path):
        acquired.set()
        os._exit(1)  # dies inside the block: nothing but the kernel releases the lock


def _acquire_in_thread(path) -> threading.Event:
    """Starts a thread that takes the lock; the returned event is set once it holds it."""
    got = threading.Event()

    def take():
        with exclusive(path):
            got.set()

    threading.Thread(target=take, daemon=True).start()
    return got


def test_a_second_process_waits_until_the_first_releases(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    acquired, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(tmp_path / "depth.lock", acquired, release))
    holder.start()
    try:
        assert acquired.wait(30)
        got = _acquire_in_thread(tmp_path / "depth.lock")
        assert not got.wait(0.5), "the lock was taken while another process held it"
        release.set()
        assert got.wait(30), "the lock was not handed over after the holder released it"
    finally:
        release.set()
        holder.join(30)


def test_a_crashed_holder_leaves_no_stale_lock(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    acquired = ctx.Event()
    holder = ctx.Process(target=_die_holding, args=(tmp_path / "nested" / "world.lock", acquired))
    holder.start()
    assert acquired.wait(30)
    holder.join(30)
    assert holder.exitcode == 1
    assert _acquire_in_thread(tmp_path / "nested" / "world.lock").wait(10), "a dead process's lock was still held"
