"Tiny replicas of the six official dataset layouts (same folder and file names, formats and quirks), built in a temp folder."
import io, json, os, zipfile
from pathlib import Path
import numpy as np
from PIL import Image

RNG = np.random.default_rng(0)

def _rgb(h, w, seed=0): return np.random.default_rng(seed).integers(0, 255, (h, w, 3), np.uint8)

def _blob_mask(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), np.uint8); m[y0:y1, x0:x1] = 255; return m

def zip_tree(root:Path, out:Path, prefix:Path=None, extra:dict=None) -> Path:
    "Zip every file under `root` (names relative to `prefix`, default root.parent), plus `extra` {name: bytes}."
    prefix = prefix or root.parent
    with zipfile.ZipFile(out, 'w') as z:
        for p in sorted(root.rglob('*')):
            if p.is_file(): z.write(p, p.relative_to(prefix).as_posix())
        for k, v in (extra or {}).items(): z.writestr(k, v)
    return out

# ---------------------------------------------------------------- Kvasir-SEG
KVASIR_IDS = ['cju0qkwl35piu0993l0dewei2', 'cju0qoxqj9q6s0835b43399p4', 'cju0roawvklrq0799vmjorwfv', 'cju0rx1idathl0835detmsp84',
              'cju0s690hkp960855tjuaqvv0', 'cju0sr5ghl0nd08789uzf1raf', 'cju0sxqiclckk08551ycbwhno', 'cju0t4oil7vzk099370nun5h9',
              'cju0tl3uz8blh0993wxvn7ly3', 'cju0u2g7pmnux0801vkk47ivj']

def kvasir_tree(d:Path, n:int=10) -> Path:
    "Kvasir-SEG/images/<id>.jpg, Kvasir-SEG/masks/<id>.jpg (3-channel JPEG masks) and kavsir_bboxes.json; varied sizes."
    root = d/'Kvasir-SEG'
    for k in ('images', 'masks'): (root/k).mkdir(parents=True, exist_ok=True)
    boxes = {}
    for i, iid in enumerate(KVASIR_IDS[:n]):
        h, w = 48 + 4*i, 64 + 6*(i % 3)
        Image.fromarray(_rgb(h, w, i)).save(root/'images'/f'{iid}.jpg', quality=90)
        m = _blob_mask(h, w, 4, 28, 8, 30)
        Image.fromarray(np.stack([m]*3, -1)).save(root/'masks'/f'{iid}.jpg', quality=75)   # 3-channel JPEG: noisy edges
        boxes[iid] = dict(height=h, width=w, bbox=[dict(label='polyp', xmin=8, ymin=4, xmax=30, ymax=28)])
    (root/'kavsir_bboxes.json').write_text(json.dumps(boxes))
    return root

def kvasir_zip(d:Path, n:int=10) -> Path:
    src = d/'build'; kvasir_tree(src, n)
    return zip_tree(src/'Kvasir-SEG', d/'kvasir-seg.zip')

# ---------------------------------------------------------------- ISIC 2017 / 2018
ISIC17 = {'train': ('ISIC-2017_Training_Data', 'ISIC-2017_Training_Part1_GroundTruth', 6),
          'val': ('ISIC-2017_Validation_Data', 'ISIC-2017_Validation_Part1_GroundTruth', 2),
          'test': ('ISIC-2017_Test_v2_Data', 'ISIC-2017_Test_v2_Part1_GroundTruth', 3)}
ISIC18 = {'train': ('ISIC2018_Task1-2_Training_Input', 'ISIC2018_Task1_Training_GroundTruth', 10),
          'val': ('ISIC2018_Task1-2_Validation_Input', 'ISIC2018_Task1_Validation_GroundTruth', 2),
          'test': ('ISIC2018_Task1-2_Test_Input', 'ISIC2018_Task1_Test_GroundTruth', 3)}

