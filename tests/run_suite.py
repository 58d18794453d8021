"""Run the whole test suite: every notebook with tools/nbtest.py (nbdev-test, self-checks included), then pytest; print one line `N passed, N failed`.

Notebooks count one test each. Exit status 0 only when both parts pass.
"""
import os, re, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def run_notebooks():
    nbs = sorted(p.name for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith(('_', '.')))
    t0 = time.time()
    r = subprocess.run([str(BIN/'python'), str(ROOT/'tools'/'nbtest.py'), '--timing', '--do-print'], cwd=ROOT, capture_output=True, text=True)
    out = r.stdout + r.stderr
    sys.stdout.write(out)
    failed = set()
    if r.returncode != 0:
        m = re.search(r'Failed On The Following Notebooks:\n=+\n(.*)', out, re.S)
        failed = {ln.strip() for ln in (m.group(1).splitlines() if m else []) if ln.strip().endswith('.ipynb')}
        if not failed: failed = {'nbdev-test'}
    print(f"notebooks: {len(nbs) - len(failed)} passed, {len(failed)} failed in {time.time()-t0:.0f} s")
    return len(nbs) - len(failed & set(nbs)), len(failed)

def run_pytest():
    t0 = time.time()
    r = subprocess.run([str(BIN/'python'), '-m', 'pytest', 'tests', '-q', '-p', 'no:cacheprovider'], cwd=ROOT, capture_output=True, text=True)
    sys.stdout.write(r.stdout + r.stderr)
    tail = (r.stdout + r.stderr).strip().splitlines()[-1:] or ['']
    n = lambda w: int(m.group(1)) if (m := re.search(rf'(\d+) {w}', tail[0])) else 0
    passed, failed = n('passed'), n('failed') + n('error')
    if r.returncode not in (0, 5) and failed == 0: failed = 1
    print(f"pytest: {passed} passed, {failed} failed in {time.time()-t0:.0f} s")
    return passed, failed

if __name__ == '__main__':
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    np_, nf = run_notebooks()
    pp, pf = run_pytest()
    print(f"{np_ + pp} passed, {nf + pf} failed")
    sys.exit(0 if nf + pf == 0 else 1)
