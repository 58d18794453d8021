"FID/KID stage (issue 6): offline, with network-free feature spaces; no Inception download anywhere."
import shutil, dataclasses
from pathlib import Path
import numpy as np, pytest, torch, torch.nn as nn
from cleanfid import fid as cfid
import cleanfid.downloads_helper, cleanfid.features
import pandas as pd
from types import SimpleNamespace
from ssgnet_nb.data import render_demo, write_png, items
from ssgnet_nb.core import resolve_config, new_run, read_json, write_json, SSGNetError
from ssgnet_nb.pool import pool_from_images, read_pool, pool_dir, pool_key, POOL_META
from ssgnet_nb import fid as F
from ssgnet_nb.weights import WEIGHTS, WeightFileError
from stage_nb import run_results

@pytest.fixture(scope='module')
def root(tmp_path_factory):
    "A data/runs root with the demo dataset prepared once, plus a folder of 40 demo images of one class."
    r = tmp_path_factory.mktemp('fid')
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('SSGNET_DATA_PATH', str(r/'data')); mp.setenv('SSGNET_RUNS_PATH', str(r/'runs'))
        from ssgnet_nb.data import ensure_prepared
        ensure_prepared('demo')
    for i in range(40): write_png(r/'real'/f'{i:03d}.png', render_demo(i, 32, 1)[0])
    return r

@pytest.fixture
def env(root, monkeypatch):
    monkeypatch.setenv('SSGNET_DATA_PATH', str(root/'data')); monkeypatch.setenv('SSGNET_RUNS_PATH', str(root/'runs'))
    monkeypatch.setenv('SSGNET_INCEPTION_WEIGHTS', str(root/'nowhere'/F.INCEPTION_FILE))
    # any attempt by clean-fid to fetch the network or reference statistics fails the test
    def no_download(*a, **k): raise AssertionError('clean-fid tried to download')
    monkeypatch.setattr(cleanfid.features, 'check_download_url', no_download)
    monkeypatch.setattr(cleanfid.downloads_helper, 'check_download_inception', no_download)
    monkeypatch.setattr(cleanfid.downloads_helper.urllib.request, 'urlopen', no_download)
    return root

def dist(a, b, sp=None, **kw): return F.class_distance(a, b, sp or F.stats_space(), **kw)

def test_self_zero_and_symmetric(env, tmp_path):
    real, fake = env/'real', F.degraded_copy(env/'real', tmp_path/'fake', blur=1.0, noise=4)
    assert abs(dist(real, real)['value']) < 1e-6
    ab, ba = dist(real, fake), dist(fake, real)
    assert ab['value'] > 0 and ab['value'] == pytest.approx(ba['value'], rel=1e-5)   # clean-fid keeps float32 features
    assert ab['kid'] == pytest.approx(ba['kid'], rel=1e-5)
    assert (ab['n_real'], ab['n_fake'], ab['metric']) == (40, 40, 'test FD')

@pytest.mark.parametrize('kind, levels', [('blur', (0.5, 1.0, 2.0, 4.0)), ('noise', (4, 12, 30, 60))])
def test_grows_with_degradation(env, tmp_path, kind, levels):
    vals = [dist(env/'real', F.degraded_copy(env/'real', tmp_path/f'{kind}{x}', **{kind: x}))['value'] for x in levels]
    assert all(a < b for a, b in zip(vals, vals[1:])), vals

def test_wrapper_equals_clean_fid(env, tmp_path):
    sp, real = F.stats_space(), env/'real'
    fake = F.degraded_copy(real, tmp_path/'fake', blur=1.5)
    direct = cfid.compute_fid(str(real), str(fake), mode='clean', custom_feat_extractor=sp.fn, custom_fn_resize=sp.resizer(),
                              device=torch.device('cpu'), num_workers=0, batch_size=32, verbose=False)
    r = dist(real, fake, sp)
    assert r['value'] == pytest.approx(direct, rel=1e-9)
    f1, f2 = F.folder_features(real, sp), F.folder_features(fake, sp)
    np.random.seed(0)
    assert r['kid'] == pytest.approx(cfid.kernel_distance(f1, f2), rel=1e-9)
    # equal N: a capped comparison uses the same number of images on both sides and says so
    rc = dist(real, fake, sp, max_images=20)
    assert (rc['n_real'], rc['n_fake']) == (20, 20)

