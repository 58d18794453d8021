"Classification stage: enhancement counts, pool checks, learning on the demo set, CPU reproducibility, and the BreastMNIST study's machinery (issue 17)."
import json
from pathlib import Path
import numpy as np, pandas as pd
import pytest, torch

from ssgnet_nb.core import SSGNetError, resolve_config, runs_dir
from ssgnet_nb.data import items
from ssgnet_nb.pool import read_pool, find_pool, pool_from_images
from ssgnet_nb.classification import (enhance, enhancement_counts, real_items, train_eval, run_classification, read_classification,
                                      bootstrap_metrics, needed_per_class, parse_settings, METRICS)

@pytest.fixture(scope='module')
def roots(tmp_path_factory):
    "One data folder for the module (the demo set generates itself once), one runs folder per test."
    return tmp_path_factory.mktemp('data')

@pytest.fixture(autouse=True)
def env(roots, tmp_path, monkeypatch):
    monkeypatch.setenv('SSGNET_DATA_PATH', str(roots))
    monkeypatch.setenv('SSGNET_RUNS_PATH', str(tmp_path/'runs'))
    monkeypatch.setenv('SSGNET_PRETRAINED_DIR', str(tmp_path/'no_weights'))
    monkeypatch.setenv('SSGNET_DEVICE', 'cpu')
    monkeypatch.delenv('SSGNET_OVERRIDES', raising=False)
    n = torch.get_num_threads(); torch.set_num_threads(1)   # the CPU may be shared: avoid oversubscription
    yield tmp_path
    torch.set_num_threads(n)

def _pool_frame(sizes):
    files = [f'{c}/{i:06d}.png' for c, k in sizes.items() for i in range(k)]
    df = pd.DataFrame({'file': files, 'class': [f.split('/')[0] for f in files]})
    return df.assign(image_path=df.file)

def _train_frame(sizes):
    return pd.DataFrame(dict(image_path=[f'real/{c}{i}.png' for c, k in sizes.items() for i in range(k)], label=[c for c, k in sizes.items() for _ in range(k)]))

@pytest.mark.parametrize('sizes,p,want', [
    ({'a': 300, 'b': 100}, 'original', {'a': 0, 'b': 0}),
    ({'a': 300, 'b': 100}, 'balanced', {'a': 0, 'b': 200}),
    ({'a': 300, 'b': 100}, 0.2, {'a': 60, 'b': 260}),
    ({'a': 300, 'b': 100}, 0.5, {'a': 150, 'b': 350}),
    ({'a': 3875, 'b': 1341}, 0.2, {'a': 775, 'b': 2534 + 775}),       # Chest X-Ray's train split
    ({'x': 10, 'y': 25, 'z': 5}, 0.5, {'x': 28, 'y': 13, 'z': 33}),    # three classes; 0.5 x 25 = 12.5 rounds up to 13
])
def test_enhancement_counts(sizes, p, want):
    pool = _pool_frame({c: 5000 for c in sizes})
    tl = enhance(_train_frame(sizes), pool, p, list(sizes), seed=0, log=lambda *a: None)
    t = enhancement_counts(tl, list(sizes))
    assert t.real.to_dict() == sizes
    assert t.synthetic.to_dict() == want
    assert (t.distinct_synthetic == t.synthetic).all() and (t.passes <= 1).all()          # without replacement
    if p != 'original': assert len(set(t.total)) == 1                                      # balanced after enhancement
    syn = tl[tl.source == 'synthetic']
    assert (syn.label == syn.file.str.split('/').str[0]).all()                             # each image carries its generator's class
    assert not tl.image_path.astype(str).str.contains('copy').any() and len(tl) == sum(sizes.values()) + sum(want.values())

def test_enhancement_small_pool_cycles_and_says_so():
    msgs = []
    tl = enhance(_train_frame({'a': 30, 'b': 10}), _pool_frame({'a': 4, 'b': 7}), 0.5, ['a', 'b'], seed=3, log=msgs.append)
    t = enhancement_counts(tl, ['a', 'b'])
    assert t.synthetic.to_dict() == {'a': 15, 'b': 35}
    assert t.distinct_synthetic.to_dict() == {'a': 4, 'b': 7}
    assert t.passes.to_dict() == {'a': 4, 'b': 5}
    assert len(msgs) == 2 and all('cycling' in m for m in msgs)
    syn = tl[(tl.source == 'synthetic') & (tl.label == 'b')]
    for c in range(4): assert syn[syn.cycle == c].file.is_unique and len(syn[syn.cycle == c]) == 7   # each pass is a full permutation
    # deterministic given the seed, different for another seed
    again = enhance(_train_frame({'a': 30, 'b': 10}), _pool_frame({'a': 4, 'b': 7}), 0.5, ['a', 'b'], seed=3, log=lambda *a: None)
    assert again.file.tolist() == tl.file.tolist()
    other = enhance(_train_frame({'a': 30, 'b': 10}), _pool_frame({'a': 4, 'b': 7}), 0.5, ['a', 'b'], seed=4, log=lambda *a: None)
    assert other.file.tolist() != tl.file.tolist()

