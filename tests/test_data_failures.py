"Every failure mode of `prepare` and `check`: one clear DataError naming the file and the fix; --skip-bad; safety."
import os, shutil, stat, tarfile, zipfile
from pathlib import Path
import numpy as np, pandas as pd, pytest
from PIL import Image
from fixtures_data import *
from ssgnet_nb import data, prepare as prep
from ssgnet_nb.data import prepare, load_manifest, check, DataError, write_png, read_image
from ssgnet_nb.core import SSGNetError

@pytest.fixture(autouse=True)
def _data_path(tmp_path, monkeypatch): monkeypatch.setenv('SSGNET_DATA_PATH', str(tmp_path/'data'))

@pytest.fixture
def kv(tmp_path): return kvasir_tree(tmp_path/'src', 4).parent

def test_dataerror_is_ssgneterror(): assert issubclass(DataError, SSGNetError)

def test_unknown_dataset_and_missing_source(tmp_path):
    with pytest.raises(DataError, match=r"unknown dataset 'kvasir-seg'; known datasets: demo, kvasir"): prepare('kvasir-seg', tmp_path)
    with pytest.raises(DataError, match='source .*nowhere does not exist'): prepare('kvasir', tmp_path/'nowhere')
    with pytest.raises(DataError, match='not available for isic2017; choose one of: official, vmunet'): prepare('isic2017', tmp_path, split='ssgnet')

@pytest.mark.parametrize('name,what', [('kvasir', 'no Kvasir-SEG/images'), ('isic2017', 'none of the official folders'), ('isic2018', 'ISIC2018_Task1-2_Training_Input'),
                                       ('chest_xray', 'NORMAL/ and PNEUMONIA/'), ('breastmnist', 'no breastmnist.npz'), ('cbis_ddsm', 'none of the CBIS-DDSM case-description CSVs')])
def test_source_matches_no_layout(tmp_path, name, what):
    src = tmp_path/'random'; (src/'stuff').mkdir(parents=True); (src/'stuff'/'a.txt').write_text('x')
    with pytest.raises(DataError, match=what): prepare(name, src)
    assert not (tmp_path/'data'/'prepared'/name).exists()

@pytest.mark.filterwarnings('ignore:.*no val items are left')
def test_corrupt_image_and_skip_bad(kv, tmp_path):
    bad = kv/'Kvasir-SEG'/'images'/f'{KVASIR_IDS[1]}.jpg'
    bad.write_bytes(bad.read_bytes()[:300])                                  # truncated JPEG
    with pytest.raises(DataError, match=f"image {bad} cannot be read .*--skip-bad"): prepare('kvasir', kv, sizes=(16,), patch=16)
    assert not (tmp_path/'data'/'prepared'/'kvasir').exists()
    p = prepare('kvasir', kv, sizes=(16,), patch=16, skip_bad=True)
    assert len(load_manifest('kvasir', p)) == 3
    sk = pd.read_csv(p/'skipped.csv'); assert sk.id.tolist() == [KVASIR_IDS[1]] and str(bad) in sk.reason[0]
    check('kvasir')

def test_missing_and_orphan_mask(kv):
    (kv/'Kvasir-SEG'/'masks'/f'{KVASIR_IDS[0]}.jpg').unlink()
    with pytest.raises(DataError, match=f"image .*{KVASIR_IDS[0]}.jpg has no mask in .*masks; restore its mask"): prepare('kvasir', kv, sizes=(16,), patch=16)
    shutil.copy(kv/'Kvasir-SEG'/'masks'/f'{KVASIR_IDS[1]}.jpg', kv/'Kvasir-SEG'/'masks'/'cjuorphan000000000000000.jpg')
    with pytest.raises(DataError, match="mask .*cjuorphan000000000000000.jpg has no image"): prepare('kvasir', kv, sizes=(16,), patch=16)
    p = prepare('kvasir', kv, sizes=(16,), patch=16, skip_bad=True)
    assert len(load_manifest('kvasir', p)) == 3
    assert sorted(pd.read_csv(p/'skipped.csv').id) == sorted([KVASIR_IDS[0], 'cjuorphan000000000000000'])

