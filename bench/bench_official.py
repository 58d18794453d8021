"""Benchmark: the kit's StyleGAN3 against NVIDIA's official networks on the CPU, side by side in one process.

    git clone https://github.com/NVlabs/stylegan3 /tmp/stylegan3   # outside the repository: no NVIDIA code is committed
    python bench/bench_official.py --official /tmp/stylegan3         # T and R at 64 px, 1 and 2 torch threads

Per config (stylegan3-t, stylegan3-r) and thread count one subprocess builds the official G and D, loads the same
random weights into the kit's G and D, checks that both give the same images, then times training-style steps of
every variant, interleaved (a, b, c, c, b, a, ...) so that all see the same machine load, and reports medians:

- `Gmain` = G forward + D forward + backward through D into G's weights (non-saturating loss; D's weights frozen, as
  the official training loop has them in that phase), batch 4: the step the issue's figures were measured on;
- `Dmain` = G forward without gradients (EMA updates) + D forward and backward on the fakes and on random reals;
- variants: the baseline (`official`, or the kit's reference path `ref` when the official code is not available: it
  equals the official outputs), the kit's default fast path in float32 (`kit`), and the same under CPU bfloat16
  autocast (`kit-bf16`, where the CPU has bfloat16 instructions); `--rev REV` adds the kit's StyleGAN3 modules as of
  git revision REV (`kit@REV`, float32), so a change can be measured against what came before it in one process.

Without the official code (no --official, no $SSGNET_OFFICIAL_SG3) the baseline is `ref` and the table says so.
The official code runs on its CPU fallbacks (its CUDA kernels are not built without a GPU); it imports
`pkg_resources`, which recent setuptools no longer ship: a stand-in with `packaging`'s parse_version is put in place.
"""
import argparse, json, os, statistics, subprocess, sys, time, types
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parents[1]

RES, Z, CBASE, CMAX, BATCH = 64, 64, 2048, 64, 4   # the tiny 64 px config of bench_stylegan3 / the demo profile's channels

def import_official(path):
    "NVIDIA's networks_stylegan3 and networks_stylegan2 modules from a checkout at `path`, or None when there is none."
    if not path or not (Path(path) / 'training' / 'networks_stylegan3.py').exists(): return None
    try: import pkg_resources   # noqa: F401 (the official conv2d_gradfix imports parse_version from it)
    except ImportError:
        from packaging.version import parse
        sys.modules['pkg_resources'] = types.SimpleNamespace(parse_version=parse)
    sys.path.insert(0, str(Path(path).resolve()))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        from training import networks_stylegan2, networks_stylegan3
    return networks_stylegan3, networks_stylegan2

def import_rev(rev, dest):
    "The kit's stylegan3 subpackage as of git revision `rev`, imported under the name `sg3_<rev>` from `dest`."
    name = 'sg3_' + ''.join(c if c.isalnum() else '_' for c in rev)
    d = Path(dest) / name; d.mkdir(parents=True, exist_ok=True)
    for f in ('__init__.py', 'filters.py', 'networks.py'):
        txt = subprocess.run(['git', 'show', f'{rev}:ssgnet_nb/stylegan3/{f}'], capture_output=True, text=True, cwd=ROOT, check=True).stdout
        (d / f).write_text(txt)
    sys.path.insert(0, str(Path(dest)))
    import importlib
    return importlib.import_module(f'{name}.networks'), importlib.import_module(f'{name}.filters')

