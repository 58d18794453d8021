"""Benchmark: training the class-fidelity committee (`ssgnet_nb.fidelity.fidelity_classifier`, three small CNNs), which
the GAN stage trains on every run.

Part 1, memory layout: one training epoch of one member (the demo's shapes: 224 images, 3 x 64 x 64, batch 32, with the
random flips, blur and noise of `_train_member`) in PyTorch's default NCHW layout and in channels-last (NHWC). Median
CPU time of this process over interleaved repetitions, 1 torch thread: other processes' load does not enter the ratio.

Part 2, scheduling: the whole committee (3 members, a few epochs each) on this machine's cores, one process and one
thread per member, either at most one process per core (members queue: 3 members on 2 cores take two rounds) or one
process per member at once (the kit's choice). Wall-clock time: run it on an idle machine (the load average is printed).

    python bench/bench_fidelity.py [--reps 5] [--epochs 10]
"""
import argparse, os, statistics, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch, torch.nn.functional as F
from _common import write_section, md_table

def epoch_time(cl:bool, x, y, w, seed=0) -> float:
    "CPU seconds of one training epoch of a fresh member (after one warm-up epoch), NHWC if `cl`."
    from ssgnet_nb.fidelity import _small_cnn, _flip_rotate, _degrade
    torch.manual_seed(seed); gen = torch.Generator().manual_seed(seed)
    fmt = torch.channels_last if cl else torch.contiguous_format
    net = _small_cnn(x.shape[1], 2).to(memory_format=fmt); opt = torch.optim.Adam(net.parameters(), 2e-3)
    def ep():
        for idx in torch.randperm(len(y), generator=gen).split(32):
            xb = _degrade(_flip_rotate(x[idx], gen, False), gen).contiguous(memory_format=fmt)
            loss = F.cross_entropy(net(xb), y[idx], weight=w); opt.zero_grad(); loss.backward(); opt.step()
    ep(); t = time.process_time(); ep(); return time.process_time() - t

def committee_wall(n_proc:int, jobs:list) -> float:
    "Wall seconds to train every job in `n_proc` spawned one-thread processes."
    from ssgnet_nb.core import process_pool
    from ssgnet_nb.fidelity import _member_job
    t = time.time()
    with process_pool(n_proc) as ex: list(ex.map(_member_job, jobs))
    return time.time() - t

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--reps', type=int, default=5); ap.add_argument('--epochs', type=int, default=10)
    a = ap.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(224, 3, 64, 64, generator=g) * 2 - 1, torch.randint(0, 2, (224,), generator=g); w = torch.ones(2)
    t = {False: [], True: []}
    for r in range(a.reps):
        for cl in (False, True) if r % 2 == 0 else (True, False): t[cl].append(epoch_time(cl, x, y, w, seed=r))
    m = {cl: statistics.median(v) for cl, v in t.items()}
    rows1 = [dict(layout='NCHW (default)', s_per_epoch=f"{m[False]:.3f}", vs_default='1.00x'),
             dict(layout='NHWC (channels-last, the kit)', s_per_epoch=f"{m[True]:.3f}", vs_default=f"{m[False] / m[True]:.2f}x faster")]
    cores = len(os.sched_getaffinity(0))
    jobs = [dict(x=x, y=y, w=w, seed=k, epochs=a.epochs, dihedral=False, degrade=True, channels=3, n_cls=2) for k in range(3)]
    load0 = os.getloadavg()[0]
    q, s = committee_wall(min(3, cores), jobs), committee_wall(3, jobs)
    load1 = os.getloadavg()[0]
    rows2 = [dict(schedule=f"at most one process per core ({min(3, cores)} processes, members queue)", wall_s=f"{q:.1f}", vs_queued='1.00x'),
             dict(schedule="one process per member (3 at once, the kit)", wall_s=f"{s:.1f}", vs_queued=f"{q / s:.2f}x faster")]
    body = (md_table(rows1, ['layout', 's_per_epoch', 'vs_default']) +
            f"\n\nOne epoch of one committee member (224 images 3 x 64 x 64, batch 32, flips, blur and noise), median CPU time of this "
            f"process over {a.reps} interleaved repetitions, 1 torch thread.\n\n" +
            md_table(rows2, ['schedule', 'wall_s', 'vs_queued']) +
            f"\n\nThe whole committee (3 members, {a.epochs} epochs each, NHWC) on {cores} cores, one thread per process; wall-clock "
            f"time. Load average (1 min) at start / end: {load0:.1f} / {load1:.1f}. The GAN stage trains 80 epochs per member.\n"
            f"Command: `python bench/bench_fidelity.py --reps {a.reps} --epochs {a.epochs}`.")
    write_section('bench_fidelity', body, title='Class-fidelity committee: memory layout and scheduling')

if __name__ == '__main__': main()
