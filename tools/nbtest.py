"""`nbdev-test`, with the notebooks' checks under `## How it works` included; same arguments as nbdev-test.

The stage notebooks tag those check cells `skip-execution`, so that a user's papermill run (nbclient's skip tag) does
not execute them. fastcore's `does_cell_eval`, which nbdev-test uses to choose cells, leaves cells with that tag out
too, so plain `nbdev-test` silently skips every one of these checks. This wrapper runs nbdev-test with the tag ignored
(the cells' `#| eval:` directives still apply). `make test` uses it.

    python tools/nbtest.py [nbs/03_classification.ipynb] [--timing] [--do-print]
"""
import fastcore.nbio as nbio
import nbdev.test as nbtest

SKIP_TAG = 'skip-execution'
_does_cell_eval = nbio.does_cell_eval

def does_cell_eval(cell, default:bool) -> bool:
    "fastcore's `does_cell_eval`, deciding as if the cell had no `skip-execution` tag."
    md = getattr(cell, 'metadata', None) or {}
    tags = md.get('tags', [])
    if SKIP_TAG not in tags: return _does_cell_eval(cell, default)
    md['tags'] = [t for t in tags if t != SKIP_TAG]
    try: return _does_cell_eval(cell, default)
    finally: md['tags'] = tags

nbio.does_cell_eval = nbtest.does_cell_eval = does_cell_eval   # nbdev's workers are forked from here and keep the patch

if __name__ == '__main__': nbtest.nbdev_test()