def test_mask_size_mismatch(tmp_path):
    src = isic_tree(tmp_path/'src', 2018)
    m = src/'ISIC2018_Task1_Training_GroundTruth'/'ISIC_0000003_segmentation.png'
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(m)
    with pytest.raises(DataError, match=f"mask {m} is 12x10 but its image .*ISIC_0000003.jpg is"): prepare('isic2018', src, sizes=(16,))
    p = prepare('isic2018', src, sizes=(16,), skip_bad=True)
    assert 'ISIC_0000003' not in set(load_manifest('isic2018', p).id) and len(pd.read_csv(p/'skipped.csv')) == 1

def test_isic_part_without_ground_truth(tmp_path):
    src = isic_tree(tmp_path/'src', 2018); shutil.rmtree(src/'ISIC2018_Task1_Test_GroundTruth')
    with pytest.raises(DataError, match='not its partner folder ISIC2018_Task1_Test_GroundTruth'): prepare('isic2018', src, sizes=(16,))

def test_empty_class_folder(tmp_path):
    root = chest_tree(tmp_path/'src')
    for f in (root/'test'/'NORMAL').iterdir(): f.unlink()
    with pytest.raises(DataError, match=f"class folder {root/'test'/'NORMAL'} holds no images"): prepare('chest_xray', root.parent, sizes=(16,))

@pytest.mark.filterwarnings('ignore:.*has md5')
def test_breastmnist_bad_files(tmp_path):
    d = tmp_path/'m'; d.mkdir()
    np.savez(d/'breastmnist.npz', train_images=np.zeros((2, 28, 28), np.uint8), train_labels=np.zeros((2, 1)))
    with pytest.raises(DataError, match="breastmnist.npz has no array 'val_images'"): prepare('breastmnist', d)
    (d/'breastmnist.npz').write_bytes(b'not a zip')
    with pytest.raises(DataError, match='cannot be read as a .npz file'): prepare('breastmnist', d)
    breast_npz(d, 28)
    np.savez(d/'breastmnist_64.npz', **{f'{s}_{k}': (np.zeros((n, 64, 64), np.uint8) if k == 'images' else np.ones((n, 1)))
                                        for s, n in BREAST_N.items() for k in ('images', 'labels')})
    with pytest.raises(DataError, match='disagree'): prepare('breastmnist', d)

def test_cbis_missing_dicom_and_mask_mismatch(tmp_path):
    src = cbis_tree(tmp_path/'src', CBIS_CASES[:3] + CBIS_CASES[5:6])                    # three training cases, one test case
    shutil.rmtree(src/'CBIS-DDSM'/'Mass-Training_P_00004_RIGHT_MLO_1')
    with pytest.raises(DataError, match='no DICOM files for Mass-Training_P_00004_RIGHT_MLO_1 .*NBIA Data Retriever'): prepare('cbis_ddsm', src, sizes=(16,))
    p = prepare('cbis_ddsm', src, sizes=(16,), skip_bad=True, crop_min=16)
    assert len(load_manifest('cbis_ddsm', p)) == 3 and len(pd.read_csv(p/'skipped.csv')) == 1
    mask = next((src/'CBIS-DDSM'/'Mass-Training_P_00001_LEFT_CC_2').rglob('*ROI mask*/1-1.dcm'))
    write_dicom(mask, np.zeros((20, 20), np.uint8) + 255, 'ROI mask images')
    with pytest.raises(DataError, match='ROI mask .* is 20x20 but the mammogram .* is 100x150'): prepare('cbis_ddsm', src, sizes=(16,), skip_bad=False)

