"""Benchmark: one StyleGAN3 training step (G fwd+bwd, D fwd+bwd; non-saturating loss; Adam) with the fast resampling
path versus the literal reference path, for the tiny 64 px config and a 128 px config; writes BENCHMARKS.md.
The fast path is timed twice: with its compiled C filtered-lrelu kernel (`fast`, the default where a C compiler
builds it) and with the chunked GEMM node (`gemm`, `FAST_KERNEL = 'gemm'`, what runs without a compiler).

    python bench/bench_stylegan3.py                 # CPU (or CUDA when present): tiny 64 px and 128 px, fast vs ref
    python bench/bench_stylegan3.py --paper         # adds the 256 px paper config (meant for a GPU)

Each config runs in its own subprocess (on a snapshot of the package); inside it the fast and reference paths alternate
step by step so both see the same machine load. Images/s = batch / median step time after warm-up.
"""
import argparse, json, os, subprocess, sys, time, resource
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parents[1]

CONFIGS = {  # name: (G kwargs, D kwargs, batch)
    'T 64px tiny (cbase 2048, cmax 64)': (dict(z_dim=64, w_dim=64, img_resolution=64, channel_base=2048, channel_max=64), dict(img_resolution=64, channel_base=2048, channel_max=64), 4),
    'T 128px (cbase 4096, cmax 128)': (dict(z_dim=128, w_dim=128, img_resolution=128, channel_base=4096, channel_max=128), dict(img_resolution=128, channel_base=4096, channel_max=128), 4),
}
PAPER = {'T 256px paper (cbase 32768, cmax 512)': (dict(z_dim=512, w_dim=512, img_resolution=256), dict(img_resolution=256), 16)}

