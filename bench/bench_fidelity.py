"""Benchmark: training the class-fidelity committee (`ssgnet_nb.fidelity.fidelity_classifier`, three small CNNs), which
the GAN stage trains on every run.

Scheduling: the whole committee (3 members, a few epochs each) on this machine's cores, one process and one
thread per member, either at most one process per core (members queue: 3 members on 2 cores take two rounds) or one
process per member at once (the kit's choice). Wall-clock time: run it on an idle machine (the load average is printed). The layout the
members train in (channels-last) is measured by bench_cpu_layout.py.

    python bench/bench_fidelity.py [--epochs 10]
"""
import argparse, os, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch
from _common import write_section, md_table

def committee_wall(n_proc:int, jobs:list) -> float:
    "Wall seconds to train every job in `n_proc` spawned one-thread processes."
    from ssgnet_nb.core import process_pool
    from ssgnet_nb.fidelity import _member_job
    t = time.time()
    with process_pool(n_proc) as ex: list(ex.map(_member_job, jobs))
    return time.time() - t

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--epochs', type=int, default=10)
    a = ap.parse_args()
    g = torch.Generator().manual_seed(0)   # the demo's shapes: 224 images 3 x 64 x 64, two classes
    x, y = torch.rand(224, 3, 64, 64, generator=g) * 2 - 1, torch.randint(0, 2, (224,), generator=g); w = torch.ones(2)
    cores = len(os.sched_getaffinity(0))
    jobs = [dict(x=x, y=y, w=w, seed=k, epochs=a.epochs, dihedral=False, degrade=True, channels=3, n_cls=2) for k in range(3)]
    load0 = os.getloadavg()[0]
    q, s = committee_wall(min(3, cores), jobs), committee_wall(3, jobs)
    load1 = os.getloadavg()[0]
    rows = [dict(schedule=f"at most one process per core ({min(3, cores)} processes, members queue)", wall_s=f"{q:.1f}", vs_queued='1.00x'),
            dict(schedule="one process per member (3 at once, the kit)", wall_s=f"{s:.1f}", vs_queued=f"{q / s:.2f}x faster")]
    body = (md_table(rows, ['schedule', 'wall_s', 'vs_queued']) +
            f"\n\nThe whole committee (3 members, {a.epochs} epochs each on 224 images 3 x 64 x 64, batch 32, channels-last) on {cores} cores, "
            f"one thread per process; wall-clock time. Load average (1 min) at start / end: {load0:.1f} / {load1:.1f}. The GAN stage trains "
            f"80 epochs per member.\nCommand: `python bench/bench_fidelity.py --epochs {a.epochs}`.")
    write_section('bench_fidelity', body, title='Class-fidelity committee: members at once or queued per core')

if __name__ == '__main__': main()
