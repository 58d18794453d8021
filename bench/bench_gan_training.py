"""Training and sampling throughput of the kit's StyleGAN3 (one G+D iteration as the GAN stage runs it) per profile config.

    python bench/bench_gan_training.py [--profiles smoke demo] [--steps 3] [--threads 1 2] [--precision fp32 bf16] [--device cpu]

Writes its section of BENCHMARKS.md. One iteration = Gmain + Dmain (+ lazy R1 every r1_interval iterations, amortised by
timing consecutive iterations) + G_ema + ADA, at the profile's batch and resolution, on random images.
"""
import sys, time, argparse
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np, torch
from _common import write_section, md_table
from ssgnet_nb.core import PROFILES, bf16_supported
from ssgnet_nb.stylegan3.training import Trainer, gan_config, generate

def bench(profile, steps, threads, precision, device):
    torch.set_num_threads(threads); torch.set_flush_denormal(True)
    g = gan_config(PROFILES[profile]['gan'])
    R, B = g['resolution'], g['batch']
    imgs = np.random.default_rng(0).integers(0, 256, (max(B, 16), R, R, 3), dtype=np.uint8)
    tr = Trainer(imgs, dict(g, r1_interval=g['r1_interval']), seed=0, device=device, precision=precision)
    tr.step()                                              # warm-up (includes an R1 iteration)
    if device.startswith('cuda'): torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps): tr.step()
    if device.startswith('cuda'): torch.cuda.synchronize()
    dt = (time.perf_counter() - t) / steps
    z = torch.randn(32, g['z_dim'])
    generate(tr.G_ema, z[:4], device=device)
    t = time.perf_counter(); generate(tr.G_ema, z, batch=16, device=device)
    if device.startswith('cuda'): torch.cuda.synchronize()
    gen = 32 / (time.perf_counter() - t)
    nG, nD = (sum(p.numel() for p in m.parameters()) for m in (tr.G, tr.D))
    kimg = g['kimg']
    return dict(profile=profile, config=f"{g['cfg']} {R}px cbase {g['cbase']} cmax {g['cmax']}", params=f'G {nG/1e6:.2f} M / D {nD/1e6:.2f} M',
                batch=B, device=device, threads=threads, precision=precision, s_iter=f'{dt:.2f}', train_img_s=f'{B/dt:.2f}',
                s_kimg=f'{1000*dt/B:.0f}', profile_kimg=kimg, est_train_min_per_class=f'{kimg*1000*dt/B/60:.1f}', sample_img_s=f'{gen:.1f}')

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--profiles', nargs='+', default=['smoke', 'demo'])
    ap.add_argument('--steps', type=int, default=3)
    ap.add_argument('--threads', nargs='+', type=int, default=[1, 2])
    ap.add_argument('--precision', nargs='+', default=['fp32'])
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    ap.add_argument('--note', default='', help='free text added under the table (e.g. machine load)')
    a = ap.parse_args()
    rows = []
    for p in a.profiles:
        for th in a.threads:
            for prec in a.precision:
                if prec == 'bf16' and not bf16_supported(a.device): continue
                rows.append(bench(p, a.steps, th, prec, a.device)); print(rows[-1], flush=True)
    cols = ['profile', 'config', 'params', 'batch', 'device', 'threads', 'precision', 's_iter', 'train_img_s', 's_kimg', 'profile_kimg', 'est_train_min_per_class', 'sample_img_s']
    body = (md_table(rows, cols) + f"\n\nMean of {a.steps} iterations after one warm-up iteration; random images; lazy R1 (every 16) not in the timed window "
            "unless it falls there. `est_train_min_per_class` = profile kimg x s/kimg (one class; the stage trains one generator per class).")
    if a.note: body += '\n\n' + a.note
    write_section('bench_gan_training', body, 'StyleGAN3 training throughput (GAN stage)')
