"""GAN stage: per-class runs, resume with more kimg, the synthetic pool (upstream_pool under concurrency, pool.csv rows),
errors, class fidelity; and the hardening of issue 19 (workers that end with their parent, one lock per class run, a bad
start or a failed resume that leaves nothing wrong behind) and issue 20 (fine-tuning from an official pickle by papermill)."""
import os, re, sys, json, time, shutil, signal, threading, subprocess
from pathlib import Path
import numpy as np, pandas as pd, pytest, torch

torch.set_num_threads(1)
from ssgnet_nb.core import resolve_config, file_sha256, list_runs, SSGNetError, load_checkpoint, save_checkpoint, config_hash
from ssgnet_nb.data import items, read_image, write_png, prepare_demo
from ssgnet_nb.pool import PoolError, read_pool, pool_problem, pool_from_images
from ssgnet_nb.stylegan3.training import snapshots, load_generator, generate, TrainingError, build_networks, gan_config
from ssgnet_nb import gan, fidelity

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(scope='module')
def demo_data(tmp_path_factory):
    "A prepared demo dataset in a temporary folder (copied from the repository's prepared copy when present)."
    d = tmp_path_factory.mktemp('data')
    src = ROOT/'data'/'prepared'/'demo'
    if (src/'manifest.csv').is_file() and (src/'px32').is_dir(): shutil.copytree(src, d/'prepared'/'demo', ignore=shutil.ignore_patterns('classes'))
    else: prepare_demo(d/'prepared'/'demo')
    return d

@pytest.fixture
def env(demo_data, tmp_path, monkeypatch):
    monkeypatch.setenv('SSGNET_DATA_PATH', str(demo_data)); monkeypatch.setenv('SSGNET_RUNS_PATH', str(tmp_path/'runs'))
    monkeypatch.delenv('SSGNET_OVERRIDES', raising=False)
    return tmp_path/'runs'

@pytest.fixture
def project(demo_data, tmp_path, monkeypatch):
    "A scratch project: its own settings.ini (SSGNET_SETTINGS) with data, runs, reports and pretrained inside `tmp_path`; the demo data copied in."
    shutil.copytree(demo_data/'prepared', tmp_path/'data'/'prepared')
    (tmp_path/'settings.ini').write_text('[ssgnet]\ndata_path = data\nruns_path = runs\nreports_path = reports\npretrained_dir = pretrained\n')
    for k in [k for k in os.environ if k.startswith('SSGNET_')]: monkeypatch.delenv(k)
    monkeypatch.setenv('SSGNET_SETTINGS', str(tmp_path/'settings.ini'))
    return tmp_path

def smoke(**over): return resolve_config('smoke', 'gan', overrides={'gan.kimg': 0.004, **over}, dataset='demo')

def test_upstream_pool_trains_once_under_concurrency_and_writes_pool_csv(env):
    cfg, res, errs = smoke(), [], []
    def call():
        try: res.append(gan.upstream_pool('demo', cfg))
        except Exception as e: errs.append(e)
    ts = [threading.Thread(target=call) for _ in range(2)]
    for t in ts: t.start()
    for t in ts: t.join()
    assert not errs, errs
    assert res[0].folder == res[1].folder == env/'demo'/'synthetic'
    for c in ('lesion', 'normal'): assert len(list_runs('demo', 'gan', c)) == 1      # trained once per class, not once per caller
    pool = pd.read_csv(res[0].folder/'pool.csv')
    assert list(pool.columns) == ['file', 'class', 'checkpoint_sha256', 'seed', 'psi']
    assert pool['class'].value_counts().to_dict() == {'lesion': 8, 'normal': 8}
    for c in ('lesion', 'normal'):
        pc = pool[pool['class'] == c]
        assert sorted(pc.seed) == list(range(8)) and set(pc.psi) == {1.0}
        ck = snapshots(list_runs('demo', 'gan', c)[-1].path)[-1]
        assert set(pc.checkpoint_sha256) == {file_sha256(ck)}
        assert all((res[0].folder/f).is_file() for f in pc.file) and all(f.startswith(f'{c}/') for f in pc.file)
        # an image is reproducible from (checkpoint, seed, psi)
        G = load_generator(ck); z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(3))
        assert np.array_equal(generate(G, z).numpy()[0], read_image(res[0].folder/f'{c}/3.png'))
    r = list_runs('demo', 'gan', 'lesion')[-1]
    assert {'config.json', 'log.txt', 'metrics.jsonl', 'reals.png', 'fakes_init.png', 'fakes000004.png', 'done.json'} <= {p.name for p in r.path.iterdir()}
    m = r.metrics()[-1]
    assert m['nimg'] == 4 and {'loss_G', 'loss_D', 'p', 'rt', 'img_s'} <= set(m)
    # a pool of another configuration is not reused; a bigger pool is topped up from the same generators
    assert pool_problem('demo', cfg) is None
    assert 'another configuration' in pool_problem('demo', smoke(**{'gan.psi': 0.5}))
    assert 'class' in pool_problem('demo', cfg, min_per_class=12)
    t = {f: (res[0].folder/f).stat().st_mtime_ns for f in pool.file}
    p = gan.upstream_pool('demo', cfg, min_per_class=12)
    assert p.sizes == {'lesion': 12, 'normal': 12} and len(list_runs('demo', 'gan', 'lesion')) == 1
    assert all((p.folder/f).stat().st_mtime_ns == t[f] for f in pool.file)          # the first 8 per class were kept, not redrawn

