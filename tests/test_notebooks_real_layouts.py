"""Stage notebooks on real dataset layouts, not only on the built-in demo: replicas of the official BreastMNIST and
Kvasir-SEG downloads (tests/fixtures_data.py) are prepared as `ssgnet data prepare` would, then
nbs/03_classification.ipynb and nbs/04_segmentation.ipynb run through papermill with the smoke profile (passed as a
parameter, as the test runner does: a notebook's own default, None, is the profile setting, auto), which trains its own
tiny per-class GANs to fill the synthetic pool (auto_upstream)."""
import hashlib
from pathlib import Path
import numpy as np, pandas as pd, pytest
from PIL import Image
import fixtures_data as fd
from ssgnet_nb.core import resolve_config
from ssgnet_nb.data import prepare, load_manifest

ROOT = Path(__file__).resolve().parent.parent

@pytest.fixture
def env(tmp_path, monkeypatch):
    "Every setting the notebooks read points into tmp_path (papermill's kernel inherits the environment)."
    for k, sub in (('DATA_PATH', 'data'), ('RUNS_PATH', 'runs'), ('REPORTS_PATH', 'reports'), ('PRETRAINED_DIR', 'pretrained')):
        monkeypatch.setenv(f'SSGNET_{k}', str(tmp_path/sub))
    monkeypatch.delenv('SSGNET_OVERRIDES', raising=False)
    return tmp_path

