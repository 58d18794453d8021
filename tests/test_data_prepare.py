"Each official layout, as a tiny replica, prepared end to end (archive and folder), with its quirks."
import json, os, warnings, zipfile
from pathlib import Path
import numpy as np, pandas as pd, pytest
from PIL import Image
from fixtures_data import *
from ssgnet_nb import data
from ssgnet_nb.data import prepare, load_manifest, prepared_meta, read_image, read_mask, items, check, DataError

@pytest.fixture(autouse=True)
def _data_path(tmp_path, monkeypatch): monkeypatch.setenv('SSGNET_DATA_PATH', str(tmp_path/'data'))

def counts(df): return df.groupby(['split', 'label']).size().to_dict()

def test_kvasir_zip_and_folder(tmp_path):
    z = kvasir_zip(tmp_path/'dl')
    p = prepare('kvasir', z, sizes=(32, 16), patch=16)
    assert p == tmp_path/'data'/'prepared'/'kvasir'
    df = load_manifest('kvasir', p)
    assert len(df) == 10 and set(df.label) == {'positive'} and df.split.value_counts().to_dict() == {'train': 8, 'val': 1, 'test': 1}
    assert df.width.min() == 64 and df.height.tolist()[:2] == [48, 52]                       # original sizes kept
    m = read_mask(p/df['mask'][0]); assert set(np.unique(m)) == {0, 1}                      # 3-channel JPEG mask thresholded
    assert read_image(p/'px16'/df.image[0]).shape == (16, 16, 3)
    assert json.loads((p/'kavsir_bboxes.json').read_text())[df.id[0]]['bbox'][0]['label'] == 'polyp'
    meta = prepared_meta('kvasir', p); assert meta['split_policy'] == 'seeded' and meta['seed'] == 42 and meta['sizes'] == [32, 16]
    # the unpacked folder gives the same manifest, byte for byte; a re-run too
    m1 = (p/'manifest.csv').read_bytes()
    src = tmp_path/'dl'/'build'
    prepare('kvasir', src, sizes=(32, 16), patch=16); assert (p/'manifest.csv').read_bytes() == m1
    prepare('kvasir', z, sizes=(32, 16), patch=16); assert (p/'manifest.csv').read_bytes() == m1
    assert not [q for q in p.parent.iterdir() if q.name.startswith('.') and q.is_dir()]     # no temp folders left
    assert p.stat().st_mode & 0o755 == 0o755 or os.umask(os.umask(0)) & 0o055

def test_kvasir_tar_gz(tmp_path):
    import tarfile
    src = tmp_path/'src'; kvasir_tree(src, 3)
    with tarfile.open(tmp_path/'kvasir-seg.tar.gz', 'w:gz') as t: t.add(src/'Kvasir-SEG', 'Kvasir-SEG')
    assert len(load_manifest('kvasir', prepare('kvasir', tmp_path/'kvasir-seg.tar.gz', sizes=(16,), patch=16))) == 3

def test_kvasir_patches(tmp_path):
    src = tmp_path/'src'; kvasir_tree(src, 4)
    p = prepare('kvasir', src, sizes=(16,), patch=16, pos_frac=0.05)
    pdf = load_manifest('kvasir', p/'patches'); df = load_manifest('kvasir', p)
    assert {'positive', 'negative'} == set(pdf.label) and (pdf.width == 16).all()
    for r in pdf.itertuples():   # rule: positive >= 5 % polyp pixels, negative = none
        m = read_mask(p/'patches'/r.mask)
        assert (m.mean() >= 0.05) if r.label == 'positive' else (m.sum() == 0)
    src_split = dict(zip(df.id, df.split))
    assert all(src_split[i.rsplit('_r', 1)[0]] == s for i, s in zip(pdf.id, pdf.split))   # patches inherit their image's split
    it = items('kvasir', task='classification')
    assert len(it) == len(pdf) and Path(it.image_path[0]).is_file()
    assert set(items('kvasir', task='segmentation').label) == {'positive'}
    t = check('kvasir'); assert t.loc[('main', 'total'), 'total'] == 4 and t.loc[('(classification: patches/)', 'total'), 'total'] == len(pdf)
    assert t.dtypes.eq(int).all()