def test_zip_slip_refused(tmp_path):
    out = tmp_path/'dl'; out.mkdir()
    for name, entry, why in [('dots', '../../evil.txt', "'..' component"), ('abs', '/tmp/evil_ssgnet.txt', 'absolute path')]:
        z = out/f'{name}.zip'
        with zipfile.ZipFile(z, 'w') as f: f.writestr('Kvasir-SEG/images/a.jpg', b'x'); f.writestr(entry, b'boom')
        with pytest.raises(DataError, match=f"entry '{entry}' is .*{why}"): prepare('kvasir', z)
    z = out/'link.zip'
    with zipfile.ZipFile(z, 'w') as f:
        i = zipfile.ZipInfo('Kvasir-SEG/images/link.jpg'); i.external_attr = (stat.S_IFLNK | 0o777) << 16; f.writestr(i, '/etc/passwd')
    with pytest.raises(DataError, match="entry 'Kvasir-SEG/images/link.jpg' is a symbolic link"): prepare('kvasir', z)
    t = out/'link.tar.gz'
    with tarfile.open(t, 'w:gz') as f:
        i = tarfile.TarInfo('Kvasir-SEG/masks'); i.type = tarfile.SYMTYPE; i.linkname = '/etc'; f.addfile(i)
    with pytest.raises(DataError, match="entry 'Kvasir-SEG/masks' is a link"): prepare('kvasir', t)
    assert not (tmp_path/'evil.txt').exists() and not Path('/tmp/evil_ssgnet.txt').exists()
    assert not [q for q in (tmp_path/'data'/'prepared').iterdir()]                          # nothing extracted, nothing left