def isic_tree(d:Path, year:int=2018) -> Path:
    "The official ISIC folders: images ISIC_XXXXXXX.jpg (+ 2017 superpixels and metadata CSV, 2018 LICENSE/ATTRIBUTION), masks *_segmentation.png {0,255}."
    spec, k = (ISIC17 if year == 2017 else ISIC18), 0
    for sp, (di, dm, n) in spec.items():
        (d/di).mkdir(parents=True, exist_ok=True); (d/dm).mkdir(parents=True, exist_ok=True)
        if year == 2017: (d/di/f'{di}_metadata.csv').write_text('image_id,age_approximate,sex\n')
        else: (d/di/'LICENSE.txt').write_text('CC BY-NC 4.0'); (d/di/'ATTRIBUTION.txt').write_text('ISIC Archive')
        for _ in range(n):
            iid = f'ISIC_{k:07d}'; k += 1
            h, w = (60, 80) if k % 2 else (66, 88)
            Image.fromarray(_rgb(h, w, k)).save(d/di/f'{iid}.jpg')
            Image.fromarray(_blob_mask(h, w, 10, 40, 20, 50)).save(d/dm/f'{iid}_segmentation.png')
            if year == 2017: Image.fromarray(_rgb(h, w, 99)).save(d/di/f'{iid}_superpixels.png')
    return d

def isic_zips(d:Path, year:int=2018) -> Path:
    "A folder holding the six official ISIC zips (as downloaded), each unpacking to its official folder."
    tree, out = isic_tree(d/'build', year), d/'downloads'
    out.mkdir(parents=True)
    for p in sorted(tree.iterdir()): zip_tree(p, out/f'{p.name}.zip')
    return out

# ---------------------------------------------------------------- Chest X-Ray (Kaggle)
CHEST = {'train': (3, 5), 'val': (1, 1), 'test': (2, 3)}

def chest_tree(d:Path, counts=CHEST) -> Path:
    "chest_xray/{train,val,test}/{NORMAL,PNEUMONIA}/*.jpeg, mostly gray, one RGB, Kermany file names."
    root = d/'chest_xray'
    for sp, (nn, npn) in counts.items():
        for c, n in (('NORMAL', nn), ('PNEUMONIA', npn)):
            (root/sp/c).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                name = (f'IM-{115+i:04d}-0001.jpeg' if i % 2 else f'NORMAL2-IM-{1427+i}-0001.jpeg') if c == 'NORMAL' else \
                       (f'person{i+1}_bacteria_{i+1}.jpeg' if i % 2 else f'person{i+1}_virus_{i+6}.jpeg')
                a = _rgb(50 + i, 70, 100*len(sp) + 10*len(c) + i)
                Image.fromarray(a if (sp, c, i) == ('train', 'PNEUMONIA', 0) else a[..., 0]).save(root/sp/c/name)
    return root

def chest_kaggle_zip(d:Path) -> Path:
    "Kaggle's archive.zip: chest_xray/ holds the tree, a copy of it in chest_xray/chest_xray/, and __MACOSX/ ._ files."
    b = d/'build'; root = chest_tree(b)
    dup = chest_tree(b/'dup'); os.rename(dup, root/'chest_xray'); (b/'dup').rmdir()
    extra = {f'{pre}__MACOSX/chest_xray/train/NORMAL/._{p.name}': b'\x00\x05\x16\x07 resource fork'
             for pre in ('', 'chest_xray/') for p in sorted((root/'train'/'NORMAL').iterdir()) if p.is_file()}
    return zip_tree(root, d/'archive.zip', extra=extra)

# ---------------------------------------------------------------- BreastMNIST
BREAST_N = {'train': 8, 'val': 3, 'test': 4}

def breast_npz(d:Path, size:int=28, flat_labels:bool=False, seed:int=0) -> Path:
    "breastmnist.npz (or breastmnist_<size>.npz): train/val/test images (N, s, s) uint8 and labels (N, 1) or (N,)."
    rng, arrs = np.random.default_rng(seed), {}
    for sp, n in BREAST_N.items():
        lab = (np.arange(n) % 3 != 0).astype(np.uint8)   # 0 = malignant, 1 = normal + benign
        arrs[f'{sp}_images'] = rng.integers(0, 255, (n, size, size), np.uint8)
        arrs[f'{sp}_labels'] = lab if flat_labels else lab[:, None]
    d.mkdir(parents=True, exist_ok=True)
    p = d/('breastmnist.npz' if size == 28 else f'breastmnist_{size}.npz')
    np.savez_compressed(p, **arrs)
    return p