def test_missing_weights_message_and_fallback(env, tmp_path):
    with pytest.raises(F.InceptionMissing) as e: F.inception_space('clean', 'cpu')
    msg = str(e.value)
    for s in (F.INCEPTION_FILE, WEIGHTS['inception'].url, str(env/'nowhere'), 'SSGNET_INCEPTION_WEIGHTS', 'sha256', 'ssgnet weights download inception'): assert s in msg, s
    cfg = resolve_config('smoke', 'fid', dataset='demo'); cfg['fid'].update(domain_steps=5)
    sp = F.feature_space('demo', cfg, 'cpu')
    assert (sp.metric, sp.kid_name, sp.dims) == ('domain FD', 'domain KD', 16) and 'DomainNet' in sp.network
    r = dict(dist(env/'real', F.degraded_copy(env/'real', tmp_path/'f', blur=2), sp), dataset='demo', **{'class': 'lesion'})
    t = F.fid_table([r])
    assert 'domain FD' in t.columns and 'domain KD' in t.columns and not any('FID' in c or c.startswith('KID') for c in t.columns)
    assert 'NOT FID' in F.metric_definitions(sp).definition.iloc[0]
    cfg['fid'].update(fallback=False)
    with pytest.raises(F.InceptionMissing, match='inception-2015-12-05'): F.feature_space('demo', cfg, 'cpu')

def test_five_images_give_kid_and_note(env, tmp_path):
    five = tmp_path/'five'; five.mkdir()
    for f in sorted((env/'real').glob('*.png'))[:5]: shutil.copy(f, five)
    r = dist(five, F.degraded_copy(five, tmp_path/'ff', blur=1.5))
    assert r['value'] is None and (r['n_real'], r['n_fake']) == (5, 5)
    assert np.isfinite(r['kid']) and 'KID' in r['note'] and 'N=5' in r['note']
    assert F.fid_table([dict(r, dataset='demo', **{'class': 'tiny'})])['test FD'].iloc[0] == '—'

class _Layers(nn.Module):
    def forward(self, x): return x.mean((2, 3), keepdim=True).repeat(1, 683, 1, 1)[:, :2048]
class _Net(nn.Module):
    def __init__(self): super().__init__(); self.layers = _Layers()
    def forward(self, x, return_features:bool=False): return self.layers(x) * 0 + 3.0

def test_local_torchscript_is_used_not_downloaded(env, monkeypatch):
    p = env/'weights'/F.INCEPTION_FILE; p.parent.mkdir(exist_ok=True); torch.jit.script(_Net()).save(str(p))
    monkeypatch.setenv('SSGNET_INCEPTION_WEIGHTS', str(p.parent))      # a folder holding the file works too
    sp = F.inception_space('clean', 'cpu')
    assert (sp.metric, sp.dims, sp.mode, sp.size) == ('FID', 2048, 'clean', None)
    x = torch.full((2, 3, 299, 299), 64.)
    assert sp.fn(x).shape == (2, 2048) and sp.fn(x)[0, 0].item() == pytest.approx(-0.5)
    assert F.inception_space('legacy_tensorflow', 'cpu').fn(torch.zeros(1, 3, 32, 32))[0, 0].item() == 3.0
    r = F.class_distance(env/'real', env/'real', sp, max_images=4)           # clean-fid resizes to 299 and calls our module
    assert (r['metric'], r['value'], r['n_real']) == ('FID', None, 4) and 'd=2048' in r['note']
    with pytest.raises(F.ConfigError, match='not supported'): F.inception_space('legacy_pytorch', 'cpu')
    assert sp.source.startswith(f'{F.INCEPTION_FILE} (sha256 ') and WEIGHTS['inception'].url in sp.source   # what a run records

