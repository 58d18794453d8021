"""Benchmark: how many epochs, at what batch, each classifier of the cpu profile needs on BreastMNIST (issue 17: the
study has to fit in 30 minutes on a 2-core CPU, and ResNet-50 costs about three times ResNet-18 per image). For each
(classifier, epochs, batch) variant it trains the real-only `original` setting with the MedMNIST recipe in memory
(`train_eval_fast`, the function the study calls), seeds 0-4, 1 torch thread, and reports the mean test accuracy and AUC
over seeds beside the process CPU seconds of the 5 trainings. The cpu profile's per-classifier `epochs` and `batch` come
from this table. Needs the bundled BreastMNIST prepared at 28 px (`ssgnet data prepare breastmnist`, or any run of the
cpu profile on it). Writes its section of BENCHMARKS.md.

    nice -n 5 python bench/bench_cls_recipe.py
"""
import argparse, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np, torch
from _common import write_section, md_table
from ssgnet_nb.core import resolve_config, for_arch
from ssgnet_nb.classification import real_items, train_eval_fast

VARIANTS = [('resnet18', 15, 128), ('resnet18', 10, 64), ('resnet50', 15, 128), ('resnet50', 10, 64), ('resnet50', 8, 64), ('resnet50', 8, 128)]
MEDMNIST = dict(acc=(81.2, 86.3), auc=(85.7, 90.1))   # MedMNIST v2, BreastMNIST, ResNet-18/50 at 28 and 224 px (test)

def run_variant(arch, epochs, batch, seeds=range(5)):
    "Mean test accuracy and AUC (%) over `seeds` of real-only training, and the process CPU seconds they took."
    cfg = resolve_config('cpu', 'classification', dataset='breastmnist', epochs=epochs, batch=batch)
    tr, va, te = (real_items('breastmnist', s, cfg) for s in ('train', 'val', 'test'))
    classes = sorted(tr.label.unique()); recs = []
    t0 = time.process_time()
    for s in seeds: recs.append(train_eval_fast(cfg, tr, va, te, classes, seed=s, arch=arch, channels=1, log=lambda *a: None)['record'])
    return 100 * np.mean([r['acc'] for r in recs]), 100 * np.mean([r['auc'] for r in recs]), time.process_time() - t0

def main():
    torch.set_num_threads(1)
    prof = resolve_config('cpu', 'classification', dataset='breastmnist'); rows = []
    for arch, ep, bs in VARIANTS:
        acc, auc, sec = run_variant(arch, ep, bs)
        c = for_arch(prof, arch); used = (c['epochs'], c['batch']) == (ep, bs) and arch in prof['classification']['arch']
        inr = lambda v, k: ' (in range)' if MEDMNIST[k][0] <= round(v, 1) <= MEDMNIST[k][1] else ' (outside)'
        rows.append({'classifier': arch, 'epochs': ep, 'batch': bs, 'test acc %': f'{acc:.1f}{inr(acc, "acc")}', 'test AUC %': f'{auc:.1f}{inr(auc, "auc")}',
                     'CPU s (5 trainings)': f'{sec:.0f}', 'cpu profile': 'yes' if used else ''})
        print(rows[-1], flush=True)
    base = {r['classifier']: float(r['CPU s (5 trainings)']) for r in rows if r['cpu profile']}
    body = ("Real-only BreastMNIST (`original`, 546 training images), 28 px, from scratch, bf16 autocast, one-cycle Adam at lr 1e-3, the model "
            "of the best validation AUC tested on the 156 test images; mean over seeds 0-4; process CPU time, 1 torch thread. "
            f"MedMNIST v2's published range for this dataset: acc {MEDMNIST['acc'][0]}-{MEDMNIST['acc'][1]} %, AUC {MEDMNIST['auc'][0]}-{MEDMNIST['auc'][1]} %.\n\n"
            + md_table(rows, ['classifier', 'epochs', 'batch', 'test acc %', 'test AUC %', 'CPU s (5 trainings)', 'cpu profile'])
            + "\n\nThe cost of one training grows with images x epochs, so the study's larger settings (up to 1596 images at +100 %) scale "
              "the same way. The rows marked `cpu profile` are what `ssgnet run breastmnist --profile cpu` trains.")
    write_section('bench_cls_recipe', body, "Classifier recipe per model on BreastMNIST (cpu profile): epochs and batch against the study's time")

if __name__ == '__main__':
    argparse.ArgumentParser(description=__doc__.split('\n')[0]).parse_args()
    main()
