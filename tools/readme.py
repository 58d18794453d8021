"""README.md is generated from nbs/index.ipynb: this script executes the notebook (nbclient, the kit's `python3` kernel,
working directory nbs/) and converts it to markdown without the code, so the figures its prose quotes always come from
the code (profiles, registry, BENCHMARKS.md) of this checkout.

    python tools/readme.py            # write README.md (`make readme`)
    python tools/readme.py --check    # exit 1 and say so when README.md differs from what the notebook gives

nbdev's own `nbdev-readme` needs Quarto, which the kit does not install.
"""
import argparse, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NB, README = ROOT/'nbs'/'index.ipynb', ROOT/'README.md'
HEADER = "<!-- Generated from nbs/index.ipynb by `make readme` (tools/readme.py): edit the notebook, not this file. -->\n\n"

def render() -> str:
    "The README text nbs/index.ipynb gives today."
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import MarkdownExporter
    nb = nbformat.read(str(NB), as_version=4)
    NotebookClient(nb, kernel_name='python3', timeout=300, resources={'metadata': {'path': str(NB.parent)}},
                   extra_arguments=['--IPKernelApp.log_level=CRITICAL']).execute()
    errors = [o for c in nb.cells for o in c.get('outputs', []) if o.get('output_type') == 'error']
    if errors: raise SystemExit(f"{NB} raised {errors[0]['ename']}: {errors[0]['evalue']}")
    body, _ = MarkdownExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True).from_notebook_node(nb)
    return HEADER + re.sub(r'\n{3,}', '\n\n', body).strip() + '\n'

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--check', action='store_true', help='compare README.md with what the notebook gives instead of writing it')
    a = p.parse_args(argv)
    text = render()
    if a.check:
        if README.is_file() and README.read_text() == text: print('README.md is up to date'); return 0
        print('README.md differs from what nbs/index.ipynb gives: run `make readme` and commit README.md', file=sys.stderr); return 1
    README.write_text(text); print(f'wrote {README}')
    return 0

if __name__ == '__main__': sys.exit(main())
