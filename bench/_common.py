"""Shared helpers for the benchmarks in bench/: machine description and BENCHMARKS.md sections.

Each benchmark owns one section of BENCHMARKS.md, delimited by `<!-- bench:NAME -->` and
`<!-- /bench:NAME -->`; re-running it replaces only its own section.
"""
import os, platform, re, subprocess, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_MD = ROOT/'BENCHMARKS.md'

def machine() -> str:
    "One line describing this machine: CPU model, cores, memory, torch version and device."
    cpu = platform.processor() or platform.machine()
    try:
        for ln in Path('/proc/cpuinfo').read_text().splitlines():
            if ln.startswith('model name'): cpu = ln.split(':', 1)[1].strip(); break
    except OSError: pass
    mem = ''
    try: mem = f", {int(Path('/proc/meminfo').read_text().split()[1])//2**20} GiB"
    except Exception: pass
    import torch
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    return f"{cpu}, {os.cpu_count()} cores{mem}{gpu}, torch {torch.__version__}, {torch.get_num_threads()} threads"

def write_section(name: str, body: str, title: str = None, script: str = None):
    "Replace (or append) the section `name` of BENCHMARKS.md with `body` (markdown); `script`: the command that wrote it (default bench/<name>.py)."
    stamp = datetime.datetime.now().strftime('%Y-%m-%d %H:%M')
    block = f"<!-- bench:{name} -->\n## {title or name}\n\n_Measured {stamp} by `{script or f'bench/{name}.py'}` on: {machine()}._\n\n{body.strip()}\n<!-- /bench:{name} -->"
    txt = BENCH_MD.read_text() if BENCH_MD.exists() else "# Benchmarks\n\nEvery table below is written by a script in `bench/` (`make bench` runs them all); each names the machine it ran on.\n"
    pat = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
    txt = pat.sub(lambda m: block, txt) if pat.search(txt) else txt.rstrip() + "\n\n" + block + "\n"
    tmp = BENCH_MD.with_suffix('.md.tmp'); tmp.write_text(txt); os.replace(tmp, BENCH_MD)
    print(block)

def md_table(rows: list, cols: list) -> str:
    "A markdown table from a list of dicts."
    out = ['| ' + ' | '.join(cols) + ' |', '|' + '---|'*len(cols)]
    for r in rows: out.append('| ' + ' | '.join(str(r.get(c, '')) for c in cols) + ' |')
    return '\n'.join(out)