def one(name, steps, warmup, dev, threads):
    "Both paths in one process, steps interleaved (fast, ref, fast, ref, ...) so that both see the same machine load."
    import torch, torch.nn.functional as F, statistics
    import ssgnet_nb, ssgnet_nb.stylegan3.filters as fl
    from ssgnet_nb.stylegan3.networks import Generator, Discriminator
    PATHS = ('fast', 'gemm', 'ref')
    def as_impl(impl):
        "impl argument and FAST_KERNEL for a path name: 'gemm' is the fast path with the GEMM node instead of the C kernel."
        fl.FAST_KERNEL = 'gemm' if impl == 'gemm' else 'c' if dev == 'cpu' else 'auto'
        return 'fast' if impl == 'gemm' else impl
    print('using', ssgnet_nb.__file__, file=sys.stderr)
    if threads: torch.set_num_threads(threads)
    torch.set_flush_denormal(True); torch.manual_seed(0)
    gk, dk, B = {**CONFIGS, **PAPER}[name]
    G, D = Generator(**gk).to(dev), Discriminator(**dk).to(dev)
    oG = torch.optim.Adam(G.parameters(), lr=0.0025, betas=(0.0, 0.99), eps=1e-8)
    oD = torch.optim.Adam(D.parameters(), lr=0.002, betas=(0.0, 0.99), eps=1e-8)
    R = gk['img_resolution']
    real = torch.randn(B, 3, R, R, device=dev).clamp(-1, 1)
    def step(impl):
        impl = as_impl(impl)
        # Gmain: non-saturating G loss
        G.requires_grad_(True); D.requires_grad_(False)
        oG.zero_grad(set_to_none=True)
        F.softplus(-D(G(torch.randn(B, G.z_dim, device=dev), impl=impl), impl=impl)).mean().backward()
        oG.step()
        # Dmain: fakes (with EMA updates, as the official loss does) and reals
        G.requires_grad_(False); D.requires_grad_(True)
        oD.zero_grad(set_to_none=True)
        with torch.no_grad(): fake = G(torch.randn(B, G.z_dim, device=dev), update_emas=True, impl=impl)
        (F.softplus(D(fake, impl=impl)) + F.softplus(-D(real, impl=impl))).mean().backward()
        oD.step()
    sync = (lambda: torch.cuda.synchronize()) if dev == 'cuda' else (lambda: None)
    rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = dict(batch=B, threads=torch.get_num_threads(), G_params=sum(p.numel() for p in G.parameters()), D_params=sum(p.numel() for p in D.parameters()))
    # memory: the fast path first (its peak), then the reference (the peak of both; the larger is the reference's if it grew)
    for _ in range(warmup): step('fast')
    out['rss_fast_mb'] = rss()
    if dev == 'cuda': out['cuda_fast_mb'] = torch.cuda.max_memory_allocated() / 2**20; torch.cuda.reset_peak_memory_stats()
    for _ in range(warmup): step('gemm')
    for _ in range(warmup): step('ref')
    out['rss_both_mb'] = rss()
    if dev == 'cuda': out['cuda_ref_mb'] = torch.cuda.max_memory_allocated() / 2**20
    t = {k: [] for k in PATHS}; c = {k: [] for k in PATHS}
    for i in range(steps):
        for impl in (PATHS if i % 2 == 0 else PATHS[::-1]):
            sync(); t0, c0 = time.perf_counter(), time.process_time()
            step(impl); sync()
            t[impl].append(time.perf_counter() - t0); c[impl].append(time.process_time() - c0)
    for k in t:
        out[f'{k}_step_s'] = statistics.median(t[k]); out[f'{k}_cpu_s'] = statistics.median(c[k]); out[f'{k}_img_s'] = B / out[f'{k}_step_s']
        out[f'{k}_steps_s'] = [round(v, 2) for v in t[k]]
    # the parts that differ, alone: every synthesis layer's filtered lrelu (bias, up-sampling, activation, down-sampling) and
    # modulated conv, fwd+bwd on the layer's real input, summed over the 15 layers; fast and ref alternate as above
    import math
    from ssgnet_nb.stylegan3.filters import filtered_lrelu
    from ssgnet_nb.stylegan3.networks import modulated_conv2d
    with torch.no_grad():
        ws = G.mapping(torch.randn(B, G.z_dim, device=dev)).unbind(1); x = G.synthesis.input(ws[0]); layers = []
        for n, w in zip(G.synthesis.layer_names, ws[1:]):
            l = getattr(G.synthesis, n); st = l.affine(w)
            if l.is_torgb: st = st * (1 / math.sqrt(l.in_channels * l.conv_kernel ** 2))
            mk = dict(padding=l.conv_kernel - 1, demodulate=not l.is_torgb, input_gain=l.magnitude_ema.rsqrt())
            y = modulated_conv2d(x, l.weight, st, **mk)
            fk = dict(fu=l.up_filter, fd=l.down_filter, b=l.bias, up=l.up_factor, down=l.down_factor, padding=l.padding,
                      gain=1 if l.is_torgb else math.sqrt(2), slope=1 if l.is_torgb else 0.2, clamp=l.conv_clamp)
            layers.append((n, x, st, mk, y, fk, l)); x = l(x, w)
    def fl_part(impl, only=None):
        for n, x, st, mk, y, fk, l in layers:
            if only and n != only: continue
            yy = y.clone().requires_grad_(True); o = filtered_lrelu(yy, impl=as_impl(impl), **fk); o.backward(torch.ones_like(o))
    def mc_part(impl):
        for n, x, st, mk, y, fk, l in layers:
            xx = x.clone().requires_grad_(True); o = modulated_conv2d(xx, l.weight, st, fused=impl == 'ref', **mk); o.backward(torch.ones_like(o))
    big = max(layers, key=lambda t: t[4].numel() * t[6].up_factor ** 2)[0]    # largest oversampled canvas x channels
    out['largest_layer'] = big
    for part, fn in [('resample', fl_part), ('resample_big', lambda impl: fl_part(impl, big)), ('modconv', mc_part)]:
        paths = PATHS if part != 'modconv' else ('fast', 'ref')   # the modulated conv has no GEMM variant
        tp = {k: [] for k in paths}
        for impl in paths: fn(impl)   # warm-up
        for i in range(steps):
            for impl in (paths if i % 2 == 0 else paths[::-1]):
                sync(); t0 = time.perf_counter(); fn(impl); sync(); tp[impl].append(time.perf_counter() - t0)
        for k in tp: out[f'{part}_{k}_s'] = statistics.median(tp[k])
    G.zero_grad(set_to_none=True)
    with torch.no_grad():   # equal outputs: fast vs reference on the same weights and latents
        z = torch.randn(2, G.z_dim, device=dev)
        a, g, b = G(z, impl=as_impl('fast')), G(z, impl=as_impl('gemm')), G(z, impl='ref')
        out['max_abs_diff_G'] = float((a - b).abs().max()); out['max_abs_G'] = float(b.abs().max())
        out['max_abs_diff_G_gemm'] = float((g - b).abs().max())
        out['max_abs_diff_D'] = float((D(a, impl='fast') - D(a, impl='ref')).abs().max())
    print('RESULT ' + json.dumps(out))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--one'); ap.add_argument('--steps', type=int, default=3); ap.add_argument('--warmup', type=int, default=1)
    ap.add_argument('--threads', default='0', help='comma list of torch thread counts to run, 0 = torch default')
    ap.add_argument('--paper', action='store_true'); ap.add_argument('--device', default=None); ap.add_argument('--no-write', action='store_true')
    a = ap.parse_args()
    import torch
    dev = a.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if a.one: return one(a.one, a.steps, a.warmup, dev, int(a.threads))
    from _common import write_section, md_table
    names = list(CONFIGS) + (list(PAPER) if a.paper else [])
    # snapshot the package once: other notebooks may be re-exported while the benchmark runs
    import shutil, tempfile
    snap = Path(tempfile.mkdtemp(prefix='bench_sg3_'))
    shutil.copytree(ROOT / 'ssgnet_nb', snap / 'ssgnet_nb', ignore=shutil.ignore_patterns('__pycache__'))
    env = {**os.environ, 'PYTHONPATH': f"{snap}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    load0, t_start = os.getloadavg(), time.time()
    rows, parts = [], []
    for th in [int(v) for v in a.threads.split(',')]:
        for n in names:
            cmd = [sys.executable, __file__, '--one', n, '--steps', str(a.steps), '--warmup', str(a.warmup), '--device', dev, '--threads', str(th)]
            p = subprocess.run(cmd, capture_output=True, text=True, cwd=snap, env=env)
            line = [l for l in p.stdout.splitlines() if l.startswith('RESULT ')]
            if not line: print(p.stdout, p.stderr); raise SystemExit(f'{n} failed')
            r = json.loads(line[0][7:]); print(n, r, flush=True)
            row = {'config': n, 'threads': r['threads'], 'batch': r['batch'], 'G / D params': f"{r['G_params']/1e6:.2f} M / {r['D_params']/1e6:.2f} M",
                   'fast / gemm / ref s/step': f"{r['fast_step_s']:.2f} / {r['gemm_step_s']:.2f} / {r['ref_step_s']:.2f}",
                   'fast / ref img/s': f"{r['fast_img_s']:.2f} / {r['ref_img_s']:.2f}", 'speed-up (ref/fast time)': f"**{r['ref_step_s']/r['fast_step_s']:.2f}x**",
                   'speed-up gemm (ref/gemm time)': f"{r['ref_step_s']/r['gemm_step_s']:.2f}x",
                   'CPU s/step fast / ref': f"{r['fast_cpu_s']:.2f} / {r['ref_cpu_s']:.2f}",
                   'peak RSS fast / fast+ref': f"{r['rss_fast_mb']:.0f} / {r['rss_both_mb']:.0f} MB",
                   'max abs diff G fast / gemm (max abs G)': f"{r['max_abs_diff_G']:.1e} / {r['max_abs_diff_G_gemm']:.1e} ({r['max_abs_G']:.2f})"}
            if dev == 'cuda': row['CUDA peak fast / ref'] = f"{r['cuda_fast_mb']:.0f} / {r['cuda_ref_mb']:.0f} MB"
            rows.append(row)
            ratio = lambda p: f"{r[f'{p}_fast_s']:.3f} / {r[f'{p}_ref_s']:.3f} s (**{r[f'{p}_ref_s'] / r[f'{p}_fast_s']:.2f}x**)"
            ratio3 = lambda p: f"{r[f'{p}_fast_s']:.3f} / {r[f'{p}_gemm_s']:.3f} / {r[f'{p}_ref_s']:.3f} s (**{r[f'{p}_ref_s'] / r[f'{p}_fast_s']:.2f}x**, gemm {r[f'{p}_ref_s'] / r[f'{p}_gemm_s']:.2f}x)"
            parts.append({'config': n, 'threads': r['threads'], 'whole step fast / gemm / ref': f"{r['fast_step_s']:.2f} / {r['gemm_step_s']:.2f} / {r['ref_step_s']:.2f} s (**{r['ref_step_s']/r['fast_step_s']:.2f}x**)",
                          'resampling, 15 layers, fwd+bwd fast / gemm / ref': ratio3('resample'),
                          f"resampling, largest layer, fwd+bwd fast / gemm / ref": f"{r['largest_layer']}: " + ratio3('resample_big'),
                          'modulated convs, 15 layers, fwd+bwd non-fused (fast) / fused (ref)': ratio('modconv')})
    load1 = os.getloadavg()
    shutil.rmtree(snap, ignore_errors=True)
    body = md_table(rows, list(rows[0])) + "\n\nThe parts that differ between the paths, alone (same process, interleaved, medians):\n\n" + md_table(parts, list(parts[0])) + f"""

One step = Gmain (G fwd+bwd through D, non-saturating loss) + Dmain (G fwd for fakes with EMA updates, D fwd+bwd on
fakes and reals), Adam, on `{dev}`, fp32, flush-denormal on. Per config one process runs {a.warmup} warm-up step(s) per
path, then {a.steps} timed steps per path, interleaved (fast, gemm, ref, ref, gemm, fast, ...) so that all paths see the same load;
times are medians. `fast` (`impl='fast'`, the default) = separable polyphase resampling in which each filtered leaky
ReLU of G is one call of a compiled C kernel (`FAST_KERNEL = 'c'`: per image-channel plane, in cache, up along H and W,
the activation on the stores of the second up pass, down along W and H, only the non-zero taps, rows vectorised; the
forward keeps the activation's derivative as 2 bits per sample, the backward runs the adjoint passes around it) **and**
the non-fused modulated convolution (input scaled by the styles, one shared-weight conv; the demodulation coefficients
are applied by the kernel as it loads each plane); `ref` (`impl='ref'`) = the literal
zero-insertion, 2-D FIR at the full rate, then decimation (`ssgnet_nb.stylegan3.filters`), and the fused grouped-conv
modulated convolution of the official code. `gemm` = the fast path without a C compiler (`FAST_KERNEL = 'gemm'`):
each 1-D pass is one GEMM of the input windows with a small shift-invariant tile matrix, a whole filtered leaky ReLU
one autograd node working through cache-sized chunks of images x channels (same modulated convolution as `fast`).
D's convolutions, the mapping network, the Fourier input and Adam are the
same code in both paths (D's [1,3,3,1] blur follows `impl`). So the whole-step ratio mixes two changes; the second
table times each part that differs alone: the 15 filtered leaky ReLUs of G (and its largest one) and the 15 modulated
convolutions, each fwd+bwd on the layer's real input with a unit output gradient (no no-grad forward counted there).
Peak RSS (ru_maxrss) is read
after the fast path's warm-up and again after the reference's (the second figure is the maximum of both).
Images/s = batch / median wall-clock step time. Load average (1 min) at start / end: {load0[0]:.1f} / {load1[0]:.1f} on
{os.cpu_count()} cores (the benchmark itself accounts for about one per torch thread; more means other jobs shared the
machine and inflated wall-clock times), total {time.time() - t_start:.0f} s. The GEMM node issues many small in-cache ops,
so with 2 threads it suffered more than the reference when another job competed for the cores (a run next to a test
suite, load 3-4, measured 13 s/step at 64 px for it vs 3.8 s for ref): on a shared machine use 1 thread per process.
Command: `python bench/bench_stylegan3.py --steps {a.steps} --warmup {a.warmup} --threads {a.threads}{' --paper' if a.paper else ''}`."""
    if not a.no_write: write_section('bench_stylegan3' if dev == 'cpu' else 'bench_stylegan3_gpu', body, title='StyleGAN3 training step: fast vs reference resampling' + ('' if dev == 'cpu' else ' (GPU)'))
    else: print(body)

if __name__ == '__main__': main()
