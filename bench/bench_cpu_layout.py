"""Benchmark: three CPU settings the kit chooses for its small networks, measured where it uses them.

1. Memory layout: one training step (forward, loss, backward, optimiser step) in PyTorch's default NCHW layout and in
   channels-last (NHWC, which the kit uses on a CPU), for the class-fidelity CNN (batch 32 at 64 px), the demo
   profile's segmentation U-Net (regnetx_002, batch 16 at 64 px), the demo's TransUNet preset, and the demo's
   classifier (timm resnet10t, batch 32 at 64 px).
2. bf16: the same steps (channels-last) with the forward pass under bf16 autocast against fp32, on a CPU with bf16
   instructions (the demo's classification and segmentation sections use `precision = 'auto'`).
3. Generator batch: milliseconds per sampled image of a shipped StyleGAN3 generator (the demo's 64 px lesion generator
   and BreastMNIST's 32 px malignant one) at batch 4, 8, 16 and 32 (the kit samples 8 at a time on a CPU, `gen_batch`).

Times are medians of this process's CPU time over interleaved repetitions with 1 torch thread, so other processes' load
does not enter the ratios (it may still slow both sides through shared caches). Writes its section of BENCHMARKS.md.

    python bench/bench_cpu_layout.py [--reps 5]
"""
import argparse, os, statistics, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch, torch.nn.functional as F
from _common import write_section, md_table, ROOT

def nets():
    "(name, builder returning a fresh net, input shape, loss) for the layout comparison."
    from ssgnet_nb.core import resolve_config
    from ssgnet_nb.fidelity import _small_cnn
    from ssgnet_nb.segmentation import build_model
    import timm
    seg = lambda m: (lambda: build_model(resolve_config('demo', 'segmentation', dataset='demo', model=m), 1)[0])
    ce = lambda out, n: F.cross_entropy(out, torch.zeros(n, dtype=torch.long))
    bce = lambda out, n: F.binary_cross_entropy_with_logits(out[:, :1].float(), torch.zeros_like(out[:, :1]).float())
    return [('class-fidelity CNN (committee member)', lambda: _small_cnn(3, 2), (32, 3, 64, 64), ce),
            ('segmentation U-Net, regnetx_002 (demo)', seg('unet'), (16, 3, 64, 64), bce),
            ('segmentation TransUNet, tiny preset (demo)', seg('transunet'), (16, 3, 64, 64), bce),
            ('classifier resnet10t (demo)', lambda: timm.create_model('resnet10t', num_classes=2), (32, 3, 64, 64), ce)]

def step_time(build, shape, loss_fn, nhwc:bool, steps:int=4, bf16:bool=False) -> float:
    "Mean CPU seconds per training step after two warm-up steps (forward under bf16 autocast when `bf16`)."
    torch.manual_seed(0)
    fmt = torch.channels_last if nhwc else torch.contiguous_format
    net = build().to(memory_format=fmt); opt = torch.optim.Adam(net.parameters(), 1e-3)
    x = torch.randn(*shape).contiguous(memory_format=fmt)
    def step():
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16): l = loss_fn(net(x), shape[0])
        opt.zero_grad(); l.backward(); opt.step()
    for _ in range(2): step()
    t = time.process_time()
    for _ in range(steps): step()
    return (time.process_time() - t) / steps

def sample_time(G, b:int, n:int=64) -> float:
    "CPU milliseconds per image sampling `n` images `b` at a time (after one warm-up batch)."
    from ssgnet_nb.stylegan3.training import generate
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(0))
    generate(G, z[:b], 1.0, b); t = time.process_time(); generate(G, z, 1.0, b)
    return 1000 * (time.process_time() - t) / n

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0]); ap.add_argument('--reps', type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(1); torch.set_flush_denormal(True)
    load0, rows1 = os.getloadavg()[0], []
    for name, build, shape, loss_fn in nets():
        t = {False: [], True: []}
        for r in range(a.reps):
            for nhwc in (False, True) if r % 2 == 0 else (True, False): t[nhwc].append(step_time(build, shape, loss_fn, nhwc))
        m = {k: statistics.median(v) for k, v in t.items()}
        rows1.append(dict(network=name, batch=f"{shape[0]} x {shape[1]} x {shape[2]} px", nchw_ms=f"{1000 * m[False]:.0f}", nhwc_ms=f"{1000 * m[True]:.0f}",
                          nhwc_vs_nchw=f"{m[False] / m[True]:.2f}x"))
        print(rows1[-1], flush=True)
    from ssgnet_nb.core import bf16_supported
    rows3 = []
    if bf16_supported('cpu'):   # 3. bf16 autocast against fp32, both channels-last
        for name, build, shape, loss_fn in nets():
            if 'fidelity' in name: continue   # the committee trains in fp32
            t = {False: [], True: []}
            for r in range(a.reps):
                for b in (False, True) if r % 2 == 0 else (True, False): t[b].append(step_time(build, shape, loss_fn, True, bf16=b))
            m = {k: statistics.median(v) for k, v in t.items()}
            rows3.append(dict(network=name, fp32_ms=f"{1000 * m[False]:.0f}", bf16_ms=f"{1000 * m[True]:.0f}", bf16_vs_fp32=f"{m[False] / m[True]:.2f}x"))
            print(rows3[-1], flush=True)
    from ssgnet_nb.stylegan3.training import load_generator
    rows2, B = [], (4, 8, 16, 32)
    for f in ('assets/demo/gan/lesion.pt', 'assets/breastmnist/gan/malignant.pt'):
        G = load_generator(ROOT/f); t = {b: [] for b in B}
        for r in range(a.reps):
            for b in B if r % 2 == 0 else B[::-1]: t[b].append(sample_time(G, b))
        m = {b: statistics.median(v) for b, v in t.items()}
        rows2.append(dict(generator=f"`{f}` ({G.img_resolution} px)", **{f'batch {b}': f"{m[b]:.1f}" for b in B}, **{'batch 8 vs 32': f"{m[32] / m[8]:.2f}x"}))
        print(rows2[-1], flush=True)
    body = (md_table(rows1, ['network', 'batch', 'nchw_ms', 'nhwc_ms', 'nhwc_vs_nchw']) +
            f"\n\nOne training step (forward, loss, backward, Adam), CPU ms, median of {a.reps} interleaved repetitions of 4 steps, 1 torch thread.\n\n" +
            ((md_table(rows3, ['network', 'fp32_ms', 'bf16_ms', 'bf16_vs_fp32']) + "\n\nThe same steps, channels-last, with the forward pass under "
              "bf16 autocast (the demo's classification and segmentation `precision = 'auto'` on a CPU with bf16 instructions) against fp32.\n\n")
             if rows3 else "This CPU has no bf16 instructions (AVX512-BF16 or AMX): no bf16 rows.\n\n") +
            md_table(rows2, ['generator', *[f'batch {b}' for b in B], 'batch 8 vs 32']) +
            f"\n\nSampling (ψ 1, no gradients): CPU ms per image, median of {a.reps} interleaved repetitions of 64 images, 1 torch thread.\n"
            f"Load average (1 min) at start / end: {load0:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.\n"
            f"Command: `python bench/bench_cpu_layout.py --reps {a.reps}`.")
    write_section('bench_cpu_layout', body, title='CPU settings for small networks: channels-last layout and generator batch')

if __name__ == '__main__': main()