def test_kvasir_split_file(tmp_path):
    src = tmp_path/'src'; kvasir_tree(src, 4)
    f = tmp_path/'split.csv'; f.write_text('id,split\n' + ''.join(f'{i}.jpg,{"test" if k == 0 else "train"}\n' for k, i in enumerate(KVASIR_IDS[:4])))
    df = load_manifest('kvasir', prepare('kvasir', src, sizes=(16,), split=f'file:{f}', patch=16))
    assert df.split.value_counts().to_dict() == {'train': 2, 'val': 1, 'test': 1}          # no val rows: 10 % (at least one) of train held out
    assert prepared_meta('kvasir')['val_from_train']['n'] == 1 and prepared_meta('kvasir')['split_policy'] == f'file:{f}'
    f.write_text('id,split\n' + f'{KVASIR_IDS[0]},train\n')
    with pytest.raises(DataError, match='does not list 3 item'): prepare('kvasir', src, sizes=(16,), split=f'file:{f}', patch=16)

def test_isic2017_official_and_vmunet(tmp_path):
    src = isic_tree(tmp_path/'src', 2017)
    p = prepare('isic2017', src, sizes=(32,))
    df = load_manifest('isic2017', p)
    assert df.split.value_counts().to_dict() == {'train': 6, 'test': 3, 'val': 2}
    assert not df.id.str.contains('superpixels').any() and set(df.label) == {'lesion'}
    assert read_image(p/df.image[0]).shape == (32, 32, 3)
    df = load_manifest('isic2017', prepare('isic2017', src, sizes=(32,), split='vmunet'))
    assert df.split.value_counts().to_dict() == {'train': 5, 'val': 1, 'test': 2}         # 8 pooled, 7:3; official test unused; val out of train
    check('isic2017')

def test_isic2018_from_official_zips(tmp_path):
    dl = isic_zips(tmp_path/'dl', 2018)
    before = snapshot(dl)
    p = prepare('isic2018', dl, sizes=(32, 16), split='ssgnet')
    df = load_manifest('isic2018', p)
    assert len(df) == 12 and df.split.value_counts().to_dict() == {'train': 8, 'test': 2, 'val': 2}   # train+val pooled, 70/15/15
    assert prepared_meta('isic2018', p)['seed'] == 42
    assert df.width.tolist().count(80) + df.width.tolist().count(88) == 12
    assert snapshot(dl) == before                                                          # the source is never modified
    assert not [q for q in p.parent.iterdir() if q.name.startswith('.')]                   # extraction folder removed

def test_chest_xray_kaggle_archive(tmp_path):
    z = chest_kaggle_zip(tmp_path/'dl')
    with zipfile.ZipFile(z) as f: assert any(n.startswith('chest_xray/chest_xray/') for n in f.namelist()) and any(n.startswith('__MACOSX/') for n in f.namelist())
    p = prepare('chest_xray', z, sizes=(32,))
    df = load_manifest('chest_xray', p)
    assert counts(df) == {('test', 'NORMAL'): 2, ('test', 'PNEUMONIA'): 3, ('train', 'NORMAL'): 3, ('train', 'PNEUMONIA'): 5, ('val', 'NORMAL'): 1, ('val', 'PNEUMONIA'): 1}
    assert (df['mask'] == '').all() and read_image(p/df.image[0]).shape == (32, 32, 1)     # gray, RGB files converted
    meta = prepared_meta('chest_xray', p); assert meta['tree'].endswith('chest_xray') and len(meta['duplicate_trees']) == 1
    df2 = load_manifest('chest_xray', prepare('chest_xray', z, sizes=(32,), split='val_from_train'))
    assert (df2.split == 'test').sum() == 5 and (df2.split == 'val').sum() >= 1 and len(df2) == len(df)
    check('chest_xray')

def test_breastmnist_shapes_and_sizes(tmp_path):
    d = tmp_path/'medmnist'; breast_npz(d, 28); breast_npz(d, 64, flat_labels=True)   # (N,1) labels and a repacked (N,) copy
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        p = prepare('breastmnist', d, sizes=(28, 32, 64))
    assert any('md5' in str(x.message) for x in w)                                         # warn, not fail
    df = load_manifest('breastmnist', p)
    assert len(df) == 15 and counts(df)[('train', 'malignant')] == 3 and counts(df)[('train', 'normal_benign')] == 5
    z = np.load(d/'breastmnist.npz'); z64 = np.load(d/'breastmnist_64.npz')
    i = df.index[df.id == 'train_0001'][0]
    assert (read_image(p/df.image[i])[..., 0] == z['train_images'][1]).all()              # 28 px copied exactly
    assert (read_image(p/'px64'/df.image[i])[..., 0] == z64['train_images'][1]).all()     # 64 px from the native 64 file
    assert meta_sizes(p) == {'28': 28, '32': 64, '64': 64}