def test_more_kimg_resumes_the_same_run(env):
    r1 = gan.train_class('demo', 'normal', smoke(), show_progress=False)
    assert r1.summary['nimg'] == 4
    r2 = gan.train_class('demo', 'normal', smoke(**{'gan.kimg': 0.008}), show_progress=False)
    assert r2.path == r1.path and r2.summary['nimg'] == 8
    assert [m['nimg'] for m in r2.metrics()] == [4, 8]
    assert 'resumed from network-snapshot-000004.pt' in (r2.path/'log.txt').read_text()
    assert gan.train_class('demo', 'normal', smoke(**{'gan.kimg': 0.008}), show_progress=False).path == r1.path   # finished: reused
    assert gan.train_class('demo', 'normal', smoke(), force=True, show_progress=False).path != r1.path

def test_classes_in_parallel_processes_equal_sequential(env, tmp_path, monkeypatch):
    "train_all with 2 spawned processes (1 thread each) gives bitwise the same generators as training the classes one after the other."
    cfg = smoke()
    assert gan.class_jobs(cfg, 2, 'cpu') == min(2, len(os.sched_getaffinity(0))) and gan.class_jobs(smoke(**{'gan.jobs': 1}), 2) == 1
    par = gan.train_all('demo', cfg, jobs=2, device='cpu')
    monkeypatch.setenv('SSGNET_RUNS_PATH', str(tmp_path/'runs_seq'))
    seq = gan.train_all('demo', cfg, jobs=1, device='cpu', show_progress=False)
    for c in ('lesion', 'normal'):
        assert par[c].path.parent.parent.parent.parent == env and par[c].finished and par[c].summary['nimg'] == 4
        a, b = (load_checkpoint(snapshots(r.path)[-1]) for r in (par[c], seq[c]))
        for k in a['G_ema']: assert torch.equal(a['G_ema'][k], b['G_ema'][k]), (c, k)
    monkeypatch.setenv('SSGNET_RUNS_PATH', str(env))
    again = gan.train_all('demo', cfg, jobs=2, device='cpu')          # finished runs are reused, nothing is spawned
    assert {c: r.path for c, r in again.items()} == {c: r.path for c, r in par.items()}

def test_missing_pool_without_auto_upstream_names_the_command(env):
    cfg = resolve_config('demo', 'classification', dataset='demo')
    with pytest.raises(PoolError, match='ssgnet run demo --stages gan --profile demo'): gan.upstream_pool('demo', cfg)
    assert not (env/'demo'/'gan').exists()

def test_too_few_images_for_the_batch_leaves_no_run_folder(env):
    with pytest.raises(TrainingError, match='fewer than the batch size 64'): gan.train_class('demo', 'normal', smoke(**{'gan.batch': 64}), show_progress=False)
    assert list_runs('demo', 'gan', 'normal') == []          # the new run failed before its first snapshot: removed

# ---------------------------------------------------------------- class fidelity (ssgnet_nb.fidelity, as the stage uses it)
@pytest.fixture(scope='module')
def clf64(demo_data):
    "The fidelity classifier of the demo profile's resolution (64 px), a committee of 2 CNNs of 40 epochs, trained once for the tests below."
    mp = pytest.MonkeyPatch(); mp.setenv('SSGNET_DATA_PATH', str(demo_data))
    try: yield fidelity.fidelity_classifier('demo', resolve_config('demo', 'gan', dataset='demo', init=None), epochs=40, members=2)
    finally: mp.undo()