def run_nb(name:str, dataset:str, out:Path):
    "Execute nbs/`name` with papermill on the smoke profile (parameters dataset and profile, as a user's command passes them); the executed notebook."
    import papermill
    nb = papermill.execute_notebook(str(ROOT/'nbs'/name), str(out), parameters=dict(dataset=dataset, profile='smoke'), cwd=str(ROOT/'nbs'),
                                    kernel_name='python3', progress_bar=False)
    errs = [o for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', []) if o.get('output_type') == 'error']
    assert not errs, [f"{e.get('ename')}: {e.get('evalue')}" for e in errs]
    return nb

def one_run(runs:Path, dataset:str, stage:str) -> Path:
    "The single finished run folder of `stage` under the temporary runs path."
    rs = [p for p in (runs/dataset/stage).iterdir() if p.is_dir()]
    assert len(rs) == 1, rs
    assert (rs[0]/'done.json').is_file() and (rs[0]/'config.json').is_file()
    return rs[0]

def limited(counts:dict, k) -> int:
    "How many items a split keeps under the profile's limit `k` (stratified by class, at least one per class; docs of `items`)."
    n = sum(counts.values())
    if k is None or k >= n: return n
    return sum(min(c, max(1, int(round(k*c/n)))) for c in counts.values())

def check_pool(runs:Path, dataset:str, classes, every:bool=True):
    "The synthetic pool the smoke profile built: images of every class (or, `every=False`, of some of `classes`), all files there."
    pool = pd.read_csv(runs/dataset/'synthetic'/'pool.csv', dtype=str, keep_default_na=False)
    assert len(pool) and (set(pool['class']) == set(classes) if every else set(pool['class']) <= set(classes)), set(pool['class'])
    assert all((runs/dataset/'synthetic'/f).is_file() for f in pool.file)
    for c in set(pool['class']): assert (runs/dataset/'gan'/c).is_dir()   # one generator per class, trained by the notebook
    return pool

# ---------------------------------------------------------------- BreastMNIST -> 03_classification
BREAST_N = {'train': 40, 'val': 10, 'test': 12}   # 1/3 malignant; more than the smoke limits (32/8/8), so they bite

@pytest.mark.filterwarnings('ignore:.*has md5', 'ignore:.*upsampled')
def test_classification_notebook_on_breastmnist(env, monkeypatch):
    monkeypatch.setattr(fd, 'BREAST_N', BREAST_N)
    src = fd.breast_npz(env/'downloads')                               # breastmnist.npz, labels (N, 1), as on Zenodo
    p = prepare('breastmnist', source=src)                             # = ssgnet data prepare breastmnist --source ...
    assert p == env/'data'/'prepared'/'breastmnist'
    man = load_manifest('breastmnist', p)
    for sp, n in BREAST_N.items(): assert set(man[man.split == sp].label) == {'malignant', 'normal_benign'} and (man.split == sp).sum() == n
    cfg = resolve_config('smoke', 'classification', dataset='breastmnist')
    lim = cfg['data']['limit']
    want = {sp: limited(man[man.split == sp].label.value_counts().to_dict(), lim[sp]) for sp in ('train', 'test')}
    assert want['test'] < BREAST_N['test'] and want['train'] == lim['train']

    nb = run_nb('03_classification.ipynb', 'breastmnist', env/'03_breastmnist.ipynb')
    assert any('breastmnist' in ''.join(o.get('text', '')) for c in nb.cells for o in c.get('outputs', []))

    run = one_run(env/'runs', 'breastmnist', 'classification')
    res = pd.read_csv(run/'results.csv', keep_default_na=False)
    names = {'original', 'balanced', '+20%', 'synthetic'}               # smoke settings + train-on-synthetic
    assert set(res.setting) == names and len(res) == len(names)*len(cfg['classification']['seeds'])
    assert (res.dataset == 'breastmnist').all()
    for k in ('acc', 'bal_acc'): assert res[k].astype(float).between(0, 1).all(), res[k]
    assert (res.n_test.astype(int) == want['test']).all()              # the limited test split of the prepared manifest
    orig = res[res.setting == 'original'].iloc[0]
    assert int(orig.n_real) == want['train'] and int(orig.n_synth) == 0
    assert (res[res.setting != 'original'].n_synth.astype(int) > 0).all()
    test_ids = set(man[man.split == 'test'].id)
    for s, seed in [(s, seed) for s in ('original', 'balanced', 'p20', 'synthetic') for seed in cfg['classification']['seeds']]:
        pr = pd.read_csv(run/f"preds_{cfg['classification']['arch']}_{s}_seed{seed}.csv", keep_default_na=False)
        assert len(pr) == want['test'] and set(pr.id) <= test_ids and set(pr.label) <= {'malignant', 'normal_benign'}
        assert np.allclose(pr[['p_malignant', 'p_normal_benign']].sum(axis=1), 1, atol=1e-4)
    tl = pd.read_csv(run/'train_balanced.csv', keep_default_na=False)
    assert (tl[tl.source == 'real'].image_path.str.contains(str(p))).all()   # real images read from the prepared folder
    check_pool(env/'runs', 'breastmnist', ['malignant', 'normal_benign'])

# ---------------------------------------------------------------- Kvasir-SEG -> 04_segmentation
KVASIR_N = 30   # seeded 80/10/10 split: 24/3/3 images

def kvasir_ids(n:int) -> list:
    "The 10 real-looking ids of the replica, then more of the same form (25 lowercase alphanumerics starting 'cju')."
    return fd.KVASIR_IDS + ['cju' + hashlib.sha1(f'kvasir-{k}'.encode()).hexdigest()[:22] for k in range(n - len(fd.KVASIR_IDS))]

def test_segmentation_notebook_on_kvasir(env, monkeypatch):
    monkeypatch.setattr(fd, 'KVASIR_IDS', kvasir_ids(KVASIR_N))
    z = fd.kvasir_zip(env/'downloads', KVASIR_N)                       # kvasir-seg.zip: Kvasir-SEG/{images,masks}/*.jpg, 3-channel JPEG masks
    # the replica's images are 48-76 px, so the classification patches are 16 px (256 on the real images)
    p = prepare('kvasir', source=z, sizes=(64, 32), patch=16)
    man = load_manifest('kvasir', p)
    assert len(man) == KVASIR_N and man.split.value_counts().to_dict() == {'train': 24, 'val': 3, 'test': 3}
    patches = load_manifest('kvasir', p/'patches')
    for sp in ('train', 'val', 'test'): assert set(patches[patches.split == sp].label) == {'positive', 'negative'}
    cfg = resolve_config('smoke', 'segmentation', dataset='kvasir')
    seg = cfg['segmentation']
    test_ids = sorted(man[man.split == 'test'].id)
    assert limited({'positive': len(test_ids)}, cfg['data']['limit']['test']) == len(test_ids)

    run_nb('04_segmentation.ipynb', 'kvasir', env/'04_kvasir.ipynb')

    run = one_run(env/'runs', 'kvasir', 'segmentation')
    rd = pd.read_csv(run/'rounds.csv', keep_default_na=False)
    assert sorted(rd['round'].astype(int).unique()) == list(range(seg['rounds'] + 1)) == [0, 1]
    r0, r1 = (rd[rd['round'].astype(int) == r].iloc[0] for r in (0, 1))
    assert int(r0.train_real) == 24 and int(r0.train_synth) == 0 and int(r1.train_synth) == seg['pool_size']
    for k in ('DSC', 'IoU', 'mDice', 'Acc'): assert rd[k].astype(float).between(0, 1).all(), rd[k]
    assert (rd.n_images.astype(int) == len(test_ids)).all()
    pool = check_pool(env/'runs', 'kvasir', ['positive', 'negative'], every=False)   # which classes feed the pool is the GAN stage's choice
    for s in seg['seeds']:
        pseudo = sorted((run/f'seed_{s}'/'round_0'/'pseudo').rglob('*.png'))
        assert len(pseudo) == seg['pool_size'] and {q.relative_to(run/f'seed_{s}'/'round_0'/'pseudo').as_posix() for q in pseudo} <= set(pool.file)
        ms = [np.array(Image.open(q)) for q in pseudo]
        for q, m in zip(pseudo, ms): assert m.shape == (seg['size'], seg['size']) and m.dtype == np.uint8 and set(np.unique(m)) <= {0, 255}, (q, np.unique(m))
        r0s = rd[(rd['round'].astype(int) == 0) & (rd.seed.astype(int) == s)].iloc[0]
        assert np.mean([(m == 255).mean() for m in ms]) == pytest.approx(float(r0s.pool_fg_fraction), abs=1e-9)   # the PNGs are the labels of rounds.csv
        for r in (0, 1):
            preds = run/f'seed_{s}'/f'round_{r}'/'test_pred'
            assert sorted(q.stem for q in preds.glob('*.png')) == test_ids
            for i in test_ids: assert set(np.unique(np.array(Image.open(preds/f'{i}.png')))) <= {0, 255}
