"""Shared test set-up: one torch thread for the test process and the processes it starts.

The suite runs on small shared machines (2 cores in CI, other jobs beside it). Tiny networks with two contended OpenMP
threads run many times slower than with one (a VM-UNet test: 50 s instead of 2), so every test starts with
`torch.set_num_threads(1)`, and `SSGNET_NUM_THREADS=1` / `OMP_NUM_THREADS=1` are set for what the kit's `setup_torch`
reads and for the kernels and subprocesses the tests start (a value the caller set already is kept).

A test that measures thread behaviour itself marks it: `@pytest.mark.threads` gives it the process's original torch
thread count and the environment without those variables, and puts the one-thread set-up back afterwards.
"""
import os
import pytest
import torch

ONE = {'SSGNET_NUM_THREADS': '1', 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}
_ORIGINAL = dict(threads=torch.get_num_threads(), env={k: os.environ.get(k) for k in ONE})

def pytest_configure(config):
    config.addinivalue_line('markers', "threads: the test measures thread behaviour: run it with the original torch threads and environment")

def _set_env(values: dict):
    for k, v in values.items():
        if v is None: os.environ.pop(k, None)
        else: os.environ[k] = v

@pytest.fixture(scope='session', autouse=True)
def one_torch_thread():
    "One torch thread and the one-thread variables (unless already set) for the whole session; restored at its end."
    _set_env({k: _ORIGINAL['env'][k] or v for k, v in ONE.items()})
    torch.set_num_threads(1)
    yield
    _set_env(_ORIGINAL['env']); torch.set_num_threads(_ORIGINAL['threads'])

@pytest.fixture(autouse=True)
def _thread_policy(request):
    "Each test starts on one thread (a test may have changed it); a `threads`-marked one gets the original set-up instead."
    if request.node.get_closest_marker('threads') is None:
        torch.set_num_threads(1); yield; return
    now = {k: os.environ.get(k) for k in ONE}
    _set_env(_ORIGINAL['env']); torch.set_num_threads(_ORIGINAL['threads'])
    try: yield
    finally: _set_env(now); torch.set_num_threads(1)