def test_needed_per_class():
    tr = _train_frame({'a': 30, 'b': 10})
    assert needed_per_class(tr, parse_settings(['original', 'balanced', 0.2, 0.5]), tstr=False) == 20 + 15
    assert needed_per_class(tr, parse_settings(['original']), tstr=True) == 30

def test_missing_pool_names_the_gan_stage(env):
    with pytest.raises(SSGNetError, match=r'ssgnet run demo --stages gan'): read_pool(env/'runs'/'demo'/'synthetic', 'demo')
    cfg = resolve_config('demo', 'classification', dataset='demo')          # no auto_upstream: the GAN stage must have run
    with pytest.raises(SSGNetError, match=r'--stages gan --profile demo'): find_pool('demo', cfg)

def test_pool_class_mismatch_is_caught(env):
    d = pool_from_images(env/'pool', items('demo', 'val', size=32), n=6)
    assert len(read_pool(d, 'demo')) == 6
    csv = pd.read_csv(d/'pool.csv')
    for bad in ({'lesion': 'benign', 'normal': 'malignant'}, {'lesion': '0', 'normal': '1'}):
        csv.assign(**{'class': csv['class'].map(bad)}).to_csv(d/'pool.csv', index=False)
        with pytest.raises(SSGNetError, match='are not classes of'): read_pool(d, 'demo')
    # a pool of the right dataset that lacks a class the setting needs
    only = csv[csv['class'] == 'lesion']; only.to_csv(d/'pool.csv', index=False)
    pool = read_pool(d, 'demo').df
    with pytest.raises(SSGNetError, match="class 'normal'"): enhance(real_items('demo', 'train', resolve_config('smoke', 'classification', dataset='demo')), pool, 'balanced', ['lesion', 'normal'])
    # a listed file that is gone
    csv.to_csv(d/'pool.csv', index=False); (d/csv.file[0]).unlink()
    with pytest.raises(SSGNetError, match='missing'): read_pool(d, 'demo')

def test_training_beats_majority_baseline(env):
    # the full pipeline on the demo set (original setting): from scratch, a tiny timm ResNet at 32 px
    cfg = resolve_config('smoke', 'classification', dataset='demo', overrides={'data.limit': None},
                         arch='test_resnet', epochs=20, lr=1e-2, batch=32, settings=['original'], seeds=[0])
    run = run_classification('demo', cfg, pool=None, quiet=True)
    r = read_classification(run); res = r.results
    test = items('demo', 'test', size=32)
    majority = test.label.value_counts(normalize=True).max()
    assert res.weights.tolist() == ['from scratch']
    assert res.acc.iloc[0] > majority + 0.04, (res.acc.iloc[0], majority)
    assert res.n_test.iloc[0] == len(test) and (run.path/'train_original.csv').is_file() and run.finished
    st = r.stats.set_index(['setting', 'metric'])
    assert st.loc[('original', 'acc'), 'lo'] <= res.acc.iloc[0] <= st.loc[('original', 'acc'), 'hi']
    assert abs(st.loc[('original', 'acc'), 'mean'] - res.acc.iloc[0]) < 1e-12

def test_seeds_reproducible_on_cpu(env):
    cfg = resolve_config('smoke', 'classification', dataset='demo', arch='test_resnet', epochs=2, lr=1e-2)
    tr, va, te = (real_items('demo', s, cfg) for s in ('train', 'val', 'test'))
    d = pool_from_images(env/'pool', items('demo', 'val', size=32), n=8)
    tl = enhance(tr, read_pool(d, 'demo').df, 0.2, ['lesion', 'normal'], seed=0, log=lambda *a: None)
    run = lambda seed: train_eval(cfg, tl, va, te, ['lesion', 'normal'], seed=seed, quiet=True, log=lambda *a: None)
    a, b, c = run(0), run(0), run(1)
    np.testing.assert_array_equal(a['probs'], b['probs'])
    assert a['history'] == b['history']
    assert not np.array_equal(a['probs'], c['probs'])


