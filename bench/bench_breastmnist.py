"""The cpu profile's BreastMNIST study end to end, per stage, from a fresh clone with the shipped generators (issue
target: at most 30 minutes on a 2-core CPU). Same procedure as `bench_demo.py`; writes the `bench_breastmnist` section,
and copies the finished stage runs' result files (tables, statistics, figures, configs; no models, no predictions) to
`docs/results/breastmnist/<stage>/`, where the README and the report read them back through the stage readers.

    python bench/bench_breastmnist.py [--keep] [--target 1800]
"""
import sys, shutil, json
from pathlib import Path
from bench_demo import main
from _common import ROOT

KEEP = ('*.csv', '*.json', '*.png', 'log.txt')
SKIP = ('preds_', 'train_', 'metrics.jsonl')

def export(clone: Path, dest: Path = ROOT/'docs'/'results'/'breastmnist'):
    "Copy the newest finished run of each stage in `clone`'s runs/breastmnist to `dest/<stage>/` (result files only)."
    runs = clone/'runs'/'breastmnist'
    for stage, sub in [('gan', 'gan/stage'), ('classification', 'classification'), ('fid', 'fid')]:
        d = runs/sub
        done = sorted(p for p in d.iterdir() if (p/'done.json').is_file()) if d.is_dir() else []
        if not done: continue
        out = dest/stage; shutil.rmtree(out, ignore_errors=True); out.mkdir(parents=True)
        for pat in KEEP:
            for f in done[-1].glob(pat):
                if not f.name.startswith(SKIP): shutil.copy2(f, out/f.name)
        (out/'SOURCE.txt').write_text(f"copied from {done[-1].relative_to(clone)} of a fresh clone by bench/bench_breastmnist.py\n")
    print(f"exported results to {dest}")

if __name__ == '__main__':
    sys.exit(main('breastmnist', 'cpu', 'bench_breastmnist', 1800., 'BreastMNIST study (`ssgnet run breastmnist --profile cpu`): wall time per stage',
                  'python bench/bench_breastmnist.py', after=export))
