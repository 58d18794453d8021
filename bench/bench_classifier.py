"""Benchmark: training throughput of the cpu profile's classifiers at 28 px, and what the CIFAR-style stem of MedMNIST's
"ResNet-18 (28)" would cost instead of timm's standard stride-2 stem (issue 17: why the cpu profile uses the standard
stem). One training step = forward, cross-entropy, backward, Adam step on a batch of 128 gray 28 px images, under bf16
autocast as the profile trains (and fp32 beside it). The variants alternate within each repetition so that all see the
same machine load; times are medians of this process's CPU time (1 torch thread), so other processes' load does not
enter the ratios. Writes its section of BENCHMARKS.md.

    nice -n 5 python bench/bench_classifier.py [--reps 5]
"""
import argparse, statistics, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch, timm
from _common import write_section, md_table

def cifar_stem(m):
    "The CIFAR-style stem MedMNIST's ResNet-18 (28) uses: a 3x3 stride-1 first convolution and no max-pool (full resolution in the first stage)."
    m.conv1 = torch.nn.Conv2d(m.conv1.in_channels, m.conv1.out_channels, 3, 1, 1, bias=False)
    m.maxpool = torch.nn.Identity()
    return m

def variants():
    "(name, model) pairs: the profile's models with the standard stem, and ResNet-18 with the CIFAR-style stem."
    mk = lambda a: timm.create_model(a, pretrained=False, in_chans=1, num_classes=2)
    return [('resnet18, standard stem (the cpu profile)', mk('resnet18')), ('resnet50, standard stem (the cpu profile)', mk('resnet50')),
            ('resnet18, CIFAR-style stem (MedMNIST ResNet-18 (28))', cifar_stem(mk('resnet18')))]

def step_fn(model, bf16, batch=128, size=28):
    "One training step on a fixed random batch; returns a callable."
    x, y = torch.randn(batch, 1, size, size), torch.randint(0, 2, (batch,))
    opt = torch.optim.Adam(model.parameters(), 1e-3); model.train()
    def step():
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(); loss.backward(); opt.step()
    return step

def main(reps=5, batch=128):
    torch.set_num_threads(1); torch.manual_seed(0)
    vs = variants(); rows = []
    for bf16 in (True, False):
        steps = [step_fn(m, bf16, batch) for _, m in vs]
        for s in steps: s()                     # warm-up (allocations, oneDNN primitives)
        t = [[] for _ in vs]
        for _ in range(reps):
            for i, s in enumerate(steps):
                t0 = time.process_time(); s(); t[i].append(time.process_time() - t0)
        med = [statistics.median(x) for x in t]
        for (name, _), m in zip(vs, med):
            rows.append({'model': name, 'precision': 'bf16 autocast' if bf16 else 'fp32', 's / step': f'{m:.3f}', 'train img/s': f'{batch / m:.0f}',
                         'x the profile\'s resnet18': f'{m / med[0]:.1f}'})
    body = (f"Batch {batch}, 1 × 28 × 28 inputs, 2 classes, median of {reps} steps per variant (process CPU time, 1 torch thread), variants interleaved.\n\n"
            + md_table(rows, ['model', 'precision', 's / step', 'train img/s', "x the profile's resnet18"])
            + "\n\nThe last column is the step time relative to the cpu profile's ResNet-18 at the same precision: what one "
              "training run would cost with that model instead.")
    write_section('bench_classifier', body, 'Classifier training throughput at 28 px (cpu profile), and the CIFAR-style stem')

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0]); ap.add_argument('--reps', type=int, default=5)
    main(ap.parse_args().reps)