def test_inception_found_in_pretrained_dir(env, monkeypatch, tmp_path):
    "With `inception_weights` empty the registry's place is used: <pretrained_dir>/inception-2015-12-05.pt."
    monkeypatch.setenv('SSGNET_INCEPTION_WEIGHTS', ''); monkeypatch.setenv('SSGNET_PRETRAINED_DIR', str(tmp_path/'pre'))
    assert F.inception_path() is None and str(tmp_path/'pre'/F.INCEPTION_FILE) in F.inception_hint()
    (tmp_path/'pre').mkdir(); torch.jit.script(_Net()).save(str(tmp_path/'pre'/F.INCEPTION_FILE))
    assert F.inception_path() == tmp_path/'pre'/F.INCEPTION_FILE and F.inception_space('clean', 'cpu').metric == 'FID'

@pytest.mark.parametrize('content, says', [(b'', 'empty file'), (b'PK\x03\x04' + bytes(64), 'truncated zip'), ('state_dict', 'torch.save archive')])
def test_bad_inception_file_falls_back_saying_why(env, tmp_path, monkeypatch, capsys, content, says):
    "A file that is not the TorchScript network: the file, what it is and the fix; the stage goes on with the labelled domain distance (or stops when fid.fallback is False)."
    p = tmp_path/F.INCEPTION_FILE
    if content == 'state_dict': torch.save({'w': torch.zeros(3)}, p)
    else: p.write_bytes(content)
    monkeypatch.setenv('SSGNET_INCEPTION_WEIGHTS', str(p))
    with pytest.raises(WeightFileError, match=says) as e: F.inception_space('clean', 'cpu')
    assert str(p) in str(e.value) and 'ssgnet weights download inception' in str(e.value)
    cfg = resolve_config('smoke', 'fid', dataset='demo'); cfg['fid'].update(domain_steps=5)
    assert 'is not a TorchScript archive' in F.fid_plan('demo', cfg) and "'domain FD', NOT FID" in F.fid_plan('demo', cfg)
    capsys.readouterr()
    sp = F.feature_space('demo', cfg, 'cpu')
    out = capsys.readouterr().out
    assert sp.metric == 'domain FD' and str(p) in out and says in out and 'No FID can be computed with that file' in out
    cfg['fid'].update(fallback=False)
    with pytest.raises(WeightFileError, match=says): F.feature_space('demo', cfg, 'cpu')



# ---------------------------------------------------------------- the stage: run_fid / read_fid
@pytest.fixture
def stage(env, tmp_path, monkeypatch):
    "`env` with a runs folder of this test's own (run folders and the pool are not shared between tests)."
    monkeypatch.setenv('SSGNET_RUNS_PATH', str(tmp_path/'runs'))
    return env

def _pool(folder, n=20, split='val'):
    "A stand-in pool of `n` real demo images at 32 px (the smoke GAN resolution)."
    return read_pool(pool_from_images(folder, items('demo', split, size=32), n=n), 'demo')

def _cfg(**over): return resolve_config('smoke', 'fid', dict({'fid.domain_steps': 5}, **over), 'demo')

