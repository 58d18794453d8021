"Every failure mode of `prepare` and `check`: one clear DataError naming the file and the fix; --skip-bad; safety."
import os, shutil, stat, tarfile, zipfile
from pathlib import Path
import numpy as np, pandas as pd, pytest
from PIL import Image
from fixtures_data import *
from ssgnet_nb import data, prepare as prep
from ssgnet_nb.data import prepare, load_manifest, check, DataError, write_png
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