def meta_sizes(p): return {str(k): v for k, v in prepared_meta('breastmnist', p)['size_sources'].items()}

@pytest.mark.filterwarnings('ignore:.*has md5')
def test_breastmnist_npz_file_and_zip(tmp_path):
    f = breast_npz(tmp_path/'a', 28, flat_labels=True)
    m1 = (prepare('breastmnist', f, sizes=(28,))/'manifest.csv').read_bytes()
    zp = tmp_path/'b.zip'
    with zipfile.ZipFile(zp, 'w') as z: z.write(f, 'breastmnist.npz')
    assert (prepare('breastmnist', zp, sizes=(28,))/'manifest.csv').read_bytes() == m1

def test_cbis_ddsm(tmp_path):
    src = cbis_tree(tmp_path/'src')
    raw = (src/'mass_case_description_train_set.csv').read_text()
    assert '000000.dcm\n"' in raw and 'breast_density' in raw and 'breast density' in (src/'calc_case_description_train_set.csv').read_text()
    p = prepare('cbis_ddsm', src, sizes=(32,), crop_min=40)
    df = load_manifest('cbis_ddsm', p).set_index('id')
    assert len(df) == 7 and set(df.label) == {'benign', 'malignant'}
    assert df.loc['Mass-Training_P_00004_RIGHT_MLO_1', 'label'] == 'benign'                # BENIGN_WITHOUT_CALLBACK merged
    assert df.loc['Calc-Test_P_00038_LEFT_CC_1', 'split'] == 'test' and set(df.split) <= {'train', 'val', 'test'}
    assert (df.split == 'val').sum() == 1                                                  # 20 % of the 5 training cases
    assert df.loc['Mass-Training_P_00001_LEFT_CC_1', 'width'] == 45                        # max(1.5 x 30, 40)
    for i, r in df.iterrows():   # lesion-centred crops with masks, windowed to the full range
        m, im = read_mask(p/r['mask']), read_image(p/r.image)[..., 0]
        ys, xs = np.nonzero(m)
        assert abs(ys.mean() - 15.5) <= 2 and abs(xs.mean() - 15.5) <= 2, i
        assert im[m == 1].mean() > im[m == 0].mean() + 40                                 # the brighter lesion survives windowing
    check('cbis_ddsm')

def test_cbis_ddsm_kaggle_jpeg(tmp_path):
    src = cbis_kaggle_tree(tmp_path/'kaggle')
    z = zip_tree(src, tmp_path/'cbis-ddsm-breast-cancer-image-dataset.zip', prefix=src)
    p = prepare('cbis_ddsm', z, sizes=(32,), crop_min=40)
    assert prepared_meta('cbis_ddsm', p)['layout'] == 'kaggle-jpeg'
    df = load_manifest('cbis_ddsm', p).set_index('id')
    assert len(df) == 7 and df.loc['Calc-Test_P_00038_LEFT_CC_1', 'label'] == 'benign' and df.loc['Mass-Training_P_00001_LEFT_CC_1', 'width'] == 45
    for i, r in df.iterrows():
        m, im = read_mask(p/r['mask']), read_image(p/r.image)[..., 0]
        ys, xs = np.nonzero(m)
        assert abs(ys.mean() - 15.5) <= 2 and abs(xs.mean() - 15.5) <= 2, i
        assert im[m == 1].mean() > im[m == 0].mean() + 40, i
    check('cbis_ddsm')

def test_cbis_window():
    from ssgnet_nb.prepare import window16
    class DS: pass
    ds = DS(); ds.pixel_array = np.array([[0, 1000], [3000, 4095]], np.uint16)
    assert window16(ds).tolist() == [[0, 62], [187, 255]]                                  # min/max window
    ds.WindowCenter, ds.WindowWidth = 2000, 2000                                           # explicit DICOM window 1000..3000
    assert window16(ds).tolist() == [[0, 0], [255, 255]]
    ds.PhotometricInterpretation = 'MONOCHROME1'; assert window16(ds).tolist() == [[255, 255], [0, 0]]

def test_demo_and_list(tmp_path):
    p = prepare('demo', sizes=(32, 16), n=24)
    assert len(load_manifest('demo', p)) == 24
    lp = data.list_prepared().set_index('dataset')
    assert lp.loc['demo', 'prepared'] == 'yes' and lp.loc['kvasir', 'prepared'] == 'no'
    assert set(data.SPLIT_POLICIES) == set(data.DATASETS)