def ablations(fl, nw):
    "Context managers that each undo one lever of the current kit (for `--levers`), by wrapping the functions it changed."
    import contextlib, math, torch, torch.nn.functional as F
    def patched(mod, name, fn):
        @contextlib.contextmanager
        def cm():
            old = getattr(mod, name); setattr(mod, name, fn(old))
            try: yield
            finally: setattr(mod, name, old)
        return cm
    def gemm_when(cond):   # the filtered lrelu through the chunked GEMM node (composed pieces for a 2-D filter) where cond(x, fd)
        def wrap(f):
            def g(x, fu=None, fd=None, *a, **k):
                if not cond(x, fd): return f(x, fu, fd, *a, **k)
                fl.FAST_KERNEL = 'gemm'
                try: return f(x, fu, fd, *a, **k)
                finally: fl.FAST_KERNEL = 'auto'
            return g
        return wrap
    def no_defer(f):       # the modulated conv applies the demodulation itself; the filtered lrelu gets no scale
        def g(*a, defer_demod=False, **k): y = f(*a, **k); return (y, None) if defer_demod else y
        return g
    def bf16_blur(f):      # D's 2-D depthwise blur in bfloat16 under autocast (no float32 detour)
        def g(x, f2=None, up=1, down=1, padding=(0, 0, 0, 0), gain=1.):
            if f2 is None or f2.ndim != 1 or up != 1 or len(f2) > 4 or not torch.is_autocast_enabled('cpu'): return f(x, f2, up, down, padding, gain)
            k2 = (f2.ger(f2).flip([0, 1]) * gain)[None, None].repeat(x.shape[1], 1, 1, 1)
            return F.conv2d(F.pad(x, list(padding)), k2, stride=down, groups=x.shape[1])
        return g
    return {'radial-composed': patched(nw, 'filtered_lrelu', gemm_when(lambda x, fd: fd is not None and fd.ndim == 2)),
            'bf16-gemm-node': patched(nw, 'filtered_lrelu', gemm_when(lambda x, fd: x.dtype == torch.bfloat16)),
            'no-deferred-demod': patched(nw, 'modulated_conv2d', no_defer),
            'no-prepad': patched(nw, '_cpu_lowp', lambda f: (lambda x: False)),
            'bf16-blur': patched(nw, 'upfirdn2d_fast', bf16_blur)}

