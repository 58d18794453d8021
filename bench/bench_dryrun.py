"""The paper profile's dry run on this machine (`ssgnet_nb.dryrun`): every network built at the paper's sizes and trained
for a few steps with a small batch; writes the table into BENCHMARKS.md (section bench_dryrun).

    python bench/bench_dryrun.py                      # paper profile, 2 steps, batch 2, the precision setting
    python bench/bench_dryrun.py --precision bf16     # the same under bfloat16 autocast

Each network runs in its own process (its peak resident memory is its own). On a CPU the StyleGAN3 step dominates.
"""
import argparse, os, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--profile', default='paper'); ap.add_argument('--steps', type=int, default=2); ap.add_argument('--batch', type=int, default=2)
    ap.add_argument('--models', default=None, help='comma list (default: all of ssgnet_nb.dryrun.DRYRUN_MODELS)')
    ap.add_argument('--precision', default=None); ap.add_argument('--device', default=None); ap.add_argument('--no-write', action='store_true')
    a = ap.parse_args()
    from ssgnet_nb.dryrun import dry_run, DRYRUN_MODELS
    from _common import write_section, md_table
    load0, t0 = os.getloadavg(), time.time()
    df = dry_run(a.profile, a.steps, a.batch, a.models.split(',') if a.models else DRYRUN_MODELS, device=a.device, precision=a.precision)
    load1 = os.getloadavg()
    print(df.to_string(index=False))
    cols = ['model', 'built', 'params', 'input', 'output', 'step', 'batch', 'device', 'precision', 'threads', 's_per_step', 'peak_rss_mb'] + \
           (['peak_cuda_mb'] if 'peak_cuda_mb' in df else [])
    body = md_table(df.to_dict('records'), cols) + f"""

`python -m ssgnet_nb.dryrun` of the `{a.profile}` profile: each network built from the profile's configuration exactly
as its stage builds it (no pretrained weights), then {a.steps} training steps on random inputs with batch {a.batch}, each
network in its own process. `s_per_step` lists every step (the first includes one-time costs: allocator growth,
oneDNN primitive creation, the GAN's lazy R1 penalty, which runs on the first iteration); `peak_rss_mb` is that
process's peak resident memory (model, optimiser state, activations of one step). On a CPU this checks shapes and
memory at full size, not speed: a paper run needs a GPU. Load average (1 min) at start / end: {load0[0]:.1f} /
{load1[0]:.1f} on {os.cpu_count()} cores (other jobs shared the machine; times are wall-clock), total {time.time() - t0:.0f} s.
Command: `python bench/bench_dryrun.py --profile {a.profile} --steps {a.steps} --batch {a.batch}{' --precision ' + a.precision if a.precision else ''}`."""
    if a.no_write: print(body)
    else: write_section('bench_dryrun', body, title=f"Dry run of the {a.profile} profile (every network at full size)")

if __name__ == '__main__': main()
