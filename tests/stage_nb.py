"""Run a stage notebook's user path in-process: its imports cell, its parameters cell with the given values, and the code
cells of its `## Results` section (what papermill runs for a user, minus the library checks below `## How it works`)."""
import json, contextlib, io
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def results_cells(nb:str) -> list:
    "Sources of the first `#| export` cell (the imports), the `parameters` cell and the code cells under `## Results`."
    cells = json.loads((ROOT/'nbs'/nb).read_text())['cells']
    src = lambda c: ''.join(c['source'])
    imports = next(src(c) for c in cells if c['cell_type'] == 'code' and src(c).startswith('#| export'))
    params = [src(c) for c in cells if 'parameters' in c['metadata'].get('tags', [])]
    assert len(params) == 1, f'{nb}: {len(params)} parameters cells'
    out, on = [], False
    for c in cells:
        if c['cell_type'] == 'markdown' and src(c).startswith('## '): on = src(c).startswith('## Results')
        elif on and c['cell_type'] == 'code': out.append(src(c))
    assert out, f'{nb} has no code under ## Results'
    return [imports, params[0], *out]

def run_results(nb:str, **params) -> tuple:
    "(namespace, printed text) after running `nb`'s Results path with `params` injected after its parameters cell, as papermill does."
    imports, pcell, *res = results_cells(nb)
    ns, out = dict(display=lambda *a, **k: None), io.StringIO()
    with contextlib.redirect_stdout(out):
        for code in (imports, pcell, '\n'.join(f'{k} = {v!r}' for k, v in params.items()), *res): exec(compile(code, nb, 'exec'), ns)
    return ns, out.getvalue()
