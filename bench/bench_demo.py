"""A pipeline's wall time, per stage, from a fresh clone: `make demo` (the demo profile on the demo dataset, target 10
minutes) by default; `bench_breastmnist.py` runs the cpu profile's BreastMNIST study through the same code.

Clones this repository's HEAD into a temporary folder and runs the pipeline there (`ssgnet run <dataset> --profile
<profile>`) with this checkout's Python environment, the clone first on PYTHONPATH, so the time is "after install" and
nothing of this checkout's runs/, data/ or reports/ is reused. Writes the per-stage durations (from the clone's
reports/<dataset>/status.json) and the total to its section of BENCHMARKS.md (the stages read it back to say how long
they will take: `core.expected_time`).

    python bench/bench_demo.py [--keep] [--target 600]
    python bench/bench_demo.py --load 1      # the same with one competing busy process (section bench_demo_loaded)

`--load N` starts N competing processes before the pipeline (each one thread in a loop of 512x512 matrix products,
as another user's job would keep a core busy) and stops them after it: the thread policy's test (issue 21). The
section then records the load and the threads each stage chose.
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path
from _common import ROOT, write_section, md_table

def run_pipeline(clone: Path, dataset: str = 'demo', profile: str = 'demo') -> tuple:
    "Run the pipeline in `clone`; (exit code, wall seconds, load average before, after)."
    env = {k: v for k, v in os.environ.items() if not k.startswith('SSGNET_')}
    env['PYTHONPATH'] = os.pathsep.join([str(clone)] + ([os.environ['PYTHONPATH']] if os.environ.get('PYTHONPATH') else []))
    cmd = [sys.executable, '-c', 'import sys; from ssgnet_nb.cli import main; sys.exit(main())', 'run', dataset, '--profile', profile]
    l0, t0 = os.getloadavg()[0], time.time()
    rc = subprocess.run(cmd, cwd=clone, env=env).returncode
    return rc, time.time() - t0, l0, os.getloadavg()[0]

BUSY = 'import torch; torch.set_num_threads(1); a = torch.randn(512, 512)\nwhile True: a = torch.tanh(a @ a)'

def competitors(n: int) -> list:
    "Start `n` busy single-thread processes (each its own process group); stop them with `stop`."
    return [subprocess.Popen([sys.executable, '-c', BUSY], start_new_session=True, env={**os.environ, 'OMP_NUM_THREADS': '1'}) for _ in range(n)]

def stop(procs: list):
    for p in procs:
        try: os.killpg(p.pid, 15)
        except ProcessLookupError: pass
    for p in procs: p.wait(timeout=30)

def stage_threads(clone: Path, dataset: str) -> list:
    "The lines of the stages' logs that say how many processes and threads they used."
    import re
    out = []
    for f in sorted((clone/'runs'/dataset).rglob('log.txt')):
        for line in f.read_text(errors='replace').splitlines():
            if m := re.search(r'(\d+ models in \d+ process\(es\) x \d+ thread|device \S+ \(\d+ thread\(s\)\)|training \d+ class generators in \d+ processes x \d+ thread)', line):
                out.append(f"{f.parent.parent.name if f.parent.parent.name != dataset else ''}/{f.parent.name.split('-')[1] if '-' in f.parent.name else f.parent.name}: {m.group(1)}")
    return out

def main(dataset='demo', profile='demo', name='bench_demo', target=600., title='End-to-end demo (`make demo`): wall time per stage', command='python bench/bench_demo.py', after=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--keep', action='store_true', help=f'keep the clone (its reports/{dataset}/index.html is the report)')
    ap.add_argument('--target', type=float, default=target, help=f'target in seconds (default: {target/60:.0f} minutes)')
    ap.add_argument('--load', type=int, default=0, help='competing busy processes during the run (writes <section>_loaded)')
    a = ap.parse_args()
    if a.load: name, title = f'{name}_loaded', f'{title}, with {a.load} competing busy process(es)'

    tmp = Path(tempfile.mkdtemp(prefix=f'ssgnet-{dataset}-')); clone = tmp/'repo'
    subprocess.run(['git', 'clone', '-q', str(ROOT), str(clone)], check=True)
    head = subprocess.run(['git', '-C', str(clone), 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True, check=True).stdout.strip()
    procs = competitors(a.load)
    try:
        if procs: time.sleep(5)   # let them start
        rc, wall, l0, l1 = run_pipeline(clone, dataset, profile)
    finally: stop(procs)
    sf = clone/'reports'/dataset/'status.json'
    st = json.loads(sf.read_text()) if sf.is_file() else {}
    rows = [dict(stage=k, status=v.get('status'), seconds=f"{v.get('duration_s', float('nan')):.1f}",
                 share=f"{100*v.get('duration_s', 0)/wall:.0f}%") for k, v in st.items() if isinstance(v, dict) and 'status' in v]
    rows.append(dict(stage='**total** (wall clock, incl. papermill start-up and HTML rendering)', status='ok' if rc == 0 else f'exit {rc}',
                     seconds=f"**{wall:.1f}**", share='100%'))
    verdict = 'within' if wall <= a.target and rc == 0 else 'NOT within'
    body = (md_table(rows, ['stage', 'status', 'seconds', 'share']) +
            f"\n\nCommit {head}, fresh clone, after install (this checkout's virtual environment). {wall/60:.1f} min: {verdict} the "
            f"{a.target/60:.0f}-minute target. Load average (1 min) at start / end: {l0:.1f} / {l1:.1f} on {os.cpu_count()} cores. "
            f"Command: `{command}{f' --load {a.load}' if a.load else ''}` (= `ssgnet run {dataset} --profile {profile}` in a clean clone, after install)."
            + (f" {a.load} competing process(es) ran throughout, each one thread busy with 512x512 matrix products (`BUSY` in the script). "
               f"Threads per stage process (`num_threads = auto`: the cores not busy when the stage starts): "
               + ('; '.join(stage_threads(clone, dataset)) or 'not recorded') + '.' if a.load else ''))
    write_section(name, body, title, script=command.replace('python ', '', 1) + (f' --load {a.load}' if a.load else ''))
    if after is not None and rc == 0: after(clone)
    if a.keep: print(f"kept: {clone}/reports/{dataset}/index.html")
    else: shutil.rmtree(tmp, ignore_errors=True)
    return 0 if rc == 0 else 1

if __name__ == '__main__':
    sys.exit(main())
