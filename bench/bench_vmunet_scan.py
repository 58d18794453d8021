"""Benchmark: VM-UNet's selective scan on this machine, the fast forms of `ssgnet_nb.vmunet.selective_scan` against the
literal sequential reference `selective_scan_ref`, at the sizes the CPU profiles run (`cpu` preset at 64 px, batch 16,
as in the demo profile; `tiny` at 32 px, batch 8, as in smoke), forward and forward+backward; then whole VM-UNet
training steps (forward+backward) with each scan. Writes its section of BENCHMARKS.md.

    nice -n 5 python bench/bench_vmunet_scan.py            # CPU (torch's default threads)
    python bench/bench_vmunet_scan.py --device cuda         # on a GPU (adds 'mamba' when mamba_ssm is installed; paper preset, 256 px, batch 32)

The implementations alternate within each repetition so all see the same machine load; times are medians of this
process's CPU time on the CPU (1 torch thread by default: on a shared machine that stays comparable, wall time does
not) and of wall time on CUDA.
"""
import argparse, os, statistics, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent)); sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch
from _common import write_section, md_table
from ssgnet_nb import vmunet as V

def scan_sizes(preset, size, batch):
    "(label, b, D, L, N, G) of the selective scan in each encoder stage of `preset` at `size` px."
    p = V.VMUNET_PRESETS[preset]
    return [(f"{preset} {size}px b{batch}, stage {i}", batch, 4 * 2 * c, (size // 4 >> i) ** 2, p['d_state'], 4) for i, c in enumerate(p['dims'])]

def scan_args(b, d, L, n, g, dev, seed=0):
    "Arguments shaped and scaled as in an initialised SS2D (A = -1..-N, Δ = softplus(~N(0, 0.3) + bias for dt in [1e-3, 0.1]))."
    gen = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=gen)
    dt = torch.exp(torch.rand(d, generator=gen) * (torch.log(torch.tensor(0.1)) - torch.log(torch.tensor(1e-3))) + torch.log(torch.tensor(1e-3)))
    kw = dict(u=r(b, d, L), delta=r(b, d, L) * 0.3, A=-torch.arange(1, n + 1.).repeat(d, 1), B=r(b, g, n, L), C=r(b, g, n, L),
              D=torch.ones(d), delta_bias=dt + torch.log(-torch.expm1(-dt)))
    return {k: v.to(dev) for k, v in kw.items()}

CLOCK = time.perf_counter   # set by main: process CPU time on the CPU (robust to other processes' load), wall time on CUDA

def timer(dev):
    sync = torch.cuda.synchronize if dev == 'cuda' else (lambda: None)
    def run(f):
        sync(); t0 = CLOCK(); f(); sync(); return CLOCK() - t0
    return run

def time_scans(kw, impls, reps, bwd, dev, chunk=None):
    "Median seconds per call of each implementation (interleaved repetitions, one warm-up)."
    run, ts = timer(dev), {i: [] for i in impls}
    def call(impl):
        a = {k: v.detach().requires_grad_(bwd) for k, v in kw.items()}
        y = V.selective_scan(**a, impl=impl, chunk=chunk if impl == 'chunked' else None)
        if bwd: y.backward(torch.ones_like(y))
    for i in impls: call(i)
    for _ in range(reps):
        for i in impls: ts[i].append(run(lambda: call(i)))
    return {i: statistics.median(v) for i, v in ts.items()}

def time_model(preset, size, batch, impls, reps, dev):
    "Median seconds of one forward+backward of a VM-UNet `preset` per scan implementation."
    torch.manual_seed(0)
    net, x, run = V.vmunet_model(preset).to(dev), torch.randn(batch, 3, size, size, device=dev), timer(dev)
    def step(impl):
        for m in net.modules():
            if isinstance(m, V.SS2D): m.impl = impl
        net.zero_grad(set_to_none=True); net(x).float().mean().backward()
    ts = {i: [] for i in impls}
    for i in impls: step(i)
    for _ in range(reps):
        for i in impls: ts[i].append(run(lambda: step(i)))
    return {i: statistics.median(v) for i, v in ts.items()}

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--device', default='cpu'); ap.add_argument('--reps', type=int, default=5)
    ap.add_argument('--threads', type=int, default=1, help="torch threads (default 1: on a shared machine CPU time per thread is what stays comparable)")
    ap.add_argument('--clock', choices=('cpu', 'wall'), default=None, help="'cpu': this process's CPU time (default on the CPU), 'wall': wall time (default on CUDA)")
    ap.add_argument('--no-write', action='store_true', help='print only, leave BENCHMARKS.md alone')
    a = ap.parse_args()
    global CLOCK
    if a.threads: torch.set_num_threads(a.threads)
    clock = a.clock or ('cpu' if a.device == 'cpu' else 'wall')
    CLOCK = time.process_time if clock == 'cpu' else time.perf_counter
    torch.set_flush_denormal(True)
    dev, ms = a.device, (lambda s: f"{s * 1e3:.1f}")
    load0 = os.getloadavg()[0]
    impls = ['ref', 'steps', 'chunked'] + (['mamba'] if dev == 'cuda' and V._mamba_kernel() else [])
    sizes = scan_sizes('cpu', 64, 16) + scan_sizes('tiny', 32, 8) if dev == 'cpu' else scan_sizes('paper', 256, 32)
    # 1. chunk length of the chunked form, measured on the largest scan
    lab, *shape = sizes[0]
    kw = scan_args(*shape, dev)
    sweep = {T: time_scans(kw, ['chunked'], a.reps, True, dev, chunk=T)['chunked'] for T in (16, 32, 64, 128)}
    best_T = min(sweep, key=sweep.get); V.SCAN_CHUNK = best_T
    print('chunk sweep (fwd+bwd ms):', {T: ms(t) for T, t in sweep.items()}, 'best', best_T, flush=True)
    # 2. each scan size, forward and forward+backward
    rows = []
    for lab, *shape in sizes:
        if shape[2] < 16: continue                                       # 2x2 maps and smaller: a few steps, negligible
        kw = scan_args(*shape, dev)
        for bwd in (False, True):
            t = time_scans(kw, impls, a.reps, bwd, dev)
            row = {'scan (b, D, L, N, G)': f"{lab}: {tuple(shape)}", 'pass': 'fwd+bwd' if bwd else 'fwd', 'ref ms': ms(t['ref'])}
            for i in impls[1:]: row[f'{i} ms (x ref)'] = f"{ms(t[i])} ({t['ref'] / t[i]:.1f}x)"
            rows.append(row); print(row, flush=True)
    # 3. whole training steps
    mrows = []
    for preset, size, batch in ([('tiny', 32, 8), ('cpu', 64, 16)] if dev == 'cpu' else [('paper', 256, 32)]):
        t = time_model(preset, size, batch, impls, max(2, a.reps // 2), dev)
        row = {'VM-UNet fwd+bwd': f"{preset} {size}px b{batch} ({V.count_params(V.vmunet_model(preset)) / 1e6:.2f} M params)", 'ref ms': ms(t['ref'])}
        for i in impls[1:]: row[f'{i} ms (x ref)'] = f"{ms(t[i])} ({t['ref'] / t[i]:.1f}x)"
        mrows.append(row); print(row, flush=True)
    load1 = os.getloadavg()[0]
    best = {i: [float(r[f'{i} ms (x ref)'].split('(')[1].rstrip('x)')) for r in rows] for i in impls[1:]}
    verdict = (f"The fast scan is {min(best['steps']):.1f}-{max(best['steps']):.1f}x faster than the reference here (`steps`; `chunked` "
               f"{min(best['chunked']):.1f}-{max(best['chunked']):.1f}x), short of the 10x the issue asked for. The gain comes from layout (B_t, C_t "
               "shared by the channels of a scan direction instead of copied per channel; contiguous per-step slices), not from the "
               "parallel form: at these sizes one step already fills a core, and the chunked form does about twice the arithmetic "
               "of the step loop (two exponentials per element, a cumulative sum, the carried-state term). That is why "
               "`selective_scan` runs `steps` on the CPU and `chunked` (or mamba_ssm's kernel) on CUDA, where the number of "
               "sequential launches (L/T against L) counts more than arithmetic." if dev == 'cpu' else
               "On CUDA the cost is dominated by sequential kernel launches: L for the reference and `steps`, L/T for `chunked`.")
    cols = ['scan (b, D, L, N, G)', 'pass', 'ref ms'] + [f'{i} ms (x ref)' for i in impls[1:]]
    body = f"""`selective_scan` (impl `steps`: contiguous step loop; `chunked`: parallel form inside chunks of T = {best_T} steps, chosen below)
against the literal sequential reference `selective_scan_ref`, at the scan sizes of the {'CPU profiles (demo: `cpu` preset, 64 px, batch 16; smoke: `tiny`, 32 px, batch 8)' if dev == 'cpu' else 'paper profile (`paper` preset, 256 px, batch 32)'},
then whole VM-UNet forward+backward passes with each scan. Median {'CPU time of this process' if clock == 'cpu' else 'wall time'} over {a.reps} interleaved repetitions,
{torch.get_num_threads()} torch thread(s){', run under `nice -n 5`' if os.nice(0) > 0 else ''}. The machine is shared (load average {load0:.1f} at the start, {load1:.1f} at the end){': CPU time, unlike wall time, does not count the time other processes hold the cores' if clock == 'cpu' else ''}.

{md_table(rows, cols)}

{md_table(mrows, ['VM-UNet fwd+bwd', 'ref ms'] + [f'{i} ms (x ref)' for i in impls[1:]])}

Chunk length T of `chunked` (largest scan, fwd+bwd ms): {', '.join(f'T={T}: {ms(t)}' for T, t in sweep.items())}.

{verdict}"""
    if not a.no_write: write_section('bench_vmunet_scan', body, 'VM-UNet selective scan: fast forms vs the sequential reference' + (' (CUDA)' if dev == 'cuda' else ''))
    else: print(body)

if __name__ == '__main__': main()
