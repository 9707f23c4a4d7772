"""Work items on threads: every item once, errors raised, torch's threads left as found;
and the eager render on threads equals the one-thread render bit for bit."""

from __future__ import annotations

import shlex
import threading

import pytest
import torch

from nanobragg.commandline.to_config import build_request
from nanobragg.native.threads import run_items
from nanobragg.render.simulate import simulate


@pytest.mark.parametrize("threads", [1, 2, 5])
def test_every_item_once(threads):
    seen, lock = [], threading.Lock()

    def work(item):
        with lock:
            seen.append(item)

    run_items(range(37), work, threads)
    assert sorted(seen) == list(range(37))


def test_error_in_an_item_is_raised_and_stops_the_rest():
    taken = []

    def work(item):
        taken.append(item)
        if item == 3:
            raise ValueError("item 3")

    with pytest.raises(ValueError, match="item 3"):
        run_items(range(10_000), work, 2)
    assert len(taken) < 10_000


def test_single_threaded_ops_inside_and_unchanged_outside():
    before = torch.get_num_threads()
    inside = []
    run_items(range(4), lambda _: inside.append(torch.get_num_threads()), 2,
              single_threaded_ops=True)
    assert inside == [1, 1, 1, 1]
    assert torch.get_num_threads() == before
    later = []
    thread = threading.Thread(target=lambda: later.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    assert later == [before]


@pytest.mark.parametrize("extra", ["-detector_thick 0.2 -thicksteps 2",
                                   "-curved_det -mosaic 0.5 -mosaic_dom 2",
                                   "-oversample 2 -oversample_omega -dmin 3"])
def test_eager_chunks_on_threads_equal_one_thread(extra):
    """Small chunks so that the threads share many; float64 bits must agree."""
    request = build_request(shlex.split(
        "-cell 70 80 90 85 95 100 -default_F 50 -N 4 -lambda 1.2 -distance 80 -pixel 0.4 "
        f"-detpixels 24 {extra}"))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        alone = simulate(request.config, evaluations_per_chunk=512, engine="eager").image
        torch.set_num_threads(2)
        shared = simulate(request.config, evaluations_per_chunk=512, engine="eager").image
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(alone, shared)
