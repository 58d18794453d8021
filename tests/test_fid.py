"FID/KID stage (issue 6): offline, with network-free feature spaces; no Inception download anywhere."
import shutil
from pathlib import Path
import numpy as np, pytest, torch, torch.nn as nn
from cleanfid import fid as cfid
import cleanfid.downloads_helper, cleanfid.features
from ssgnet_nb.data import render_demo, write_png
from ssgnet_nb.core import resolve_config
from ssgnet_nb import fid as F

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
    for s in (F.INCEPTION_FILE, F.INCEPTION_URL, str(env/'nowhere'), 'SSGNET_INCEPTION_WEIGHTS', 'sha256'): assert s in msg, s
    cfg = resolve_config('smoke', 'fid', dataset='demo'); cfg['fid'].update(domain_steps=5)
    sp = F.feature_space('demo', cfg, 'cpu')
    assert (sp.metric, sp.kid_name, sp.dims) == ('domain FD', 'domain KD', 16) and 'DomainNet' in sp.network
    r = dict(dist(env/'real', F.degraded_copy(env/'real', tmp_path/'f', blur=2), sp), dataset='demo', **{'class': 'lesion'})
    t = F.fid_table([r])
    assert 'domain FD' in t.columns and 'domain KD ×10³' in t.columns and not any('FID' in c or c.startswith('KID') for c in t.columns)
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


def test_snapshot_images_reuse_the_pool_of_that_checkpoint(env, tmp_path):
    "The last snapshot's images are the pool's (same checkpoint, seeds, psi): linked instead of re-rendered, equal to a render up to 1/255 rounding."
    from ssgnet_nb import gan
    from ssgnet_nb.data import read_image
    from ssgnet_nb.stylegan3.training import snapshots
    cfg = resolve_config('smoke', 'fid', dataset='demo', overrides={'gan.kimg': 0.004})
    pool = gan.ensure_pool('demo', cfg)
    ck = snapshots(gan.class_run('demo', 'normal', cfg).path)[-1]
    rendered = F.snapshot_images(ck, 6, tmp_path/'r')
    linked = F.snapshot_images(ck, 6, tmp_path/'l', pool=pool)
    for s in range(6):
        d = np.abs(read_image(rendered/f"{s}.png").astype(int) - read_image(linked/f"{s}.png").astype(int))
        assert d.max() <= 1 and (d > 0).mean() < 0.01, (s, d.max(), (d > 0).mean())   # a batch of 6 vs the pool's batch: float rounding at most 1/255
        assert (linked/f'{s}.png').stat().st_ino == (pool/f'normal/{s}.png').stat().st_ino   # a link to the pool's file, not a new render
    assert F.snapshot_images(ck, 6, tmp_path/'p', psi=0.5, pool=pool) and (tmp_path/'p'/'0.png').stat().st_ino != (pool/'normal/0.png').stat().st_ino   # other psi: rendered
    assert len(list((tmp_path/'big').glob('*'))) == 0 and len(list(F.snapshot_images(ck, 12, tmp_path/'big', pool=pool).glob('*.png'))) == 12       # more than the pool holds: rendered