def test_class_fidelity_ranks_true_labels_above_swapped(env, tmp_path, clf64):
    "A pool of real val images under their true labels scores a higher class fidelity than the same pool with swapped labels."
    cfg = resolve_config('demo', 'gan', dataset='demo', init=None)
    va = items('demo', 'val', size=64)
    swap = {'lesion': 'normal', 'normal': 'lesion'}
    t = fidelity.class_fidelity('demo', cfg, read_pool(pool_from_images(tmp_path/'true', va), 'demo'), clf=clf64)
    s = fidelity.class_fidelity('demo', cfg, read_pool(pool_from_images(tmp_path/'swapped', va.assign(label=va.label.map(swap))), 'demo'), clf=clf64)
    assert set(t['per_class']) == {'lesion', 'normal'} and 0 <= s['mean'] <= 1
    assert t['real_val_accuracy'] > 0.6 and t['mean'] > 0.6 > s['mean'], (t, s)
    assert 0.5 <= t['real_val_accuracy_blurred'] <= 1 and 0.5 <= t['real_val_accuracy_noisy'] <= 1, t
    # the true-label pool *is* the real val split, so each class's share equals the classifier's recall on that class
    assert t['real_val_recall'] == pytest.approx(t['per_class'], abs=1e-6), t   # float32 mean vs k/n
    for c, (lo, hi) in t['per_class_ci95'].items(): assert 0 <= lo <= t['per_class'][c] <= hi <= 1 and t['n_per_class'][c] == (va.label == c).sum()
    assert t['classifier'] == '2 small CNNs (mean softmax), 40 epochs each, 64px, random 90° rotations and mirrors, blur and noise', t

