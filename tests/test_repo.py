"The repository's own invariants: library in sync with notebooks, notebooks clean, every stage notebook parameterisable."
import json, os, shutil, subprocess, sys, filecmp
from pathlib import Path
import nbformat, pytest
from ssgnet_nb.cli import STAGES, check_parameters, notebook_parameters

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted((ROOT/'nbs').glob('*.ipynb'))

def test_library_in_sync_with_notebooks(tmp_path):
    for p in ('nbs', 'ssgnet_nb'): shutil.copytree(ROOT/p, tmp_path/p, ignore=shutil.ignore_patterns('__pycache__'))
    shutil.copy(ROOT/'pyproject.toml', tmp_path)
    subprocess.run([str(Path(sys.executable).parent/'nbdev-export')], cwd=tmp_path, check=True, capture_output=True)
    cmp = filecmp.dircmp(ROOT/'ssgnet_nb', tmp_path/'ssgnet_nb', ignore=['__pycache__'])
    def diffs(c, pre=''):
        out = [pre + f for f in c.diff_files + c.left_only + c.right_only]
        for k, sub in c.subdirs.items(): out += diffs(sub, pre + k + '/')
        return out
    assert diffs(cmp) == [], "ssgnet_nb/ differs from what nbdev-export makes of nbs/: run `make export` and commit both"

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.name)
def test_notebook_is_clean(nb):
    d = json.loads(nb.read_text())
    for c in d['cells']:
        if c['cell_type'] == 'code': assert c['outputs'] == [] and c['execution_count'] is None, f"{nb.name} has outputs: run `make export`"
        assert set(c.get('metadata', {})) <= {'tags'}, f"{nb.name}: cell metadata {set(c['metadata'])}"

STAGE_NBS = [ROOT/'nbs'/v['nb'] for v in STAGES.values() if (ROOT/'nbs'/v['nb']).exists()]

@pytest.mark.parametrize('nb', STAGE_NBS, ids=lambda p: p.name)
def test_stage_notebook_parameters_are_injected(nb):
    params = notebook_parameters(nb)
    # the stage contract: the demo data, and profile None = the profile setting (auto); the test runner, not the notebook, picks smoke
    assert params['dataset'] == 'demo' and params['profile'] is None, params
    cells = json.loads(nb.read_text())['cells']
    resolves = [l for c in cells if c['cell_type'] == 'code' for l in ''.join(c['source']).splitlines() if l.startswith('cfg = resolve_config(profile')]
    if resolves:   # a stage that resolves a configuration takes dotted overrides as a parameter, and passes them on
        assert params.get('overrides') == {} and all('overrides' in l for l in resolves), (params, resolves)
    assert check_parameters(nb) == {'dataset': 'probe', 'profile': 'paper'}
    assert check_parameters(nb, dict(dataset='probe', profile='smoke', overrides={'data.size': 48})) == dict(dataset='probe', profile='smoke', overrides={'data.size': 48})

@pytest.mark.parametrize('nb', STAGE_NBS, ids=lambda p: p.name)
def test_stage_notebook_layout(nb):
    "Parameters, then `## Results` (code that only resolves, runs and shows), then `## How it works`, where every check is skipped by a user's run."
    cells = json.loads(nb.read_text())['cells']
    src = lambda c: ''.join(c['source'])
    heads = [(i, src(c).split('\n')[0]) for i, c in enumerate(cells) if c['cell_type'] == 'markdown' and src(c).startswith('## ')]
    names = [h for _, h in heads]
    assert names[:2] == ['## Results', '## How it works'] or names[:1] == ['## Results'] and len(names) == 1, f"{nb.name}: level-2 headings {names}"
    how = heads[1][0] if len(heads) > 1 else len(cells)
    for c in cells[how:]:
        if c['cell_type'] == 'code' and not src(c).startswith(('#| export', '#| hide', '#| exporti')):
            assert 'skip-execution' in c['metadata'].get('tags', []), f"{nb.name}: a check under How it works runs in a user's run: {src(c)[:80]!r}" 

