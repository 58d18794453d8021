"""The end-to-end demo's wall time, per stage, from a fresh clone (the `make demo` target: at most 15 minutes).

Clones this repository's HEAD into a temporary folder and runs `make demo`'s pipeline there
(`ssgnet run demo --profile demo`) with this checkout's Python environment, the clone first on PYTHONPATH, so the
time is "after install" and nothing of this checkout's runs/, data/ or reports/ is reused. Writes the per-stage
durations (from the clone's reports/demo/status.json) and the total to BENCHMARKS.md.

    python bench/bench_demo.py [--keep] [--target 900]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path
from _common import ROOT, write_section, md_table

def run_demo(clone: Path) -> tuple:
    "Run the pipeline in `clone`; (exit code, wall seconds, load average before, after)."
    env = {k: v for k, v in os.environ.items() if not k.startswith('SSGNET_')}
    env['PYTHONPATH'] = os.pathsep.join([str(clone)] + ([os.environ['PYTHONPATH']] if os.environ.get('PYTHONPATH') else []))
    cmd = [sys.executable, '-c', 'import sys; from ssgnet_nb.cli import main; sys.exit(main())', 'run', 'demo', '--profile', 'demo']
    l0, t0 = os.getloadavg()[0], time.time()
    rc = subprocess.run(cmd, cwd=clone, env=env).returncode
    return rc, time.time() - t0, l0, os.getloadavg()[0]

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--keep', action='store_true', help='keep the clone (its reports/demo/index.html is the report)')
    ap.add_argument('--target', type=float, default=900., help='target in seconds (default: 15 minutes)')
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix='ssgnet-demo-')); clone = tmp/'repo'
    subprocess.run(['git', 'clone', '-q', str(ROOT), str(clone)], check=True)
    head = subprocess.run(['git', '-C', str(clone), 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True, check=True).stdout.strip()
    rc, wall, l0, l1 = run_demo(clone)
    st = json.loads((clone/'reports'/'demo'/'status.json').read_text()) if (clone/'reports'/'demo'/'status.json').is_file() else {}
    rows = [dict(stage=k, status=v.get('status'), seconds=f"{v.get('duration_s', float('nan')):.1f}",
                 share=f"{100*v.get('duration_s', 0)/wall:.0f}%") for k, v in st.items() if isinstance(v, dict) and 'status' in v]
    rows.append(dict(stage='**total** (wall clock, incl. papermill start-up and HTML rendering)', status='ok' if rc == 0 else f'exit {rc}',
                     seconds=f"**{wall:.1f}**", share='100%'))
    verdict = 'within' if wall <= a.target and rc == 0 else 'NOT within'
    body = (md_table(rows, ['stage', 'status', 'seconds', 'share']) +
            f"\n\nCommit {head}, fresh clone, after install (this checkout's virtual environment). {wall/60:.1f} min: {verdict} the "
            f"{a.target/60:.0f}-minute target. Load average (1 min) at start / end: {l0:.1f} / {l1:.1f} on {os.cpu_count()} cores. "
            "Command: `python bench/bench_demo.py` (= `make demo` in a clean clone, minus the install).")
    write_section('bench_demo', body, 'End-to-end demo (`make demo`): wall time per stage')
    if a.keep: print(f"kept: {clone}/reports/demo/index.html")
    else: shutil.rmtree(tmp, ignore_errors=True)
    return 0 if rc == 0 else 1

if __name__ == '__main__':
    sys.exit(main())