@pytest.mark.parametrize('arch', ['resnet50', 'efficientnet_b0', 'densenet121'])
def test_named_timm_backbones_from_scratch_and_from_a_local_file(env, arch):
    "Any timm architecture by name: from scratch without a file; from the local file with the paper schedule's frozen body."
    import timm
    from ssgnet_nb.classification import make_dls, make_learner
    cfg = resolve_config('smoke', 'classification', dataset='demo', arch=arch, batch=4)
    tr, va = real_items('demo', 'train', cfg).head(8), real_items('demo', 'val', cfg).head(4)
    dls = make_dls(tr, va, ['lesion', 'normal'], 32, 4)
    learn, w = make_learner(dls, cfg)
    x, _ = dls.one_batch()
    assert w == 'from scratch' and learn.model(x).shape == (4, 2)
    (env/'no_weights').mkdir(exist_ok=True)
    sd = timm.create_model(arch, pretrained=False).state_dict()
    torch.save(sd, env/'no_weights'/f'{arch}.pth')
    cfg['classification'].update(schedule='paper', unfreeze=2)
    learn, w = make_learner(dls, cfg)
    body = [p for p in learn.model[0].parameters()]
    assert w == f'local {arch}.pth' and learn.model(x).shape == (4, 2)
    assert torch.equal(next(learn.model[0].parameters()).detach(), next(iter(sd.values())))   # the stem holds the file's values
    assert 0 < sum(p.requires_grad for p in body) < len(body)           # the body is frozen except its last layers
    assert all(p.requires_grad for p in learn.model[1].parameters())     # the head trains


def test_breastmnist_study_machinery(env):
    "The cpu profile's study on the bundled BreastMNIST at tiny settings: every model x setting x seed, the TSTR row, intervals, paired differences, figures."
    cfg = resolve_config('cpu', 'classification', {'classification.epochs': 1, 'classification.seeds': [0, 1], 'classification.jobs': 2,
                                                   'classification.settings': ['original', 'balanced', 0.5]}, 'breastmnist', arch=['resnet18', 'resnet10t'])
    tr = real_items('breastmnist', 'train', cfg)                                   # the bundled copy prepares itself
    assert tr.label.value_counts().to_dict() == {'normal_benign': 399, 'malignant': 147}
    need = needed_per_class(tr, parse_settings(cfg['classification']['settings']), True)
    assert need == 399 - 147 + 200                                                  # balance the minority, then +50 % of 399 (199.5 -> 200)
    pool = read_pool(pool_from_images(env/'pool', items('breastmnist', 'test', size=28)), 'breastmnist')   # a stand-in pool (real test images)
    run = run_classification('breastmnist', cfg, pool)
    r = read_classification(run)
    assert len(r.results) == 2 * 4 * 2 and set(r.results.setting) == {'original', 'balanced', '+50%', 'synthetic'}
    assert set(r.results.arch) == {'resnet18', 'resnet10t'} and (r.results.weights == 'from scratch').all() and (r.results.schedule == 'medmnist').all()
    n = r.results.groupby('setting').n_train.first()
    assert n['original'] == 546 and n['balanced'] == 2 * 399 and n['+50%'] == 2 * 399 + 2 * 200 and n['synthetic'] == 2 * 399
    st = r.stats
    assert len(st) == 2 * 4 * len(METRICS) and ((st['lo'] <= st['mean'] + 1e-12) & (st['mean'] <= st['hi'] + 1e-12)).all()
    assert st[['mean', 'lo', 'hi']].apply(lambda c: c.between(0, 1)).all().all()
    assert (st[st.setting == 'original'][['diff', 'diff_lo', 'diff_hi']].abs() < 1e-12).all().all()   # a setting against itself
    assert ((st.diff_lo <= st['diff'] + 1e-12) & (st['diff'] <= st.diff_hi + 1e-12)).all()
    assert r.table.Row.str.contains('Δ AUC').any() and list(r.table.columns[-3:]) == ['Original', 'Balanced', '+50%']
    assert r.tstr is not None and len(r.tstr) == 2 * len(METRICS)
    assert all(f.is_file() for f in r.figures.values()) and {'metrics', 'confusion', 'real_vs_synthetic'} <= set(r.figures)
    assert any('Δ Acc of the best share' in h['metric'] for h in r.headline) and 0 < r.majority < 1
    assert run_classification('breastmnist', cfg, pool).path == run.path          # reused

def test_bootstrap_metrics_known_cases():
    y = np.array([0, 0, 1, 1])
    perfect = np.array([[[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9]]] * 2)
    wrong = perfect[..., ::-1].copy()
    st = bootstrap_metrics({'original': perfect, 'flipped': wrong}, y, B=200).set_index(['setting', 'metric'])
    assert st.loc[('original', 'acc'), 'mean'] == 1 and st.loc[('flipped', 'acc'), 'mean'] == 0
    assert st.loc[('original', 'auc'), 'mean'] == 1 and st.loc[('flipped', 'auc'), 'mean'] == 0
    assert st.loc[('flipped', 'bal_acc'), 'diff'] == -1 and st.loc[('flipped', 'bal_acc'), 'diff_hi'] == -1