def test_lost_parameters_tag_is_caught(tmp_path):
    nb = nbformat.read(ROOT/'nbs'/'01_data.ipynb', as_version=4)
    for c in nb.cells: c.metadata.pop('tags', None)
    nbformat.write(nb, tmp_path/'x.ipynb')
    with pytest.raises(Exception, match='were overwritten'): check_parameters(tmp_path/'x.ipynb')

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.name)
def test_notebooks_leave_the_users_environment_alone(nb):
    "A cell that sets then deletes SSGNET_* variables would wipe a user's own setting (and papermill's): use core.env_vars."
    src = '\n'.join(''.join(c['source']) for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'code')
    assert 'del os.environ[' not in src and "os.environ.pop('SSGNET" not in src, f"{nb.name}: use `with env_vars(SSGNET_...=...)` instead"


def test_parameter_cells_parse_fully():
    "papermill must read every assignment of each parameters cell (its parser trips on '=' and quotes in comments)."
    from papermill.translators import PythonTranslator
    for nb in NBS:
        cells = [c for c in json.loads(nb.read_text())['cells'] if 'parameters' in c.get('metadata', {}).get('tags', [])]
        for c in cells:
            src = ''.join(c['source'])
            assigned = [ln.split('=')[0].strip() for ln in src.splitlines() if ln.strip() and not ln.lstrip().startswith('#')]
            parsed = [p.name for p in PythonTranslator.inspect({'source': src})]
            assert parsed == assigned, f"{nb.name}: papermill reads {parsed}, the cell assigns {assigned}; keep '=' and quotes out of the comments"


def test_tests_run_on_one_torch_thread():
    "tests/conftest.py: one torch thread, and a stage's own `setup_torch` (num_threads = auto in settings.ini) keeps it in a test."
    import torch, conftest
    from ssgnet_nb.core import setup_torch
    want = conftest._ORIGINAL['env']['SSGNET_NUM_THREADS'] or '1'   # a value the caller set is kept
    assert torch.get_num_threads() == 1 and os.environ['SSGNET_NUM_THREADS'] == want
    torch.set_num_threads(2)                                          # what a stage does with more cores...
    assert setup_torch('cpu')['threads'] == int(want)                 # ...is undone by the setting the tests run under

@pytest.mark.threads
def test_threads_marker_restores_the_original_setup():
    "A test that measures thread behaviour (marked `threads`) sees the process's own thread count and environment."
    import torch, conftest
    assert torch.get_num_threads() == conftest._ORIGINAL['threads']
    assert {k: os.environ.get(k) for k in conftest.ONE} == conftest._ORIGINAL['env']

def test_nbtest_runs_the_self_checks_papermill_skips():
    "tools/nbtest.py (what `make test` runs) evaluates cells tagged `skip-execution`, which papermill skips; `#| eval: false` still wins."
    import importlib.util, fastcore.nbio as nbio
    spec = importlib.util.spec_from_file_location('nbtest_tool', ROOT/'tools'/'nbtest.py'); mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    nb = {'cells': [{'cell_type': 'code', 'id': 'a', 'metadata': {'tags': ['skip-execution']}, 'source': 'x = 1', 'outputs': [], 'execution_count': None},
                    {'cell_type': 'code', 'id': 'b', 'metadata': {'tags': ['skip-execution']}, 'source': '#| eval: false\nx = 2', 'outputs': [], 'execution_count': None},
                    {'cell_type': 'code', 'id': 'c', 'metadata': {}, 'source': 'x = 3', 'outputs': [], 'execution_count': None}],
          'metadata': {'kernelspec': {'language': 'python', 'name': 'python3', 'display_name': 'python3'}}, 'nbformat': 4, 'nbformat_minor': 5}
    cells = nbio.dict2nb(nb).cells
    assert [mod.does_cell_eval(c, True) for c in cells] == [True, False, True]
    assert cells[0].metadata['tags'] == ['skip-execution']            # the cell is left as it was
    import nbdev.test
    assert nbdev.test.does_cell_eval is mod.does_cell_eval             # nbdev-test chooses its cells with the patched test