def test_truncated_archive(tmp_path):
    z = kvasir_zip(tmp_path/'dl', 3); b = z.read_bytes(); z.write_bytes(b[:len(b)//2])
    with pytest.raises(DataError, match='not a readable archive .*download it again'): prepare('kvasir', z)

def test_source_never_modified_and_dest_checks(kv, tmp_path):
    before = snapshot(kv)
    prepare('kvasir', kv, sizes=(16,), patch=16)
    assert snapshot(kv) == before
    with pytest.raises(DataError, match='is inside the source'): prepare('kvasir', kv, dest=kv/'prepared', sizes=(16,))
    z = kvasir_zip(tmp_path/'dl', 2); inside = tmp_path/'data'/'prepared'/'kvasir'/'kvasir-seg.zip'; shutil.copy(z, inside)
    with pytest.raises(DataError, match='lies inside the destination'): prepare('kvasir', inside, sizes=(16,))
    assert inside.is_file()
    other = tmp_path/'mine'; other.mkdir(); (other/'thesis.tex').write_text('precious')
    with pytest.raises(DataError, match='exists and is not a prepared dataset folder'): prepare('kvasir', kv, dest=other, sizes=(16,))
    assert (other/'thesis.tex').read_text() == 'precious'

def test_interrupted_prepare_keeps_previous(kv, tmp_path, monkeypatch):
    p = prepare('kvasir', kv, sizes=(16,), patch=16); m1 = (p/'manifest.csv').read_bytes()
    real, calls = prep.load_image_file, []
    def dying(*a, **k):
        calls.append(1)
        if len(calls) == 3: raise KeyboardInterrupt
        return real(*a, **k)
    monkeypatch.setattr(prep, 'load_image_file', dying)
    (kv/'Kvasir-SEG'/'images'/f'{KVASIR_IDS[0]}.jpg').unlink(); (kv/'Kvasir-SEG'/'masks'/f'{KVASIR_IDS[0]}.jpg').unlink()
    with pytest.raises(KeyboardInterrupt): prepare('kvasir', kv, sizes=(16,), patch=16)
    assert (p/'manifest.csv').read_bytes() == m1                                             # previous prepared folder intact
    assert [q.name for q in p.parent.iterdir()] == ['kvasir']                               # no temp folder left behind

def test_check_reports_problems_and_duplicates(tmp_path, capsys):
    z = chest_kaggle_zip(tmp_path/'dl')
    root = tmp_path/'src'; chest_tree(root)
    shutil.copy(root/'chest_xray'/'train'/'NORMAL'/'IM-0116-0001.jpeg', root/'chest_xray'/'test'/'NORMAL'/'IM-9999-0001.jpeg')   # same pixels in two splits
    p = prepare('chest_xray', root, sizes=(16,))
    t = check('chest_xray'); out = capsys.readouterr().out
    assert 'identical images appear in more than one split' in out and 'IM-9999' in out
    assert t.loc['total', 'total'] == 16 and list(t.columns) == ['NORMAL', 'PNEUMONIA', 'total']
    df = load_manifest('chest_xray', p)
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(p/df.image[0])
    (p/df.image[1]).write_bytes(b'garbage')
    df.loc[2, 'id'] = df.id[3]; df.loc[4, 'label'] = 'COVID'; df.to_csv(p/'manifest.csv', index=False)
    with pytest.raises(DataError) as e: check('chest_xray')
    msg = str(e.value)
    for s in ['4 problem(s)', 'is 5x5, expected 16x16', 'cannot be read', 'appears more than once', "unknown label 'COVID'", 'ssgnet data prepare chest_xray']: assert s in msg, s
    with pytest.raises(DataError, match="dataset 'isic2017' is not prepared"): check('isic2017')

@pytest.mark.filterwarnings('ignore:.*view in')
def test_cli_contract(kv, tmp_path, capsys):
    from ssgnet_nb.cli import main
    assert main(['data', 'prepare', 'kvasir', '--source', str(kv), '--sizes', '16', '--split', 'seeded', '--seed', '3']) == 0
    assert data.prepared_meta('kvasir')['seed'] == 3
    assert main(['data', 'check', 'kvasir']) == 0 and 'positive' in capsys.readouterr().out
    assert main(['data', 'prepare', 'kvasir', '--source', str(tmp_path/'nowhere')]) == 2
    assert main(['data', 'prepare', 'isic2017', '--source', str(kv), '--split', 'ssgnet']) == 2
    err = capsys.readouterr().err
    assert err.count('error: ') == 2 and 'nowhere does not exist' in err and "choose one of: official, vmunet" in err

# ---------------------------------------------------------------- issue 19: hostile and careless inputs
class _Hostile:
    "Unpickling this creates a marker file: proof that code ran."
    def __init__(self, marker): self.marker = str(marker)
    def __reduce__(self): return (open, (self.marker, 'w'))

def _breast_arrays(n=BREAST_N, size=28):
    rng = np.random.default_rng(1)
    return {f'{sp}_{k}': (rng.integers(0, 256, (m, size, size), np.uint8) if k == 'images' else (np.arange(m) % 2)[:, None].astype(np.uint8))
            for sp, m in n.items() for k in ('images', 'labels')}

@pytest.mark.filterwarnings('ignore:.*has md5')
def test_breastmnist_float_images_refused_by_cli(tmp_path, capsys):
    "The issue's repro: train_images = rng.random(...) float32; `ssgnet data prepare breastmnist --source DIR --sizes 28,32` made all-black PNGs."
    from ssgnet_nb.cli import main
    d = tmp_path/'npz'; d.mkdir()
    np.savez(d/'breastmnist.npz', **dict(_breast_arrays(), train_images=np.random.default_rng(0).random((8, 28, 28), np.float32)))
    assert main(['data', 'prepare', 'breastmnist', '--source', str(d), '--sizes', '28,32']) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(d/'breastmnist.npz') in err and "'train_images' is float32 with values in [" in err and 'np.round(x * 255)' in err
    assert not (tmp_path/'data'/'prepared'/'breastmnist').exists()

@pytest.mark.filterwarnings('ignore:.*has md5')
@pytest.mark.parametrize('key,value,found', [
    ('val_images', np.full((3, 28, 28), 300, np.int16), 'is int16 with values in [300, 300], outside 0..255'),
    ('val_images', np.full((3, 28, 28), -4, np.int32), 'is int32 with values in [-4, -4], outside 0..255'),
    ('test_images', np.full((4, 28, 28), 1000, np.uint16), 'is uint16 with values in [1000, 1000]'),
    ('test_images', np.zeros((4, 28, 40), np.uint8), 'has shape (4, 28, 40); expected uint8 gray images shaped (N, 28, 28)'),
    ('train_images', np.zeros((8, 64, 64), np.uint8), 'has shape (8, 64, 64)'),
    ('train_images', np.full((8, 28, 28), np.nan, np.float64), 'is float64 with NaN values'),
    ('train_images', np.zeros((8, 28, 28), bool), 'has dtype bool'),
    ('train_images', np.zeros((8, 28, 28), np.complex64), 'has dtype complex64'),
    ('train_images', np.stack([np.zeros((8, 28, 28), np.uint8), np.ones((8, 28, 28), np.uint8), np.zeros((8, 28, 28), np.uint8)], -1), 'holds colour images'),
    ('val_images', np.zeros((0, 28, 28), np.uint8), 'holds no images'),
    ('train_labels', np.full((8, 1), 2), 'holds values [2]'),
    ('train_labels', np.zeros((7, 1), np.uint8), 'has shape (7, 1), expected (8, 1) or (8,)'),
    ('train_labels', np.full((8,), 0.5), 'holds values [0.5]'),
    ('train_labels', np.full((8,), np.nan), 'holds values [nan]'),
    ('train_labels', np.zeros((8, 2), np.uint8), 'has shape (8, 2)')])
def test_breastmnist_bad_arrays_refused(tmp_path, key, value, found):
    d = tmp_path/'npz'; d.mkdir(); np.savez(d/'breastmnist.npz', **dict(_breast_arrays(), **{key: value}))
    with pytest.raises(DataError) as e: prepare('breastmnist', d, sizes=(28,))
    assert str(d/'breastmnist.npz') in str(e.value) and repr(key) in str(e.value) and found in str(e.value), str(e.value)
    assert not (tmp_path/'data'/'prepared'/'breastmnist').exists()

@pytest.mark.filterwarnings('ignore:.*has md5')
def test_breastmnist_lossless_conversions(tmp_path):
    a = _breast_arrays(); d = tmp_path/'npz'; d.mkdir()
    np.savez(d/'breastmnist.npz', **dict(a, train_images=a['train_images'].astype(np.int64), val_images=a['val_images'][..., None],
                                         test_images=np.repeat(a['test_images'][..., None], 3, -1), train_labels=a['train_labels'].astype(float), val_labels=a['val_labels'].astype(bool)))
    df = load_manifest('breastmnist', p := prepare('breastmnist', d, sizes=(28,)))
    for r in df.itertuples():
        sp, i = r.id.split('_'); assert (read_image(p/r.image)[..., 0] == a[f'{sp}_images'][int(i)]).all(), r.id
        assert r.label == ('malignant', 'normal_benign')[int(a[f'{sp}_labels'][int(i), 0])]

@pytest.mark.filterwarnings('ignore:.*has md5')
def test_breastmnist_object_array_never_unpickled(tmp_path):
    d = tmp_path/'npz'; d.mkdir(); marker = tmp_path/'code_ran'
    np.savez(d/'breastmnist.npz', **dict(_breast_arrays(), val_labels=np.array([_Hostile(marker)] * 3, dtype=object)))
    with pytest.raises(DataError, match="'val_labels' is a pickled object array, which prepare never loads"): prepare('breastmnist', d, sizes=(28,))
    assert not marker.exists()

def _bomb_zip(path, n=prep.RATIO_FLOOR + 2**20):
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as z: z.writestr('Kvasir-SEG/images/zeros.jpg', bytes(n))
    return path

def test_archive_bomb_refused_before_extraction(tmp_path, monkeypatch):
    z = _bomb_zip(tmp_path/'bomb.zip')
    with pytest.raises(DataError, match=r"refusing to extract .*bomb.zip: its entries unpack to 17.0 MiB from .* KiB \(\d+x; .* a zip bomb .* max_unpacked='18M' \(ssgnet data prepare --max-unpacked 18M\)"):
        prepare('kvasir', z)
    assert not (tmp_path/'data'/'prepared').exists() or not any((tmp_path/'data'/'prepared').iterdir())   # nothing extracted, nothing left
    with pytest.raises(DataError, match='does not look like Kvasir-SEG'): prepare('kvasir', z, max_unpacked='18M')   # vouched for: extracted and read
    t = tmp_path/'bomb.tar.gz'
    with tarfile.open(t, 'w:gz') as f: f.add(zipfile.ZipFile(z).extract('Kvasir-SEG/images/zeros.jpg', tmp_path/'x'), 'Kvasir-SEG/images/zeros.jpg')
    with pytest.raises(DataError, match=r"bomb.tar.gz: its entries unpack to 17.0 MiB from"): prepare('kvasir', t)
    monkeypatch.setattr(prep, 'MAX_UNPACKED', 2**20)                                       # a declared total over the limit
    with pytest.raises(DataError, match=r"unpack to 17.0 MiB, more than the 1.0 MiB allowed"): prepare('kvasir', t)
    monkeypatch.setattr(prep.shutil, 'disk_usage', lambda p: type('U', (), {'free': 2**20})())
    with pytest.raises(DataError, match=r"cannot extract .*bomb.zip: it unpacks to 17.0 MiB but only 1.0 MiB are free in"): prepare('kvasir', z, max_unpacked='18M')

def _flag_zip(path, flag=0, method=None):
    "A one-entry zip with general-purpose flag bits `flag` (1 = encrypted) or compression method `method` written into both headers."
    with zipfile.ZipFile(path, 'w') as z: z.writestr('Kvasir-SEG/images/a.jpg', b'x' * 100)
    b = bytearray(path.read_bytes())
    for sig, off in ((b'PK\x03\x04', 6), (b'PK\x01\x02', 8)):
        i = b.find(sig)
        if flag: b[i+off] |= flag
        if method is not None: b[i+off+2:i+off+4] = method.to_bytes(2, 'little')
    path.write_bytes(bytes(b)); return path

def test_encrypted_or_unknown_method_zip_refused(tmp_path):
    with pytest.raises(DataError, match="entry 'Kvasir-SEG/images/a.jpg' is encrypted"): prepare('kvasir', _flag_zip(tmp_path/'enc.zip', flag=1))
    with pytest.raises(DataError, match="entry 'Kvasir-SEG/images/a.jpg' is packed with compression method 99"): prepare('kvasir', _flag_zip(tmp_path/'aes.zip', method=99))

def test_same_id_two_files_named_not_guessed(kv, tmp_path):
    img = kv/'Kvasir-SEG'/'images'/f'{KVASIR_IDS[2]}.jpg'
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(img.with_suffix('.png'))       # cju...jpg and a black cju...png side by side
    with pytest.raises(DataError, match=f"images .*{KVASIR_IDS[2]}.jpg and .*{KVASIR_IDS[2]}.png give the same id '{KVASIR_IDS[2]}' and prepare cannot tell which one is right"):
        prepare('kvasir', kv, sizes=(16,), patch=16)
    p = prepare('kvasir', kv, sizes=(16,), patch=16, skip_bad=True)
    assert KVASIR_IDS[2] not in set(load_manifest('kvasir', p).id) and pd.read_csv(p/'skipped.csv').id.tolist() == [KVASIR_IDS[2]]   # listed once, mask not an orphan
    img.with_suffix('.png').unlink(); m = kv/'Kvasir-SEG'/'masks'/f'{KVASIR_IDS[0]}.jpg'; shutil.copy(m, m.with_suffix('.png'))
    with pytest.raises(DataError, match=f"masks .*{KVASIR_IDS[0]}.jpg and .*{KVASIR_IDS[0]}.png give the same id"): prepare('kvasir', kv, sizes=(16,), patch=16)
    root = chest_tree(tmp_path/'chest'); f = next((root/'train'/'NORMAL').iterdir()); shutil.copy(f, f.with_suffix('.png'))
    with pytest.raises(DataError, match=f"images .*{f.name} and .*{f.stem}.png give the same id"): prepare('chest_xray', root, sizes=(16,))

def test_empty_masks_folder_named_even_with_skip_bad(kv):
    for f in (kv/'Kvasir-SEG'/'masks').iterdir(): f.unlink()
    for skip in (False, True):
        with pytest.raises(DataError, match=r"mask folder .*Kvasir-SEG/masks holds no masks \(named <id>.jpg\), but .*Kvasir-SEG/images holds 4 image\(s\)"):
            prepare('kvasir', kv, sizes=(16,), patch=16, skip_bad=skip)

def _hidden(p): return sorted(q.name for q in p.parent.iterdir() if q.name.startswith('.'))

def test_kill9_leftovers_cleaned_by_next_prepare(tmp_path):
    import signal, subprocess, sys, time
    z = kvasir_zip(tmp_path/'dl', 6)
    p = prepare('kvasir', z, sizes=(16,), patch=16); m1 = (p/'manifest.csv').read_bytes()
    script = ("import time, ssgnet_nb.prepare as prep\nfrom ssgnet_nb.data import prepare\nreal = prep.load_image_file\n"
              "prep.load_image_file = lambda *a, **k: (time.sleep(0.3), real(*a, **k))[1]\n"
              f"prepare('kvasir', {str(z)!r}, sizes=(16,), patch=16)\n")
    pr = subprocess.Popen([sys.executable, '-c', script], env=os.environ.copy())
    try:
        t0 = time.time()
        while not any(q.name.startswith('.kvasir.tmp-') and any(q.rglob('*.png')) for q in p.parent.iterdir()):
            assert pr.poll() is None and time.time() - t0 < 60, 'the prepare ended before it was killed'
            time.sleep(0.05)
    finally: pr.send_signal(signal.SIGKILL); pr.wait()
    left = _hidden(p)
    assert any(n.startswith(f'.kvasir.tmp-{pr.pid}.') for n in left) and any(n.startswith(f'.kvasir.extract-{pr.pid}.') for n in left)
    assert (p/'manifest.csv').read_bytes() == m1                                           # the killed run lost nothing
    assert (prepare('kvasir', z, sizes=(16,), patch=16)/'manifest.csv').read_bytes() == m1 and _hidden(p) == []   # the next run cleans up

def _race(dest, barrier, k, rounds, q):
    try:
        for i in range(rounds):
            tmp = prep.new_tmp(dest); (tmp/'manifest.csv').write_text(f'{k} {i}\n'); (tmp/'prepared.json').write_text('{}')
            barrier.wait(timeout=30); prep.finish(tmp, dest)
        q.put('ok')
    except BaseException as e: q.put(repr(e))

def test_two_prepares_finishing_at_once(tmp_path):
    import multiprocessing as mp
    ctx, dest = mp.get_context('spawn'), tmp_path/'prepared'/'kvasir'   # fresh interpreters: a fork of a process holding threads can hang
    barrier, q = ctx.Barrier(2), ctx.Queue()
    ps = [ctx.Process(target=_race, args=(dest, barrier, k, 30, q)) for k in range(2)]
    for p in ps: p.start()
    res = [q.get(timeout=120) for _ in ps]
    for p in ps: p.join(30)
    assert res == ['ok', 'ok'], res                                                       # no FileNotFoundError / ENOTEMPTY
    assert (dest/'manifest.csv').read_text().split()[1] == '29' and _hidden(dest) == []    # a finished folder in place, nothing left over

def test_demo_size_checked_before_anything_is_written(tmp_path):
    for bad in (7, 33.0, '33px', True):
        with pytest.raises(DataError, match='sizes .* must be'): data.items('demo', size=bad)
    assert not (tmp_path/'data').exists()                                                  # the demo was not even generated
    root = data.prepare_demo(tmp_path/'data'/'prepared'/'demo', n=12, sizes=(64, 32))
    before = {q: q.read_bytes() for q in sorted(root.rglob('*')) if q.is_file() and q.name != 'prepared.json'}
    assert len(data.items('demo', 'train', size=33)) == 8 and prepared_sizes(root) == [64, 32, 33]   # derived, not regenerated
    assert {q: q.read_bytes() for q in before} == before
    twin = data.prepare_demo(tmp_path/'twin'/'demo', n=12, sizes=(64, 32, 33))
    assert all((root/'px33'/q.relative_to(twin/'px33')).read_bytes() == q.read_bytes() for q in (twin/'px33').rglob('*.png'))   # byte-identical to a full generation

def prepared_sizes(root): return data.prepared_meta('demo', root)['sizes']

def test_isic2017_without_test_part(tmp_path):
    src = isic_tree(tmp_path/'src', 2017)
    for f in ISIC17['test'][:2]: shutil.rmtree(src/f)                                      # only Training + Validation downloaded
    with pytest.raises(DataError, match=r"holds the official train and val part\(s\) of ISIC 2017 Part 1 but not the test part\(s\) \(ISIC-2017_Test_v2_Data, "
                                        r"ISIC-2017_Test_v2_Part1_GroundTruth\), which split policy 'official' needs; download them, or prepare with --split vmunet"):
        prepare('isic2017', src, sizes=(16,))
    assert not (tmp_path/'data'/'prepared'/'isic2017').exists()
    p = prepare('isic2017', src, sizes=(16,), split='vmunet')
    assert load_manifest('isic2017', p).split.value_counts().to_dict() == {'train': 5, 'test': 2, 'val': 1}
    note = data.prepared_meta('isic2017')['val_from_train']; assert note['n'] == 1 and 'vmunet' in note['rule']
    for sp in ('train', 'val', 'test'): assert len(data.items('isic2017', sp, size=16)) and data.items('isic2017', sp, size=16).mask_path.notna().all()

POLICY_SOURCES = {'kvasir': lambda d: kvasir_tree(d, 10).parent, 'isic2017': lambda d: isic_tree(d, 2017), 'isic2018': lambda d: isic_tree(d, 2018),
                  'chest_xray': lambda d: chest_tree(d).parent, 'breastmnist': lambda d: breast_npz(d), 'cbis_ddsm': lambda d: cbis_tree(d)}

@pytest.mark.filterwarnings('ignore:.*has md5', 'ignore:.*upsampled', 'ignore:.*view in')
@pytest.mark.parametrize('name', sorted(POLICY_SOURCES))
def test_every_split_policy_gives_train_val_test(tmp_path, name):
    src = POLICY_SOURCES[name](tmp_path/'src')
    for pol in data.SPLIT_POLICIES[name]:
        if pol == 'file:PATH':   # a split file with train and test only
            ids = load_manifest(name, prepare(name, src, sizes=(16,), crop_min=16) if name == 'cbis_ddsm' else prepare(name, src, sizes=(16,))).id
            f = tmp_path/'split.csv'; f.write_text('id,split\n' + ''.join(f'{i},{"test" if k % 4 == 0 else "train"}\n' for k, i in enumerate(ids))); pol = f'file:{f}'
        kw = dict(crop_min=16) if name == 'cbis_ddsm' else dict(patch=16) if name == 'kvasir' else {}
        prepare(name, src, sizes=(16,), split=pol, **kw)
        for sp in ('train', 'val', 'test'):
            for task in [None] + (['classification'] if name == 'kvasir' else []):
                assert len(data.items(name, sp, size=16, task=task)), (pol, sp, task)

def test_items_holds_out_val_for_a_folder_without_val(tmp_path):
    src = kvasir_tree(tmp_path/'src', 10).parent
    p = prepare('kvasir', src, sizes=(16,), patch=16)
    for m in (p/'manifest.csv', p/'patches'/'manifest.csv'):                               # as an older kit wrote `vmunet`-style folders: no val rows
        df = pd.read_csv(m, dtype=str, keep_default_na=False); df.loc[df.split == 'val', 'split'] = 'train'; df.to_csv(m, index=False)
    val = set(data.items('kvasir', 'val').id); assert len(val) == 1
    pv = data.items('kvasir', 'val', task='classification')
    assert len(pv) and {i.rsplit('_r', 1)[0] for i in pv.id} == val                        # a patch follows its image: no leak into train
    assert not {i.rsplit('_r', 1)[0] for i in data.items('kvasir', 'train', task='classification').id} & val

def test_swap_lock_falls_back_to_a_lock_file(kv, tmp_path, monkeypatch):
    "Where a directory cannot be locked (NFS), the swap takes a lock file instead and still completes."
    import fcntl
    real = fcntl.flock
    def no_dirs(fd, op):
        if stat.S_ISDIR(os.fstat(fd if isinstance(fd, int) else fd.fileno()).st_mode): raise OSError(9, 'Bad file descriptor')
        return real(fd, op)
    monkeypatch.setattr(fcntl, 'flock', no_dirs)
    p = prepare('kvasir', kv, sizes=(16,), patch=16)
    assert len(load_manifest('kvasir', p)) == 4 and (p.parent/'.ssgnet.lock').is_file()