def test_run_fid_measures_the_pool_table(stage, tmp_path):
    pool = _pool(tmp_path/'pool')
    (tmp_path/'pool'/'lesion'/'stray.png').write_bytes((tmp_path/'pool'/pool.df.file[0]).read_bytes())   # in the folder, not in pool.csv
    cfg = _cfg()
    run = F.run_fid('demo', cfg, pool)
    res = F.read_fid(run)
    assert res.metric == 'domain FD' and res.run_id == run.name and res.profile == 'smoke' and res.wall_s > 0
    d = res.distances.set_index('class')
    assert list(d.index) == ['lesion', 'normal']
    for c in d.index:   # the synthetic side is exactly the class's rows of the table (equal N: the smaller side)
        n_real = len(F.image_files(F.class_folder('demo', c, 32, 'train', limit=cfg['data']['limit'], task=F.label_task('demo'))))
        assert d.loc[c, 'n_fake'] == d.loc[c, 'n_real'] == min(pool.sizes[c], n_real, cfg['fid']['max_images'])
    assert list(res.table.columns[:4]) == ['Dataset', 'Class', 'domain FD', 'domain KD'] and len(res.table) == 2
    assert list(res.definitions.metric) == ['domain FD', 'domain KD'] and 'NOT FID' in res.definitions.definition[0]
    assert sorted(res.figures) == ['grid_lesion', 'grid_normal'] and res.thumbnail == run.path/'grid_lesion.png'
    for p in res.figures.values(): assert p.read_bytes()[:4] == b'\x89PNG'
    assert res.curve is None and 'no finished GAN stage run' in res.curve_note
    for h, (c, r) in zip(res.headline, d.iterrows()):   # one number per class: the Fréchet value, or the kernel distance where N <= d refuses it
        fd = pd.notna(r['value'])
        assert h['metric'] == (f'domain FD {c}' if fd else f'domain KD {c}') and h['unit'] == ''   # a domain KD is shown as it is
        assert h['value'] == pytest.approx(r['value'] if fd else r['kid']) and (h['lo'], h['hi']) == (None, None)
        assert ('NOT FID' if fd else 'NOT KID') in h['note'] and f"N = {r['n_real']} real training images vs {r['n_fake']} synthetic" in h['note']
    assert F.run_fid('demo', cfg, pool).path == run.path                   # same configuration and pool: reused
    again = F.read_fid(F.run_fid('demo', cfg, pool, force=True))          # recomputed: the same numbers
    assert again.path != run.path
    pd.testing.assert_frame_equal(again.distances.drop(columns='network'), res.distances.drop(columns='network'))

def test_run_fid_records_the_feature_network(stage, tmp_path, monkeypatch):
    "done.json and the reader say which weights computed the features; a replaced Inception file is another run, never a reused one."
    pool, cfg = _pool(tmp_path/'pool'), _cfg()
    res = F.read_fid(F.run_fid('demo', cfg, pool))
    assert res.weights.startswith('none: DomainNet trained here') and 'domain_net.pt' in res.weights
    p = tmp_path/'w'/F.INCEPTION_FILE; p.parent.mkdir(); torch.jit.script(_Net()).save(str(p))
    monkeypatch.setenv('SSGNET_INCEPTION_WEIGHTS', str(p))
    inc = F.read_fid(F.run_fid('demo', cfg, pool))
    assert inc.metric == 'FID' and inc.path != res.path and inc.weights.startswith(f'{F.INCEPTION_FILE} (sha256 ') and WEIGHTS['inception'].url in inc.weights
    assert f"feature network weights: {inc.weights}" in (inc.path/'log.txt').read_text()
    torch.save({'w': torch.zeros(3)}, p)                                  # replaced by a wrong file: a new run, on the fallback, saying why
    bad = F.read_fid(F.run_fid('demo', cfg, pool))
    assert bad.path not in (inc.path, res.path) and bad.metric == 'domain FD'

def test_run_fid_refuses_without_pool_and_labels_truncation(stage, tmp_path):
    with pytest.raises(SSGNetError, match='ssgnet run demo --stages gan --profile smoke'): F.run_fid('demo', _cfg(), None)
    d = pool_from_images(tmp_path/'pool', items('demo', 'val', size=32), n=20)
    df = pd.read_csv(d/'pool.csv'); df['psi'] = 0.7; df.to_csv(d/'pool.csv', index=False)
    res = F.read_fid(F.run_fid('demo', _cfg(), read_pool(d, 'demo')))
    assert all(n.startswith('synthetic images sampled at truncation ψ 0.7') for n in res.distances.note)
    assert all('truncation ψ 0.7' in h['note'] for h in res.headline)

def _gan_stage_run(cfg, pool_sha, done=True):
    "A GAN stage run folder as the GAN stage leaves it (its config names the pool table it wrote)."
    r = new_run(dict(cfg, stage='gan', pool_csv_sha256=pool_sha), 'gan', sub='stage')
    if done: r.done(wall_sec=1.0)
    return r