def one(cfg, threads, steps, warmup, official_dir, revs, levers=False):
    "Build, check and time every variant of one config in this process; print one RESULT line (json)."
    import torch, torch.nn.functional as F, tempfile
    torch.set_num_threads(threads); torch.set_flush_denormal(True)
    from ssgnet_nb.stylegan3.networks import Generator, Discriminator
    import ssgnet_nb.stylegan3.filters as fl
    off = import_official(official_dir)
    torch.manual_seed(0)
    gk = dict(z_dim=Z, w_dim=Z, img_resolution=RES, img_channels=3, channel_base=CBASE, channel_max=CMAX)
    dk = dict(c_dim=0, img_resolution=RES, img_channels=3, channel_base=CBASE, channel_max=CMAX)
    nets = {}   # variant -> (G, D, kind): kind 'official' (calls take c), else the impl of the kit's networks
    Gk, Dk = Generator(**gk, cfg=cfg), Discriminator(**dk)
    if off is not None:
        n3, n2 = off
        rk = dict(conv_kernel=1, use_radial_filters=True, channel_base=2 * CBASE, channel_max=2 * CMAX) if cfg == 'stylegan3-r' else {}
        Go = n3.Generator(c_dim=0, **{**gk, **rk})
        Do = n2.Discriminator(**dk, conv_clamp=256)
        Gk.load_state_dict(Go.state_dict())
        Dk.load_state_dict({k: v for k, v in Do.state_dict().items() if 'resample_filter' not in k}, strict=False)   # the official D keeps 2-D copies of [1,3,3,1]
        nets['official'] = (Go, Do, 'official')
    else: nets['ref'] = (Gk, Dk, 'ref')
    nets['kit'] = (Gk, Dk, 'fast')
    from ssgnet_nb.core import bf16_supported
    if bf16_supported('cpu'): nets['kit-bf16'] = (Gk, Dk, 'fast-bf16')
    import ssgnet_nb.stylegan3.networks as nw, contextlib
    abl = ablations(fl, nw) if levers else {}
    ctx = {v: contextlib.nullcontext for v in nets}   # per variant: the context its steps run in (an ablation for `--levers`)
    for name, cm in abl.items():
        if name == 'radial-composed' and cfg != 'stylegan3-r': continue
        for base in (['kit-bf16'] if name in ('bf16-gemm-node', 'no-prepad', 'bf16-blur') else ['kit']) + (['kit-bf16'] if name == 'no-deferred-demod' else []):
            if base in nets: nets[f'{base} {name}'] = nets[base]; ctx[f'{base} {name}'] = cm
    tmp = tempfile.mkdtemp(prefix='bench_official_')
    for rev in revs:
        nw, _ = import_rev(rev, tmp)
        Gr, Dr = nw.Generator(**gk, cfg=cfg), nw.Discriminator(**dk)
        Gr.load_state_dict(Gk.state_dict()); Dr.load_state_dict(Dk.state_dict())
        nets[f'kit@{rev}'] = (Gr, Dr, 'fast'); ctx[f'kit@{rev}'] = contextlib.nullcontext
    fl.FAST_KERNEL = 'auto'
    def run_G(G, kind, z, **kw):
        if kind == 'official': return G(z, None, **kw)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=kind == 'fast-bf16'): return G(z, impl=kind[:4], **kw)
    def run_D(D, kind, img):
        if kind == 'official': return D(img, None)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=kind == 'fast-bf16'): return D(img, impl=kind[:4]).float()
    real = torch.randn(BATCH, 3, RES, RES).clamp(-1, 1)
    def gmain(v):
        with ctx[v](): _gmain(v)
    def dmain(v):
        with ctx[v](): _dmain(v)
    def _gmain(v):
        G, D, kind = nets[v]
        G.requires_grad_(True); D.requires_grad_(False); G.zero_grad(set_to_none=True)
        F.softplus(-run_D(D, kind, run_G(G, kind, torch.randn(BATCH, Z)))).mean().backward()
    def _dmain(v):
        G, D, kind = nets[v]
        G.requires_grad_(False); D.requires_grad_(True); D.zero_grad(set_to_none=True)
        with torch.no_grad(): fake = run_G(G, kind, torch.randn(BATCH, Z), update_emas=True)
        (F.softplus(run_D(D, kind, fake)) + F.softplus(-run_D(D, kind, real))).mean().backward()
    out = dict(cfg=cfg, threads=torch.get_num_threads(), variants=list(nets), baseline=next(iter(nets)),
               G_params=sum(p.numel() for p in Gk.parameters()), D_params=sum(p.numel() for p in Dk.parameters()))
    with torch.no_grad():   # the same images from the same weights and latents (before any EMA update)
        z = torch.randn(2, Z)
        ims = {}
        for v, (G, D, kind) in nets.items():
            with ctx[v](): ims[v] = run_G(G, kind, z).float()
        b = ims[out['baseline']]; out['max_abs'] = float(b.abs().max())
        out['max_abs_diff'] = {v: float((im - b).abs().max()) for v, im in ims.items()}
    for v in nets:
        for _ in range(warmup): gmain(v); dmain(v)
    wall = {(v, p): [] for v in nets for p in ('G', 'D')}; cpu = {k: [] for k in wall}
    order = list(nets)
    for i in range(steps):
        for v in (order if i % 2 == 0 else order[::-1]):
            for p, fn in (('G', gmain), ('D', dmain)):
                t0, c0 = time.perf_counter(), time.process_time(); fn(v)
                wall[v, p].append(time.perf_counter() - t0); cpu[v, p].append(time.process_time() - c0)
    med = lambda d, v, p: statistics.median(d[v, p])
    out['wall'] = {v: {p: med(wall, v, p) for p in 'GD'} | {'GD': statistics.median([a + b for a, b in zip(wall[v, 'G'], wall[v, 'D'])])} for v in nets}
    out['cpu'] = {v: {p: med(cpu, v, p) for p in 'GD'} | {'GD': statistics.median([a + b for a, b in zip(cpu[v, 'G'], cpu[v, 'D'])])} for v in nets}
    if not levers:   # the floor: G's 15 modulated convolutions alone (fwd + bwd on the layers' real inputs), which every path computes
        import math
        from ssgnet_nb.stylegan3.networks import modulated_conv2d
        Gk.requires_grad_(True)
        with torch.no_grad():
            ws = Gk.mapping(torch.randn(BATCH, Z)).unbind(1); x = Gk.synthesis.input(ws[0]); layers = []
            for n, w in zip(Gk.synthesis.layer_names, ws[1:]):
                l = getattr(Gk.synthesis, n); st = l.affine(w)
                if l.is_torgb: st = st * (1 / math.sqrt(l.in_channels * l.conv_kernel ** 2))
                layers.append((l, x, st)); x = l(x, w)
        def convs(bf16):
            for l, x, st in layers:
                xx = x.clone().requires_grad_(True)
                with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
                    o = modulated_conv2d(xx, l.weight, st, padding=l.conv_kernel - 1, demodulate=not l.is_torgb, input_gain=l.magnitude_ema.rsqrt(), fused=False)
                o.float().sum().backward()
        kinds = [False] + ([True] if 'kit-bf16' in nets else [])
        tc = {k: [] for k in kinds}
        for k in kinds: convs(k)
        for i in range(steps):
            for k in (kinds if i % 2 == 0 else kinds[::-1]): c0 = time.process_time(); convs(k); tc[k].append(time.process_time() - c0)
        out['convs_cpu'] = {('kit-bf16' if k else 'kit'): statistics.median(v) for k, v in tc.items()}
    print('RESULT ' + json.dumps(out))

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--official', default=os.environ.get('SSGNET_OFFICIAL_SG3'), help="checkout of NVlabs/stylegan3 (default $SSGNET_OFFICIAL_SG3)")
    ap.add_argument('--configs', default='stylegan3-t,stylegan3-r'); ap.add_argument('--threads', default='1,2')
    ap.add_argument('--steps', type=int, default=5); ap.add_argument('--warmup', type=int, default=1)
    ap.add_argument('--rev', action='append', default=[], help='also time the kit as of this git revision (repeatable)')
    ap.add_argument('--one', nargs=2, metavar=('CFG', 'THREADS'), help=argparse.SUPPRESS)
    ap.add_argument('--levers', action='store_true', help='time the current kit with each lever undone (section bench_official_levers)')
    ap.add_argument('--no-write', action='store_true')
    a = ap.parse_args()
    if a.one: return one(a.one[0], int(a.one[1]), a.steps, a.warmup, a.official, a.rev, a.levers)
    import shutil, tempfile
    from _common import write_section, md_table
    off = import_official(a.official) is not None
    snap = Path(tempfile.mkdtemp(prefix='bench_official_'))   # other notebooks may be re-exported while this runs
    shutil.copytree(ROOT / 'ssgnet_nb', snap / 'ssgnet_nb', ignore=shutil.ignore_patterns('__pycache__'))
    env = {**os.environ, 'PYTHONPATH': f"{snap}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    load0, t_start, rows = os.getloadavg(), time.time(), []
    for cfg in a.configs.split(','):
        for th in [int(t) for t in a.threads.split(',')]:
            cmd = [sys.executable, __file__, '--one', cfg, str(th), '--steps', str(a.steps), '--warmup', str(a.warmup)]
            cmd += (['--official', a.official] if a.official else []) + sum((['--rev', r] for r in a.rev), []) + (['--levers'] if a.levers else [])
            p = subprocess.run(cmd, capture_output=True, text=True, cwd=snap, env=env)
            line = [l for l in p.stdout.splitlines() if l.startswith('RESULT ')]
            if not line: print(p.stdout[-3000:], p.stderr[-3000:]); raise SystemExit(f'{cfg} with {th} threads failed')
            r = json.loads(line[0][7:]); print(cfg, th, json.dumps(r), flush=True)
            base, rw, rc = r['baseline'], r['wall'], r['cpu']
            for v in r['variants'][1:]:
                row = {'config': f"{cfg[-1].upper()} {RES}px", 'threads': th, 'variant': v}
                if a.levers and ' ' in v:   # an ablation: its time against the variant it undoes a lever of
                    k = v.split(' ')[0]
                    row.update({'lever undone': v.split(' ', 1)[1], 'Gmain s CPU: with / without the lever': f"{rc[k]['G']:.3f} / {rc[v]['G']:.3f}",
                                'lever gain, Gmain CPU': f"**{rc[v]['G'] / rc[k]['G']:.2f}x**", 'lever gain, Gmain wall': f"{rw[v]['G'] / rw[k]['G']:.2f}x",
                                'lever gain, Gmain+Dmain CPU': f"{rc[v]['GD'] / rc[k]['GD']:.2f}x"})
                    rows.append(row); continue
                row.update({'baseline': base, 'Gmain s wall: baseline / variant': f"{rw[base]['G']:.2f} / {rw[v]['G']:.2f}",
                            'Gmain speed-up (wall)': f"**{rw[base]['G'] / rw[v]['G']:.2f}x**",
                            'Gmain speed-up (CPU time)': f"{rc[base]['G'] / rc[v]['G']:.2f}x",
                            'Gmain+Dmain speed-up wall / CPU': f"{rw[base]['GD'] / rw[v]['GD']:.2f}x / {rc[base]['GD'] / rc[v]['GD']:.2f}x",
                            'max abs diff of G (max abs)': f"{r['max_abs_diff'][v]:.1e} ({r['max_abs']:.2f})"})
                if v in r.get('convs_cpu', {}):
                    c = r['convs_cpu'][v]
                    row['G convs alone, s CPU (bound: baseline Gmain / that)'] = f"{c:.3f} ({rc[base]['G'] / c:.1f}x)"
                if not a.levers: rows.append(row)
    load1 = os.getloadavg()
    shutil.rmtree(snap, ignore_errors=True)
    which = ("NVIDIA's official code (NVlabs/stylegan3 networks_stylegan3 / networks_stylegan2 on their CPU fallbacks, "
             "its custom ops' reference implementations), loaded with the same weights" if off else
             "the kit's own reference path (`impl='ref'`: literal up-sampling, full-rate 2-D FIR, decimation, the fused "
             "grouped-conv modulated convolution of the official code; it equals the official outputs) -- the official "
             "code was not available here (pass --official DIR)")
    cmd = (f"python bench/bench_official.py{' --official DIR' if off else ''} --configs {a.configs} --threads {a.threads} --steps {a.steps}"
           f"{''.join(' --rev ' + r for r in a.rev)}{' --levers' if a.levers else ''}")
    note = (f"Load average (1 min) at start / end: {load0[0]:.1f} / {load1[0]:.1f} on {os.cpu_count()} cores, total {time.time() - t_start:.0f} s. "
            f"Command: `{cmd}`.")
    setup = f"""StyleGAN3 {RES} px, z/w 64, cbase {CBASE}, cmax {CMAX} (R doubles both, as the official train.py does), D cbase {CBASE},
cmax {CMAX}, batch {BATCH}. `Gmain` = G forward, D forward, backward into G (the issue's step); `Dmain` = G forward
without gradients + D forward/backward on fakes and reals. One process per config and thread count, {a.warmup} warm-up
step(s), then {a.steps} steps per variant interleaved; medians of wall-clock time and of this process's CPU time (CPU time
counts only the cycles this process got, so it is the steadier figure on a shared machine; with 2 threads it also
counts the OpenMP threads' spinning)."""
    if a.levers:
        cols = ['config', 'threads', 'variant', 'lever undone', 'Gmain s CPU: with / without the lever', 'lever gain, Gmain CPU', 'lever gain, Gmain wall', 'lever gain, Gmain+Dmain CPU']
        body = md_table(rows, cols) + f"""

Each row times the current kit with one lever undone (`--levers`: the benchmark wraps the function the lever changed
and restores the earlier behaviour) against the same variant with it, in the same process, interleaved; gain =
time without / time with. `radial-composed`: config R's radial filtered lrelu as the composed torch pieces instead of
the C kernel; `bf16-gemm-node`: bfloat16 filtered lrelus through the chunked GEMM node (what autocast ran before the
kernel had a bfloat16 variant); `no-deferred-demod`: the modulated convolution scales its output by the demodulation
itself; `no-prepad`: bfloat16 convolutions with their `k-1` padding instead of a padded input; `bf16-blur`: D's
[1,3,3,1] depthwise blur in bfloat16. {setup}
{note}"""
        if a.no_write: print(body)
        else: write_section('bench_official_levers', body, title='StyleGAN3 training step: what each lever of the CPU path gains', script='bench/bench_official.py --levers')
        return
    body = md_table(rows, list(rows[0])) + f"""

Baseline: {which}. `kit` = the default fast path (float32, compiled filtered-lrelu kernel); `kit-bf16` = the same
under `torch.autocast('cpu', dtype=torch.bfloat16)` (bfloat16 convolutions through oneDNN, the kernel's bfloat16
variant: bfloat16 in and out, float arithmetic inside); `kit@REV` = the kit's StyleGAN3 as of git revision REV.
{setup} Max abs diff: largest difference of G's images from the baseline's on 2 latents. `G convs alone`: G's 15
modulated convolutions, forward and backward on the layers' real inputs with the weight gradients, in the variant's
precision (CPU time, median): work every implementation does at the same FLOPs (the official one as grouped
convolutions), so the baseline's Gmain over it bounds what any speed-up of the rest can reach.
{note}"""
    if a.no_write: print(body)
    else: write_section('bench_official', body, title="StyleGAN3 training step: the kit vs NVIDIA's official code (CPU)")

if __name__ == '__main__': main()
