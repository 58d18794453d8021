"GAN stage: per-class runs, resume with more kimg, the synthetic pool (ensure_pool under concurrency, pool.csv rows), errors, class fidelity."
import os, re, shutil, threading
from pathlib import Path
import numpy as np, pandas as pd, pytest, torch

torch.set_num_threads(1)
from ssgnet_nb.core import resolve_config, file_sha256, list_runs, SSGNetError, load_checkpoint
from ssgnet_nb.data import items, read_image, write_png, prepare_demo
from ssgnet_nb.stylegan3.training import snapshots, load_generator, generate, TrainingError
from ssgnet_nb import gan

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

def smoke(**over): return resolve_config('smoke', 'classification', overrides={'gan.kimg': 0.004, **over}, dataset='demo')

def test_ensure_pool_trains_once_under_concurrency_and_writes_pool_csv(env):
    cfg, res, errs = smoke(), [], []
    def call():
        try: res.append(gan.ensure_pool('demo', cfg))
        except Exception as e: errs.append(e)
    ts = [threading.Thread(target=call) for _ in range(2)]
    for t in ts: t.start()
    for t in ts: t.join()
    assert not errs, errs
    assert res[0] == res[1] == env/'demo'/'synthetic'
    for c in ('lesion', 'normal'): assert len(list_runs('demo', 'gan', c)) == 1      # trained once per class, not once per caller
    pool = pd.read_csv(res[0]/'pool.csv')
    assert list(pool.columns) == ['file', 'class', 'checkpoint_sha256', 'seed', 'psi']
    assert pool['class'].value_counts().to_dict() == {'lesion': 8, 'normal': 8}
    for c in ('lesion', 'normal'):
        pc = pool[pool['class'] == c]
        assert sorted(pc.seed) == list(range(8)) and set(pc.psi) == {1.0}
        ck = snapshots(list_runs('demo', 'gan', c)[-1].path)[-1]
        assert set(pc.checkpoint_sha256) == {file_sha256(ck)}
        assert all((res[0]/f).is_file() for f in pc.file) and all(f.startswith(f'{c}/') for f in pc.file)
        # an image is reproducible from (checkpoint, seed, psi)
        G = load_generator(ck); z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(3))
        assert np.array_equal(generate(G, z).numpy()[0], read_image(res[0]/f'{c}/3.png'))
    r = list_runs('demo', 'gan', 'lesion')[-1]
    assert {'config.json', 'log.txt', 'metrics.jsonl', 'reals.png', 'fakes_init.png', 'fakes000004.png', 'done.json'} <= {p.name for p in r.path.iterdir()}
    m = r.metrics()[-1]
    assert m['nimg'] == 4 and {'loss_G', 'loss_D', 'p', 'rt', 'img_s'} <= set(m)
    # a pool of another configuration is not reused; a bigger pool is topped up from the same generators
    assert gan.pool_status('demo', cfg) is None
    assert 'another configuration' in gan.pool_status('demo', smoke(**{'gan.psi': 0.5}))
    assert 'class' in gan.pool_status('demo', cfg, min_per_class=12)
    t = {f: (res[0]/f).stat().st_mtime_ns for f in pool.file}
    p = gan.ensure_pool('demo', cfg, min_per_class=12)
    pool2 = pd.read_csv(p/'pool.csv')
    assert pool2['class'].value_counts().to_dict() == {'lesion': 12, 'normal': 12} and len(list_runs('demo', 'gan', 'lesion')) == 1
    assert all((p/f).stat().st_mtime_ns == t[f] for f in pool.file)          # the first 8 per class were kept, not redrawn

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
    with pytest.raises(SSGNetError, match='ssgnet run demo --stages gan --profile demo'): gan.ensure_pool('demo', cfg)
    assert not (env/'demo'/'gan').exists()

def test_too_few_images_for_the_batch(env):
    with pytest.raises(TrainingError, match='fewer than the batch size 64'): gan.train_class('demo', 'normal', smoke(**{'gan.batch': 64}), show_progress=False)

@pytest.fixture(scope='module')
def clf64(demo_data):
    "The fidelity classifier of the demo profile's resolution (64 px), a committee of 2 CNNs of 40 epochs, trained once for the tests below."
    mp = pytest.MonkeyPatch(); mp.setenv('SSGNET_DATA_PATH', str(demo_data))
    try: yield gan.fidelity_classifier('demo', resolve_config('demo', 'gan', dataset='demo', init=None), epochs=40, members=2)
    finally: mp.undo()