# ---------------------------------------------------------------- CBIS-DDSM (TCIA)
def write_dicom(path:Path, a:np.ndarray, desc:str=None, window=None):
    "A minimal DICOM file (explicit VR little endian) holding `a` (uint16 or uint8) as gray pixels."
    from pydicom.dataset import FileMetaDataset, Dataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid
    fm = FileMetaDataset()
    fm.MediaStorageSOPClassUID = '1.2.840.10008.5.1.4.1.1.1.2'; fm.MediaStorageSOPInstanceUID = generate_uid(); fm.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset(); ds.file_meta = fm
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality, ds.PatientID = fm.MediaStorageSOPClassUID, fm.MediaStorageSOPInstanceUID, 'MG', 'P_00001'
    if desc is not None: ds.SeriesDescription = desc
    if window is not None: ds.WindowCenter, ds.WindowWidth = window
    ds.Rows, ds.Columns = a.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PixelRepresentation = 1, 'MONOCHROME2', 0
    ds.BitsAllocated = ds.BitsStored = 8*a.dtype.itemsize; ds.HighBit = ds.BitsStored - 1
    ds.PixelData = np.ascontiguousarray(a).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True); ds.save_as(path, enforce_file_format=True)

CBIS_HEAD = {'mass': 'patient_id,breast_density,left or right breast,image view,abnormality id,abnormality type,mass shape,mass margins,assessment,pathology,subtlety,image file path,cropped image file path,ROI mask file path',
             'calc': 'patient_id,breast density,left or right breast,image view,abnormality id,abnormality type,calc type,calc distribution,assessment,pathology,subtlety,image file path,cropped image file path,ROI mask file path'}

# (kind, split, patient, side, view, abnormality id, pathology, lesion box (y0, y1, x0, x1),
#  SeriesDescription: True = crop and mask in two series described apart, 'same' = one series, both 'ROI mask images', False = none)
CBIS_CASES = [('Mass', 'Training', 'P_00001', 'LEFT', 'CC', 1, 'MALIGNANT', (40, 70, 30, 50), True),
              ('Mass', 'Training', 'P_00001', 'LEFT', 'CC', 2, 'BENIGN', (100, 120, 60, 80), True),
              ('Mass', 'Training', 'P_00004', 'RIGHT', 'MLO', 1, 'BENIGN_WITHOUT_CALLBACK', (20, 40, 20, 44), False),
              ('Calc', 'Training', 'P_00005', 'RIGHT', 'CC', 1, 'MALIGNANT', (60, 76, 40, 56), 'same'),
              ('Calc', 'Training', 'P_00007', 'LEFT', 'MLO', 1, 'BENIGN', (30, 50, 50, 70), False),
              ('Mass', 'Test', 'P_00016', 'LEFT', 'CC', 1, 'MALIGNANT', (50, 80, 20, 40), True),
              ('Calc', 'Test', 'P_00038', 'LEFT', 'CC', 1, 'BENIGN_WITHOUT_CALLBACK', (70, 90, 30, 60), False)]

def cbis_tree(d:Path, cases=CBIS_CASES, shape=(150, 100)) -> Path:
    "CBIS-DDSM/<subject>/<date-study>/<series>/1-1.dcm (+ 1-2.dcm) as the NBIA Data Retriever saves them, and the four CSVs."
    root, done = d/'CBIS-DDSM', set()
    for k, (kind, sp, pid, side, view, ab, path, (y0, y1, x0, x1), desc) in enumerate(cases):
        full = f'{kind}-{sp}_{pid}_{side}_{view}'; roi = f'{full}_{ab}'
        img = (np.random.default_rng(len(full)).integers(500, 3000, shape)).astype(np.uint16)
        for c in cases:   # every lesion of this mammogram is brighter
            if f'{c[0]}-{c[1]}_{c[2]}_{c[3]}_{c[4]}' == full: img[c[7][0]:c[7][1], c[7][2]:c[7][3]] += 1000
        if full not in done:
            write_dicom(root/full/f'07-20-2016-DDSM-{k:05d}'/f'1.000000-full mammogram images-{k:05d}'/'1-1.dcm', img, 'full mammogram images' if desc else None)
            done.add(full)
        m = np.zeros(shape, np.uint8); m[y0:y1, x0:x1] = 255
        crop = img[y0:y1, x0:x1]
        if desc == 'same':   # one series folder, both files described 'ROI mask images': crop 1-1.dcm, mask 1-2.dcm
            s = root/roi/f'07-21-2016-DDSM-{k:05d}'/f'1.000000-ROI mask images-{k:05d}'
            write_dicom(s/'1-1.dcm', crop, 'ROI mask images'); write_dicom(s/'1-2.dcm', m, 'ROI mask images')
        elif desc:   # crop and mask in two series folders, both called 1-1.dcm
            write_dicom(root/roi/f'07-21-2016-DDSM-{k:05d}'/f'1.000000-ROI mask images-{k:05d}'/'1-1.dcm', m, 'ROI mask images')
            write_dicom(root/roi/f'07-21-2016-DDSM-{k:05d}'/f'1.000000-cropped images-{k:05d}'/'1-1.dcm', crop, 'cropped images')
        else:      # one series folder, 1-1.dcm (crop) and 1-2.dcm (mask), no SeriesDescription: told apart by content
            s = root/roi/f'07-21-2016-DDSM-{k:05d}'/f'1.000000-ROI mask images-{k:05d}'
            write_dicom(s/'1-1.dcm', crop); write_dicom(s/'1-2.dcm', m)
    cbis_csvs(d, cases)
    return d