def test_fidelity_classifier_is_not_a_sharpness_detector(env, clf64):
    "Trained with random blur and noise, the fidelity classifier still gets most blurred (σ=1 px) and noisy (σ=0.1) real val images of each class right."
    net, acc = clf64
    va, cls = items('demo', 'val', size=64), ['lesion', 'normal']
    xv, yv = fidelity._load(va.image_path, 3), torch.tensor([cls.index(l) for l in va.label])
    noisy = (xv + 0.1 * torch.randn(xv.shape, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    with torch.no_grad():
        for name, x in [('blurred', fidelity.gauss_blur(xv, 1.0)), ('noisy', noisy)]:
            p = fidelity._predict(net, x)
            per_class = [float((p[yv == k] == k).float().mean()) for k in range(2)]
            assert min(per_class) >= 0.5, (name, per_class)
    assert acc >= 0.75

def test_truncation_sweep_matches_the_pool_and_collapses_at_psi_0(env):
    "The sweep's row at the pool's ψ scores exactly the pool's class fidelity (same seeds, same pixels); at ψ = 0 every sample is the average image (spread 0)."
    cfg = smoke(); pool = gan.upstream_pool('demo', cfg)
    clf = fidelity.fidelity_classifier('demo', cfg, epochs=2, members=1)
    fid = fidelity.class_fidelity('demo', cfg, pool, clf=clf)
    n = min(pool.sizes.values())
    gens = {c: gan.generator_checkpoint('demo', c, cfg) for c in ('lesion', 'normal')}
    t = fidelity.truncation_sweep('demo', cfg, clf[0], gens, (1.0, 0.5, 0.0), n=n)
    assert len(t) == 6 and set(t['class']) == {'lesion', 'normal'} and (t.n == n).all()
    for c, g in t.groupby('class'):
        g = g.set_index('psi')
        assert g.share[1.0] == fid['per_class'][c] and tuple(g.loc[1.0, ['ci95_lo', 'ci95_hi']]) == pytest.approx(fid['per_class_ci95'][c])
        assert g.spread[0.0] == pytest.approx(0, abs=1e-6) and g.share[0.0] in (0.0, 1.0) and g.spread[1.0] > 0
        assert (g.real_spread > 0).all() and np.allclose(g.spread_ratio, g.spread / g.real_spread)
    fig = fidelity.truncation_grid(gens, (1.0, 0.0), n=3)                     # 2 classes x 2 ψ rows x 3 samples
    assert len(fig.axes) == 12 and fig.axes[0].get_title() == 'lesion, ψ 1' and fig.axes[9].get_title() == 'normal, ψ 0'
    import matplotlib.pyplot as plt; plt.close(fig)
    assert resolve_config('paper', 'gan', dataset='demo')['gan']['psi'] == 1.0   # data generation is untruncated unless a profile says otherwise (demo: 0.9)

# ---------------------------------------------------------------- shipped starting checkpoints and the command line
def test_demo_profile_starts_from_the_shipped_checkpoints():
    "The demo profile's `gan.init` files exist, pass their hash, fit the demo architecture and class, and say how to reproduce them."
    from ssgnet_nb.data import get_dataset
    from ssgnet_nb.stylegan3.training import init_state
    from ssgnet_nb.core import read_json
    cfg = resolve_config('demo', 'gan', dataset='demo')
    g = gan_config(cfg['gan'])
    for c in get_dataset('demo').classes:
        p = gan.init_checkpoint(cfg, c)
        assert p == ROOT/'assets'/'demo'/'gan'/f'{c}.pt'
        sd = init_state(p, g, 3, dict(dataset='demo', label=c))          # hash checked, architecture and class agree
        j = read_json(p.with_suffix('.json'))
        assert j['sha256'] == file_sha256(p) and j['label'] == c and j['kimg'] == int(sd['cur_nimg']) / 1000 >= 1
        assert j['command'].startswith('python -m ssgnet_nb.gan --profile demo') and '"gan.init": null' in j['command'] and '--ship assets/demo/gan' in j['command']
        assert gan.run_identity('demo', c, cfg)['gan']['init'] == j['sha256']
        mk = re.search(rf'^DEMO_GAN_KIMG_{c} \?= ([0-9.]+)$', (ROOT/'Makefile').read_text(), re.M)   # `make demo-checkpoints` remakes this one
        assert mk and float(mk.group(1)) == j['kimg'] and f'"gan.kimg": {j["kimg"]:g}' in j['command'], (c, j['command'])

def test_breastmnist_shipped_generators_say_how_they_were_made():
    "The cpu profile's BreastMNIST checkpoints: hash, architecture and class agree; kimg, command and history match `make breastmnist-checkpoints`; the curve reaches the shipped kimg."
    from ssgnet_nb.stylegan3.training import init_state
    from ssgnet_nb.core import read_json
    cfg = resolve_config('cpu', 'gan', dataset='breastmnist')
    mk = (ROOT/'Makefile').read_text()
    first = float(re.search(r'^BREASTMNIST_GAN_KIMG \?= ([0-9.]+)$', mk, re.M).group(1))
    more = re.findall(r'(\w+):([0-9.]+)', re.search(r'^BREASTMNIST_MORE_KIMG \?=(.*)$', mk, re.M).group(1))   # continuations, in order
    for c in ('malignant', 'normal_benign'):
        p = gan.init_checkpoint(cfg, c)
        sd = init_state(p, gan_config(cfg['gan']), 1, dict(dataset='breastmnist', label=c))   # hash checked, architecture and class agree
        j = read_json(p.with_suffix('.json'))
        assert j['sha256'] == file_sha256(p) and j['label'] == c and j['kimg'] == int(sd['cur_nimg']) / 1000
        parts, steps = gan.training_parts(j), [float(k) for cc, k in more if cc == c]
        assert len(parts) == 1 + len(steps), (c, parts, more)       # from scratch, then one part per continuation in the Makefile
        head = parts[0]
        assert '"gan.init": null' in head['command'] and f'"gan.kimg": {first:g}' in head['command'] and head['kimg'] == first
        for q, prev, k in zip(parts[1:], parts, steps):              # each continuation: from the checkpoint shipped before it, for its kimg
            assert f'"gan.kimg": {k:g}' in q['command'] and '"gan.init": "assets/breastmnist/gan/{label}.pt"' in q['command'], q
            assert abs(q['kimg'] - prev['kimg'] - k) < 1e-6, (c, q['kimg'], prev['kimg'], k)
        assert parts[-1]['sha256'] == j['sha256'] and abs(j['kimg'] - first - sum(steps)) < 1e-6, (c, j['kimg'], first, steps)
        cv = pd.read_csv(p.with_suffix('.curve.csv'))
        assert cv.kimg.max() == j['kimg'] and cv.space_id.nunique() == 1 and cv.kimg.is_monotonic_increasing

def test_gan_module_command_line_ships_checkpoints(env, tmp_path):
    "`python -m ssgnet_nb.gan ... --ship DIR` trains (or reuses) each class and ships its checkpoint with the command itself recorded."
    dest = tmp_path/'assets'
    args = ['--profile', 'smoke', '--overrides', '{"gan.kimg": 0.004}', '--ship', str(dest)]
    r = subprocess.run([sys.executable, '-m', 'ssgnet_nb.gan', *args], capture_output=True, text=True, env={**os.environ, 'OMP_NUM_THREADS': '1'}, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    for c in ('lesion', 'normal'):
        j = json.loads((dest/f'{c}.json').read_text())
        assert j['kimg'] == 0.004 and j['sha256'] == file_sha256(dest/f'{c}.pt') and (dest/f'{c}.pt.sha256').is_file()
        assert j['command'] == 'python -m ssgnet_nb.gan --profile smoke --overrides \'{"gan.kimg": 0.004}\' --ship ' + str(dest)
        assert j['source_run'] == list_runs('demo', 'gan', c)[-1].name
    assert not (env/'demo'/'synthetic'/'pool.csv').exists()     # shipping replaces the pool fill

# ---------------------------------------------------------------- run identity
# Run ids of the kit before its typed configuration (computed with commit 235b30f~1): a finished class run is found again
# only while its identity hashes the same, so these must not change (a change makes every trained generator look missing).
IDENTITIES = {('smoke', 'demo', 'lesion', None): 'af7df7061e', ('demo', 'demo', 'lesion', (('gan.init', None),)): '0d0d4d5918',
              ('paper', 'demo', 'lesion', None): '84cebddddd',
              ('demo', 'breastmnist', 'malignant', (('gan.resolution', 32), ('gan.z_dim', 64), ('gan.w_dim', 64), ('gan.cbase', 4096), ('gan.cmax', 64),
                                                    ('gan.batch', 16), ('gan.gamma', 1.0), ('gan.ada_kimg', 20), ('gan.kimg', 8), ('gan.tick_kimg', 1),
                                                    ('gan.snap', 2), ('gan.keep_snapshots', 1000), ('gan.init', None))): '7c2e6ef2d5'}

@pytest.mark.parametrize('key', list(IDENTITIES), ids=lambda k: f'{k[0]}-{k[1]}')
def test_run_identity_of_older_runs_is_unchanged(key, monkeypatch):
    profile, dataset, label, ov = key
    monkeypatch.setenv('SSGNET_PRECISION', 'fp32')                                    # part of the identity (computed with fp32)
    cfg = resolve_config(profile, 'gan', overrides=dict(ov or ()), dataset=dataset)
    assert config_hash(gan.run_identity(dataset, label, cfg)) == IDENTITIES[key]
    g = dict(cfg['gan'], freeze_d=0, init_kimg=None, init_ada_p=None, init_ema_rampup=True, init_channels='refuse')   # options added later, at their defaults: no key
    assert config_hash(gan.run_identity(dataset, label, dict(cfg, gan=g))) == IDENTITIES[key]
    assert config_hash(gan.run_identity(dataset, label, dict(cfg, gan=dict(g, freeze_d=2)))) != IDENTITIES[key]   # ... set: a new run

# ---------------------------------------------------------------- processes: workers end with their parent; one lock per class run
def _proc_stat(pid:int):
    "(parent pid, state, start time) of process `pid` from /proc, or None when it is gone."
    try: s = Path(f'/proc/{pid}/stat').read_text()
    except OSError: return None
    f = s[s.rindex(')') + 2:].split()
    return int(f[1]), f[0], int(f[19])

def _descendants(root:int) -> dict:
    "{pid: start time} of every live process below `root` (read from /proc: psutil is not a dependency)."
    kids = {}
    for d in Path('/proc').iterdir():
        if d.name.isdigit() and (st := _proc_stat(int(d.name))) and st[1] != 'Z': kids.setdefault(st[0], []).append((int(d.name), st[2]))
    out, todo = {}, [root]
    while todo:
        for pid, start in kids.get(todo.pop(), []): out[pid] = start; todo.append(pid)
    return out

def _alive(procs:dict) -> list:
    "The processes of `procs` {pid: start time} still running (a zombie or a reused pid counts as ended)."
    return [p for p, t in procs.items() if (st := _proc_stat(p)) and st[1] != 'Z' and st[2] == t]

def _cmdline(pid:int) -> bytes:
    try: return Path(f'/proc/{pid}/cmdline').read_bytes()
    except OSError: return b''

def _all_snapshots(runs:Path) -> set:
    return {str(p) for p in runs.rglob('network-snapshot-*.pt')}

@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='reads /proc')
def test_killed_parent_takes_its_training_workers_with_it(project):
    "kill -9 of `python -m ssgnet_nb.gan` while its spawned class workers train: every process it started ends, and no snapshot is written afterwards."
    ov = json.dumps({'gan.kimg': 0.4, 'gan.jobs': 2, 'gan.tick_kimg': 0.004, 'gan.snap': 1, 'gan.grid_size': 4})
    proc = subprocess.Popen([sys.executable, '-m', 'ssgnet_nb.gan', '--profile', 'smoke', '--overrides', ov], cwd=project,
                            env={**os.environ, 'OMP_NUM_THREADS': '1'}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    runs, t0, kids = project/'runs', time.time(), {}
    try:
        while True:   # workers exist and train: both classes have a snapshot
            kids = _descendants(proc.pid)
            if len([p for p in kids if b'spawn_main' in _cmdline(p)]) >= 2 and len({Path(s).parent.parent.name for s in _all_snapshots(runs)}) == 2: break
            assert proc.poll() is None, f'the run ended before it could be killed: {proc.stderr.read().decode()[-1500:]}'
            assert time.time() - t0 < 300, 'no training workers after 300 s'
            time.sleep(0.2)
        kids = _descendants(proc.pid)            # the workers and multiprocessing's resource tracker
        proc.send_signal(signal.SIGKILL); proc.wait()
        time.sleep(0.5); before = _all_snapshots(runs)
        t1 = time.time()
        while _alive(kids) and time.time() - t1 < 15: time.sleep(0.2)
        assert not _alive(kids), f'processes left running after their parent was killed: {[_cmdline(p)[:120] for p in _alive(kids)]}'
        time.sleep(5)
        assert _all_snapshots(runs) == before, sorted(_all_snapshots(runs) - before)
    finally:
        if proc.poll() is None: proc.kill(); proc.wait()
        for p in _alive(kids): os.kill(p, signal.SIGKILL)                               # what this test started, should the check above have failed

HOLD = '''
import os, sys, time, json
import ssgnet_nb.gan as gan
from ssgnet_nb.core import resolve_config
real = gan.train_loop
def held(*a, **k):   # the first process waits inside its lock until the test lets it go
    while not os.path.exists(os.environ['GO']): time.sleep(0.05)
    return real(*a, **k)
gan.train_loop = held
cfg = resolve_config('smoke', 'gan', overrides={'gan.kimg': 0.008, 'gan.grid_size': 4}, dataset='demo')
print('RUN', gan.train_class('demo', 'normal', cfg, show_progress=False).path, flush=True)
'''

def test_two_processes_on_one_class_train_it_once(project):
    "Two processes asking for the same class run: the second waits for the first's lock (saying so), then reuses its finished run; one folder, no duplicated metrics."
    go = project/'GO'; (project/'hold.py').write_text(HOLD)
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'GO': str(go)}
    logs = [project/'a.txt', project/'b.txt']
    start = lambda k: subprocess.Popen([sys.executable, str(project/'hold.py')], cwd=project, env=env, stdout=open(logs[k], 'w'), stderr=subprocess.STDOUT)
    a = start(0); b = None; t0 = time.time()
    try:
        while not list_runs('demo', 'gan', 'normal'):   # the first holds the lock and has made its run folder
            assert a.poll() is None and time.time() - t0 < 300, logs[0].read_text()[-1500:]
            time.sleep(0.1)
        b = start(1)
        while 'waiting for it to finish' not in logs[1].read_text():
            assert b.poll() is None and time.time() - t0 < 300, logs[1].read_text()[-1500:]
            time.sleep(0.1)
        assert len(list_runs('demo', 'gan', 'normal')) == 1        # the second made nothing while it waited
        go.touch()
        assert a.wait(300) == 0 and b.wait(300) == 0, (logs[0].read_text()[-1500:], logs[1].read_text()[-1500:])
    finally:
        for p in (a, b):
            if p is not None and p.poll() is None: p.kill(); p.wait()
    runs = list_runs('demo', 'gan', 'normal')
    ra, rb = (re.search(r'^RUN (.+)$', f.read_text(), re.M).group(1) for f in logs)
    assert len(runs) == 1 and ra == rb == str(runs[0].path) and runs[0].finished
    assert [m['nimg'] for m in runs[0].metrics()] == [8] and (runs[0].path/'log.txt').read_text().count('training stylegan3-t') == 1
    assert 'is training this class run; waiting for it to finish' in logs[1].read_text() and 'waiting' not in logs[0].read_text()

# ---------------------------------------------------------------- a bad start or a failed resume leaves nothing wrong behind
def _kit_start(label:str, cfg:dict) -> Path:
    "A kit checkpoint of `label` under `cfg` made without training (a 0-kimg run of train_loop writes its start)."
    from ssgnet_nb.stylegan3.training import train_loop
    d = Path(os.environ['SSGNET_RUNS_PATH']).parent/f'start-{label}'
    return Path(train_loop(d, gan.class_images('demo', label, cfg), cfg['gan'], kimg=0, meta=dict(dataset='demo', label=label), show_progress=False)['checkpoint'])

@pytest.mark.parametrize('what', ['missing', 'not a checkpoint', 'another model', 'other resolution', 'other class'])
def test_a_bad_start_is_refused_before_any_run_folder(env, tmp_path, what):
    "gan.init missing, unreadable, of another model, of another architecture or of another class: one clear error naming the file, and no run folder."
    p = tmp_path/'start.pt'
    if what == 'not a checkpoint': p.write_bytes(b'not a checkpoint')
    if what == 'another model': save_checkpoint({'w': torch.zeros(2)}, p)
    if what == 'other resolution': shutil.copy(ROOT/'assets'/'demo'/'gan'/'normal.pt', p)        # 64 px, the smoke profile trains 32 px
    if what == 'other class': shutil.copy(_kit_start('lesion', smoke()), p)
    want = {'missing': 'does not exist; check the path', 'not a checkpoint': 'cannot be read', 'another model': 'it is not a kit training checkpoint (it holds w',
            'other resolution': 'resolution: 64 there, 32 here', 'other class': "label: 'lesion' there, 'normal' here"}[what]
    with pytest.raises(TrainingError) as e: gan.train_class('demo', 'normal', smoke(**{'gan.init': str(p)}), show_progress=False)
    assert str(p) in str(e.value) and want in str(e.value) and 'git checkout' not in str(e.value), str(e.value)
    assert list_runs('demo', 'gan', 'normal') == []

def test_missing_shipped_start_says_git_checkout(env, monkeypatch):
    "A shipped starting checkpoint (under the repository's assets/) that is missing: restored with git checkout, the path relative to the repository."
    monkeypatch.setattr(gan, 'project_dir', lambda: ROOT)
    with pytest.raises(TrainingError, match=re.escape('restore the shipped file with `git checkout -- assets/demo/gan/gone_normal.pt`')):
        gan.init_checkpoint(smoke(**{'gan.init': 'assets/demo/gan/gone_{label}.pt'}), 'normal')

def test_a_failed_resume_keeps_the_finished_run(env):
    "A finished run asked for more kimg whose continuation fails at once keeps done.json as it was; a continuation that trains and then fails leaves it resumable."
    r = gan.train_class('demo', 'normal', smoke(), show_progress=False)
    done, snap = (r.path/'done.json').read_bytes(), snapshots(r.path)[-1]
    good = snap.read_bytes(); snap.write_bytes(good[:-10] + bytes(10))            # damaged: the continuation cannot load it
    with pytest.raises(SSGNetError, match='is corrupt'): gan.train_class('demo', 'normal', smoke(**{'gan.kimg': 0.012}), show_progress=False)
    assert (r.path/'done.json').read_bytes() == done and gan.class_run('demo', 'normal', smoke()).path == r.path
    snap.write_bytes(good)
    with pytest.raises(TrainingError, match='non-finite loss'):                       # trains a tick (a snapshot), then fails
        gan.train_class('demo', 'normal', smoke(**{'gan.kimg': 0.012, 'gan.tick_kimg': 0.004}), show_progress=False, inject_nan_at=2)
    assert not r.finished and snapshots(r.path)[-1].name == 'network-snapshot-000008.pt'
    again = gan.train_class('demo', 'normal', smoke(**{'gan.kimg': 0.012, 'gan.tick_kimg': 0.004}), show_progress=False)
    assert again.path == r.path and again.summary['nimg'] == 12 and [m['nimg'] for m in again.metrics()] == [4, 8, 12]

# ---------------------------------------------------------------- where a generator started: kit checkpoint or official pickle
def _official_pickle(path:Path, cfg:dict, seed:int=0) -> Path:
    "An official-layout StyleGAN3 network pickle of fresh weights of `cfg`'s architecture (the kit's own fixture writer; no NVIDIA code)."
    from ssgnet_nb.stylegan3.official import write_official_pickle, official_generator_kwargs, official_discriminator_kwargs
    from ssgnet_nb.stylegan3.augment import AugmentPipe
    g = gan_config(cfg['gan']); torch.manual_seed(seed); G, D = build_networks(g, 3)
    pipe = AugmentPipe(); pipe.p.fill_(0.25)
    return write_official_pickle(path, G=G, D=D, G_ema=G, augment_pipe=pipe, G_kwargs=official_generator_kwargs(g, 3), D_kwargs=official_discriminator_kwargs(g, 3))

def test_describe_training_says_where_the_generator_started(env, tmp_path):
    "Kit checkpoint (counter kept), official pickle (counter reset), official pickle adopted with gan.kimg = 0: the summary and the line say which, from where."
    start = _kit_start('normal', smoke())                       # 0 kimg there
    r1 = gan.train_class('demo', 'normal', smoke(**{'gan.init': str(start)}), show_progress=False)
    assert (r1.summary['init_kind'], r1.summary['init_kimg'], r1.summary['start_kimg']) == ('kit checkpoint', 0, 0)
    assert gan.describe_training(r1) == f"started from {start} (kit checkpoint, 0 kimg there), then trained 0.004 kimg more in this run ({r1.summary['seconds']:.0f} s)"
    pk = _official_pickle(tmp_path/'network-snapshot-001200.pkl', smoke())
    r2 = gan.train_class('demo', 'normal', smoke(**{'gan.init': str(pk), 'gan.init_kimg': 0}), show_progress=False)
    assert (r2.summary['init_kind'], r2.summary['init_kimg'], r2.summary['start_kimg'], r2.summary['kimg']) == ('official stylegan3 pickle', 1200, 0, 0.004)
    assert gan.describe_training(r2) == f"started from {pk} (official stylegan3 pickle, 1200 kimg there; counter reset to 0), then trained 0.004 kimg more in this run ({r2.summary['seconds']:.0f} s)"
    r3 = gan.train_class('demo', 'lesion', smoke(**{'gan.init': str(pk), 'gan.kimg': 0}), show_progress=False)
    assert r3.summary['kimg'] == 1200 and snapshots(r3.path)[-1].name == 'network-snapshot-1200000.pt'
    assert gan.describe_training(r3) == f"started from {pk} (official stylegan3 pickle, 1200 kimg there), used as it is (gan.kimg = 0)"
    G = load_generator(snapshots(r3.path)[-1]); z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(1))
    from ssgnet_nb.stylegan3.official import load_official
    assert torch.equal(generate(G, z), generate(load_official(pk).G_ema, z))           # adopted as it is: the pickle's generator
    old = dict(r1.summary); [old.pop(k) for k in ('init_kind', 'init_kimg')]         # a summary written before init_kind existed
    (r1.path/'done.json').write_text(json.dumps(old))
    assert gan.describe_training(r1).startswith(f"started from {start} (kit checkpoint, 0 kimg there), then trained")

def test_fine_tuning_from_an_official_pickle_by_papermill(project):
    "Issue 20: the GAN stage notebook, run by papermill on the demo data with gan.init an official-format pickle, fine-tunes from it and says so."
    import papermill
    cfg = resolve_config('smoke', 'gan', dataset='demo')
    pk = _official_pickle(project/'start'/'network-snapshot-000012.pkl', cfg)
    over = {'gan.init': str(pk), 'gan.kimg': 0.004, 'gan.init_kimg': 0, 'gan.grid_size': 4}
    nb = papermill.execute_notebook(str(ROOT/'nbs'/'02_gan.ipynb'), str(project/'out.ipynb'), cwd=str(ROOT/'nbs'), kernel_name='python3', progress_bar=False,
                                    parameters=dict(dataset='demo', profile='smoke', overrides=over, fidelity=False))
    errs = [o for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', []) if o.get('output_type') == 'error']
    assert not errs, [f"{e.get('ename')}: {e.get('evalue')}" for e in errs]
    cell = next(c for c in nb.cells if c.cell_type == 'code' and 'print(res.summary)' in c.source)   # the Results cell: plan, run, summary
    text = ''.join(o.get('text', '') for o in cell.get('outputs', []) if o.get('output_type') == 'stream')
    line = 'started from start/network-snapshot-000012.pkl (official stylegan3 pickle, 12 kimg there; counter reset to 0), then trained 0.004 kimg more'
    assert text.count('from start/network-snapshot-000012.pkl (an official StyleGAN3 pickle), training 0.004 kimg') == 2, text[-3000:]   # the plan, per class
    assert text.count(line) == 2, text[-3000:]                                          # the summary, per class
    run = gan.latest_gan('demo')
    res = gan.read_gan(run)
    assert res.summary.count(line) == 2 and set(res.classes) == {'lesion', 'normal'}
    for c, d in res.classes.items():
        s = json.loads((Path(d['run'])/'done.json').read_text())
        assert (s['init'], s['init_sha256'], s['init_kind'], s['init_kimg'], s['start_kimg'], s['kimg']) == (str(pk), file_sha256(pk), 'official stylegan3 pickle', 12, 0, 0.004)