def test_gan_curve_comes_from_the_run_that_made_the_pool(stage, tmp_path, monkeypatch):
    from ssgnet_nb import gan
    cfg = _cfg()
    pool = _pool(pool_dir('demo'))
    write_json(pool.folder/POOL_META, dict(read_json(pool.folder/POOL_META), key=pool_key('demo', cfg)))
    pool = read_pool(pool.folder, 'demo')
    curve = pd.DataFrame(dict(kimg=[0.008, 0.016, 0.008, 0.016], metric='domain FD', value=[2., 1., 3., 1.5], kid=[.2, .1, .3, .15], kid_std=.01,
                              n_real=8, n_fake=8, **{'class': ['lesion', 'lesion', 'normal', 'normal']}))
    made = _gan_stage_run(cfg, pool.csv_sha256)
    other = _gan_stage_run(resolve_config('smoke', 'fid', {'gan.psi': 0.5}, 'demo'), 'another pool')   # newer, made another pool
    _gan_stage_run(cfg, pool.csv_sha256, done=False)                                                    # newest, unfinished
    seen = []
    monkeypatch.setattr(gan, 'read_gan', lambda r: seen.append(r.name) or SimpleNamespace(curve=curve if r.name == made.name else curve.head(1)))
    res = F.read_fid(F.run_fid('demo', cfg, pool))
    assert seen == [made.name] and res.curve_note == f'GAN stage run {made.name}'
    pd.testing.assert_frame_equal(res.curve, curve)
    assert res.figures['gan_curve'].read_bytes()[:4] == b'\x89PNG'
    # the pool grew since (another table): the run that trained its generators (same pool key) is still the one
    grown = F.gan_training_curve('demo', dataclasses.replace(pool, csv_sha256='another table'))
    assert grown[1] == f'GAN stage run {made.name}'
    # no reader in the GAN module: no curve, and why
    monkeypatch.delattr(gan, 'read_gan')
    assert F.gan_training_curve('demo', pool) == (None, 'this version of the GAN stage has no reader (read_gan)')
    res2 = F.read_fid(F.run_fid('demo', _cfg(**{'fid.snapshots': False}), pool))
    assert res2.curve is None and res2.curve_note == 'fid.snapshots is False' and 'gan_curve' not in res2.figures

def test_fid_plan_says_what_will_run(stage, tmp_path):
    plan = F.fid_plan('demo', _cfg())
    assert "'domain FD', NOT FID" in plan and 'up to 32 real training images at 32 px' in plan and 'no measurement for profile' in plan
    assert 'will stop with the instructions' in F.fid_plan('demo', _cfg(**{'fid.fallback': False}))
    p = stage/'weights'/F.INCEPTION_FILE; p.parent.mkdir(exist_ok=True); torch.jit.script(_Net()).save(str(p))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('SSGNET_INCEPTION_WEIGHTS', str(p))
        assert f'FID with the Inception file {p}' in F.fid_plan('demo', _cfg())
        p.write_bytes(b'x')
        assert f'the Inception file {p} is not a TorchScript archive' in F.fid_plan('demo', _cfg())

def test_python_and_notebook_give_the_same_run(stage):
    "The notebook's Results path and a Python call of run_fid are one computation: the Python call reuses the notebook's run."
    over = {'fid.domain_steps': 5}
    cfg = resolve_config('smoke', 'fid', over, 'demo')
    d = pool_from_images(pool_dir('demo'), items('demo', 'train', size=32).groupby('label').head(10))
    write_json(d/POOL_META, dict(read_json(d/POOL_META), key=pool_key('demo', cfg), profile='smoke'))   # as if the GAN stage made it under cfg
    ns, printed = run_results('05_fid.ipynb', dataset='demo', profile='smoke', overrides=over)
    assert 'expected time:' in printed and "'domain FD', NOT FID" in printed
    nb = ns['res']
    assert F.run_fid('demo', cfg, read_pool(pool_dir('demo'), 'demo')).path == nb.path
    assert [h['metric'] for h in nb.headline] == [f"{r['metric'] if pd.notna(r['value']) else r['kid_metric']} {r['class']}" for r in nb.distances.to_dict('records')]