def cbis_csvs(d:Path, cases=CBIS_CASES):
    "The four case-description CSVs: mass ones spell breast_density, calc ones 'breast density'; ROI and crop paths quoted with a newline."
    rows = {}
    for k, (kind, sp, pid, side, view, ab, path, box, desc) in enumerate(cases):
        full = f'{kind}-{sp}_{pid}_{side}_{view}'; roi = f'{full}_{ab}'
        csvn = f"{kind.lower()}_case_description_{'train' if sp == 'Training' else 'test'}_set.csv"
        uid = f'1.3.6.1.4.1.9590.100.1.2.{k}'
        extra = 'OVAL,CIRCUMSCRIBED' if kind == 'Mass' else 'PLEOMORPHIC,CLUSTERED'
        rows.setdefault(csvn, []).append(f'{pid},3,{side},{view},{ab},{kind.lower()},{extra},4,{path},4,'
                                         f'{full}/{uid}.1/{uid}.2/000000.dcm,"{roi}/{uid}.3/{uid}.4/000000.dcm\n","{roi}/{uid}.3/{uid}.5/000001.dcm\n"')
    d.mkdir(parents=True, exist_ok=True)
    for name in ['mass_case_description_train_set.csv', 'mass_case_description_test_set.csv', 'calc_case_description_train_set.csv', 'calc_case_description_test_set.csv']:
        head = CBIS_HEAD['mass' if name.startswith('mass') else 'calc']
        (d/name).write_text(head + '\n' + ''.join(r + '\n' for r in rows.get(name, [])))

def cbis_kaggle_tree(d:Path, cases=CBIS_CASES, shape=(150, 100)) -> Path:
    "Kaggle's re-encoding: csv/ (the four CSVs + dicom_info.csv) and jpeg/<series uid>/1-<n>.jpg (8-bit JPEGs, masks with JPEG noise)."
    info, done, n = ['file_path,image_path,PatientID,SeriesDescription,SeriesInstanceUID,Rows,Columns'], set(), 0
    def put(subject, a, desc):
        nonlocal n
        n += 1; uid = f'1.3.6.1.4.1.9590.100.1.2.{1000 + n}'
        (d/'jpeg'/uid).mkdir(parents=True, exist_ok=True); Image.fromarray(a).save(d/'jpeg'/uid/f'1-{200 + n}.jpg', quality=85)
        info.append(f'CBIS-DDSM/dicom/{uid}/1-{n}.dcm,CBIS-DDSM/jpeg/{uid}/1-{200 + n}.jpg,{subject},{desc},{uid},{a.shape[0]},{a.shape[1]}')
    for k, (kind, sp, pid, side, view, ab, path, (y0, y1, x0, x1), desc) in enumerate(cases):
        full = f'{kind}-{sp}_{pid}_{side}_{view}'; roi = f'{full}_{ab}'
        img = np.random.default_rng(len(full)).integers(20, 120, shape).astype(np.uint8)
        for c in cases:
            if f'{c[0]}-{c[1]}_{c[2]}_{c[3]}_{c[4]}' == full: img[c[7][0]:c[7][1], c[7][2]:c[7][3]] += 100
        if full not in done: put(full, img, 'full mammogram images'); done.add(full)
        m = np.zeros(shape, np.uint8); m[y0:y1, x0:x1] = 255
        put(roi, img[y0:y1, x0:x1], 'ROI mask images' if desc == 'same' else 'cropped images'); put(roi, m, 'ROI mask images')
    cbis_csvs(d/'csv', cases)
    (d/'csv'/'dicom_info.csv').write_text('\n'.join(info) + '\n')
    return d

def snapshot(root:Path) -> dict:
    "Every file under `root` with its size and mtime (to prove a source was not modified)."
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(Path(root).rglob('*'))}
