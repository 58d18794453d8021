"The `ssgnet` command: bad input exits 2 with one clear line; stages run through papermill into HTML."
import json, os, subprocess, sys, shutil
from pathlib import Path
import nbformat, pytest

ROOT = Path(__file__).resolve().parents[1]
SSGNET = str(Path(sys.executable).parent/'ssgnet')

def run(args, tmp_path, **env):
    e = {**os.environ, 'SSGNET_REPORTS_PATH': str(tmp_path/'reports'), 'SSGNET_DATA_PATH': str(tmp_path/'data'),
         'SSGNET_RUNS_PATH': str(tmp_path/'runs'), **env}
    return subprocess.run([SSGNET, *args], cwd=ROOT, env=e, capture_output=True, text=True, timeout=600)

@pytest.mark.parametrize('args,msg', [
    (['run', 'kvasir-seg'], "unknown dataset 'kvasir-seg'"),
    (['run', 'demo', '--profile', 'fast'], "unknown profile 'fast'"),
    (['run', 'demo', '--stages', 'data,gann'], "unknown stage 'gann'"),
    (['run', 'demo', '-p', 'kimg'], "malformed parameter 'kimg'"),
    (['run', 'demo', '--stages', 'data', '-p', 'kimgg=3'], "parameter 'kimgg' is not declared"),
    (['run', 'demo', '--stages', 'data', '-p', 'gan.kimgg=3'], "unknown parameter 'gan.kimgg'"),
    (['data', 'prepare', 'nope'], "unknown dataset 'nope'"),
    (['data', 'prepare', 'demo', '--max-unpacked', '2G'], 'the demo dataset is generated, not unpacked'),
    (['data', 'prepare', 'kvasir', '--source', 'x.zip', '--max-unpacked', 'lots'], "max_unpacked 'lots' is not a size"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, args, msg):
    r = run(args, tmp_path)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: ') and msg in lines[0], r.stderr
    assert not (tmp_path/'reports').exists() or not any((tmp_path/'reports').rglob('*.html'))  # nothing ran

def test_run_data_stage_end_to_end(tmp_path):
    r = run(['run', 'demo', '--profile', 'smoke', '--stages', 'data'], tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith('profile smoke (from --profile smoke); stages, in order: data\n  data: images at 32 px')   # the plan first
    assert 'Executing' not in r.stderr and 'Kernel is running' not in r.stderr   # no progress bar or kernel chatter into a pipe
    rep = tmp_path/'reports'/'demo'
    page = (rep/'01_data.html').read_text()
    assert 'Built-in demo' in page and '<img' in page              # the preview grid is embedded
    assert 'ensure_prepared(' not in page                          # code hidden by default
    assert page.index('id="Results"') < page.index('<details class="ssg-docs">') < page.index('The registry')   # results first, library folded
    assert 'jp-mod-noOutputs jp-mod-noInput' not in page           # no empty boxes for cells with nothing to show
    nb = nbformat.read(rep/'01_data.ipynb', as_version=4)
    assert nb.metadata.papermill.parameters == {'dataset': 'demo', 'profile': 'smoke'}
    st = json.loads((rep/'status.json').read_text())
    assert st['data']['status'] == 'ok' and st['data']['duration_s'] > 0
    assert [h['value'] for h in st['data']['result']['headline']] == [224, 48, 48]
    idx = (rep/'index.html').read_text()
    assert 'href="01_data.html"' in idx and 'class="ok"' in idx and '<b>train split</b>: 224 images' in idx
    assert 'href="demo/index.html"' in (tmp_path/'reports'/'index.html').read_text()
    assert (tmp_path/'data'/'prepared'/'demo'/'manifest.csv').is_file()

def test_run_with_code_keeps_inputs(tmp_path):
    r = run(['run', 'demo', '--profile', 'smoke', '--stages', 'data', '--with-code'], tmp_path)
    assert r.returncode == 0, r.stderr
    assert 'ensure_prepared' in (tmp_path/'reports'/'demo'/'01_data.html').read_text()

def _nb(path, *sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('dataset = "demo"\nprofile = "smoke"', metadata={'tags': ['parameters']})]
    nb.cells += [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    nbformat.write(nb, path)

def test_failing_stage_renders_error_and_skips_dependents(tmp_path):
    nbs = tmp_path/'nbs'; nbs.mkdir()
    shutil.copy(ROOT/'nbs'/'00_core.ipynb', nbs)
    _nb(nbs/'01_data.ipynb', 'print("before")', 'raise RuntimeError("boom: the data stage failed")')
    _nb(nbs/'02_gan.ipynb', 'print("gan ran")')
    _nb(nbs/'06_report.ipynb', 'print("report ran")')
    r = run(['run', 'demo', '--profile', 'smoke', '--stages', 'data,gan,report'], tmp_path, SSGNET_NBS=str(nbs))
    assert r.returncode == 1, r.stdout + r.stderr
    rep = tmp_path/'reports'/'demo'
    assert 'boom: the data stage failed' in (rep/'01_data.html').read_text()   # the error cell is in the page
    st = json.loads((rep/'status.json').read_text())
    assert st['data']['status'] == 'failed' and 'boom' in st['data']['error']
    assert st['gan']['status'] == 'skipped' and 'needs data' in st['gan']['reason']
    assert st['report']['status'] == 'ok'                       # independent stages still run
    assert not (rep/'02_gan.html').exists()
    assert 'class="skipped"' in (rep/'index.html').read_text()

def test_data_list_shows_prepared_demo(tmp_path):
    assert run(['data', 'prepare', 'demo'], tmp_path).returncode == 0
    r = run(['data', 'list'], tmp_path)
    row = next(l for l in r.stdout.splitlines() if l.strip().startswith('demo'))
    assert 'yes' in row and '224' in row and '48' in row

def test_data_prepare_passes_max_unpacked(tmp_path):
    "--max-unpacked reaches data.prepare: a 3 MiB archive is refused against the user's 1 MiB, and the message names both."
    import zipfile
    with zipfile.ZipFile(tmp_path/'kvasir-seg.zip', 'w', zipfile.ZIP_DEFLATED) as z: z.writestr('kvasir-seg/images/a.jpg', b'0'*(3*2**20))
    r = run(['data', 'prepare', 'kvasir', '--source', str(tmp_path/'kvasir-seg.zip'), '--max-unpacked', '1M'], tmp_path)
    assert r.returncode == 2 and 'unpack to 3.0 MiB, more than the 1.0 MiB allowed' in r.stderr, r.stderr