def test_class_fidelity_ranks_true_labels_above_swapped(env, tmp_path, clf64):
    "A pool of real val images under their true labels scores a higher class fidelity than the same pool with swapped labels."
    cfg = resolve_config('demo', 'gan', dataset='demo', init=None)
    va = items('demo', 'val', size=64)
    swap = {'lesion': 'normal', 'normal': 'lesion'}
    for name, lab in [('true', lambda l: l), ('swapped', lambda l: swap[l])]:
        rows = []
        for k, r in enumerate(va.itertuples()):
            write_png(tmp_path/name/lab(r.label)/f'{k}.png', read_image(r.image_path))
            rows.append(dict(file=f'{lab(r.label)}/{k}.png', **{'class': lab(r.label)}, checkpoint_sha256='x', seed=k, psi=1.0))
        pd.DataFrame(rows).to_csv(tmp_path/name/'pool.csv', index=False)
    t, s = (gan.class_fidelity('demo', cfg, tmp_path/n, clf=clf64) for n in ('true', 'swapped'))
    assert set(t['per_class']) == {'lesion', 'normal'} and 0 <= s['mean'] <= 1
    assert t['real_val_accuracy'] > 0.6 and t['mean'] > 0.6 > s['mean'], (t, s)
    assert 0.5 <= t['real_val_accuracy_blurred'] <= 1 and 0.5 <= t['real_val_accuracy_noisy'] <= 1, t
    # the true-label pool *is* the real val split, so each class's share equals the classifier's recall on that class
    assert t['real_val_recall'] == pytest.approx(t['per_class'], abs=1e-6), t   # float32 mean vs k/n
    for c, (lo, hi) in t['per_class_ci95'].items(): assert 0 <= lo <= t['per_class'][c] <= hi <= 1 and t['n_per_class'][c] == (va.label == c).sum()
    assert t['classifier'] == '2 small CNNs (mean softmax), 40 epochs each, 64px, random 90° rotations and mirrors, blur and noise', t

def test_fidelity_classifier_is_not_a_sharpness_detector(env, clf64):
    "Trained with random blur and noise, the fidelity classifier still gets most blurred (σ=1 px) and noisy (σ=0.1) real val images of each class right (without them, 0 % of one class: it had learned 'sharp texture = normal')."
    net, acc = clf64
    va, cls = items('demo', 'val', size=64), ['lesion', 'normal']
    xv, yv = gan._load(va.image_path, 3), torch.tensor([cls.index(l) for l in va.label])
    noisy = (xv + 0.1 * torch.randn(xv.shape, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    with torch.no_grad():
        for name, x in [('blurred', gan.gauss_blur(xv, 1.0)), ('noisy', noisy)]:
            p = gan._predict(net, x)
            per_class = [float((p[yv == k] == k).float().mean()) for k in range(2)]
            assert min(per_class) >= 0.5, (name, per_class)
    assert acc >= 0.75

def test_truncation_sweep_matches_the_pool_and_collapses_at_psi_0(env):
    "The sweep's row at the pool's ψ scores exactly the pool's class fidelity (same seeds, same pixels); at ψ = 0 every sample is the average image (spread 0)."
    cfg = smoke(); pool = gan.ensure_pool('demo', cfg)
    clf = gan.fidelity_classifier('demo', cfg, epochs=2, members=1)
    fid = gan.class_fidelity('demo', cfg, pool, clf=clf)
    n = pd.read_csv(pool/'pool.csv')['class'].value_counts().min()
    t = gan.truncation_sweep('demo', cfg, clf[0], (1.0, 0.5, 0.0), n=n)
    assert len(t) == 6 and set(t['class']) == {'lesion', 'normal'} and (t.n == n).all()
    for c, g in t.groupby('class'):
        g = g.set_index('psi')
        assert g.share[1.0] == fid['per_class'][c] and tuple(g.loc[1.0, ['ci95_lo', 'ci95_hi']]) == pytest.approx(fid['per_class_ci95'][c])
        assert g.spread[0.0] == pytest.approx(0, abs=1e-6) and g.share[0.0] in (0.0, 1.0) and g.spread[1.0] > 0
        assert (g.real_spread > 0).all() and np.allclose(g.spread_ratio, g.spread / g.real_spread)
    fig = gan.truncation_grid('demo', cfg, (1.0, 0.0), n=3)                     # 2 classes x 2 ψ rows x 3 samples
    assert len(fig.axes) == 12 and fig.axes[0].get_title() == 'lesion, ψ 1' and fig.axes[9].get_title() == 'normal, ψ 0'
    import matplotlib.pyplot as plt; plt.close(fig)
    assert resolve_config('paper', 'gan', dataset='demo')['gan']['psi'] == 1.0   # data generation is untruncated unless a profile says otherwise (demo: 0.9)

def test_demo_profile_starts_from_the_shipped_checkpoints():
    "The demo profile's `gan.init` files exist, pass their hash, fit the demo architecture and class, and say how to reproduce them."
    from ssgnet_nb.data import get_dataset
    from ssgnet_nb.stylegan3.training import gan_config, init_state
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

def test_gan_module_command_line_ships_checkpoints(env, tmp_path):
    "`python -m ssgnet_nb.gan ... --ship DIR` trains (or reuses) each class and ships its checkpoint with the command itself recorded."
    import subprocess, sys, json
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
