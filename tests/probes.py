"""Hostile and careless inputs tried against the kit, each in its own scratch project, each outcome classified.

A case builds its input in a scratch folder (a settings.ini there points data, runs, reports and pretrained into it, via
SSGNET_SETTINGS), calls the kit's public API or CLI, and returns one of `OUTCOMES`:

- clear error: an `SSGNetError` (or CLI exit != 0 with a one-line message) naming the file or key;
- right result: the call succeeded and its result checks out;
- unclear error: an `SSGNetError` that does not name the file or key;
- silent wrong: a bad input accepted, a wrong result, or temporary folders left behind;
- crash: any other exception (a traceback for the user);
- data lost: a source, a previous prepared folder or a user's file changed;
- code run: a hostile pickle's payload ran (it creates the scratch folder's `CODE_RAN`).

The runner checks the last three itself after every case. `BAD` outcomes fail the suite, except for the cases listed
with an `xfail` reason (other people's areas, still open): they are reported apart, but a `code run` or `data lost`
fails there too. tests/test_probes.py runs every case and prints the table.
"""
import contextlib, dataclasses, hashlib, io, json, os, pickle, re, shutil, signal, stat, subprocess, sys, tarfile, tempfile, time, warnings, zipfile
from pathlib import Path
import numpy as np, pandas as pd
from PIL import Image
from fixtures_data import kvasir_tree, kvasir_zip, zip_tree, isic_tree, ISIC17, ISIC18, chest_tree, breast_npz, BREAST_N, cbis_tree, CBIS_CASES, write_dicom, KVASIR_IDS
from ssgnet_nb.core import SSGNetError

OUTCOMES = ('clear error', 'right result', 'unclear error', 'silent wrong', 'crash', 'data lost', 'code run')
BAD = {'silent wrong', 'crash', 'data lost', 'code run'}
NEVER = {'data lost', 'code run'}   # fail even for an xfail case

@dataclasses.dataclass
class Case:
    area: str            # archives, images, npz, dicom, weights, settings, signals, concurrency
    name: str            # what is tried
    fn: callable         # fn(Scratch) -> (outcome, detail)
    xfail: str = None    # reason, for a case in someone else's area that still fails
    id: str = ''         # unique slug (set on registration)

CASES = []

def case(area, name, xfail=None):
    "Register the decorated function as a probe case."
    def deco(fn):
        slug = re.sub(r'[^a-z0-9]+', '-', f'{area} {name}'.lower()).strip('-')
        ids = {c.id for c in CASES}
        CASES.append(Case(area, name, fn, xfail, next(f'{slug}-{k}' if k else slug for k in range(len(CASES) + 1) if (f'{slug}-{k}' if k else slug) not in ids)))
        return fn
    return deco

# ---------------------------------------------------------------- the scratch project
def snapshot(p:Path) -> dict:
    "Every file under `p` (or `p` itself) with its sha1: what must not change."
    p = Path(p)
    if p.is_file(): return {'': hashlib.sha1(p.read_bytes()).hexdigest()}
    return {str(q.relative_to(p)): hashlib.sha1(q.read_bytes()).hexdigest() for q in sorted(p.rglob('*')) if q.is_file() and not q.is_symlink()}

class Scratch:
    "A scratch project: settings.ini pointing every path into `root`; sources under `root/downloads`; `CODE_RAN` as the payload marker."
    def __init__(self, root:Path):
        self.root = Path(root); self.marker = self.root/'CODE_RAN'
        self.settings = self.root/'settings.ini'
        self.settings.write_text('[ssgnet]\ndata_path = data\nruns_path = runs\nreports_path = reports\npretrained_dir = pretrained\n')
        self.data, self.dl = self.root/'data', self.root/'downloads'
        self.prepared = self.data/'prepared'
        self.guards = {}
    def guard(self, *paths):
        "These files or folders must be the same after the case (else: data lost)."
        for p in paths: self.guards[Path(p)] = snapshot(p)
        return paths[0] if len(paths) == 1 else paths
    def d(self, *parts) -> Path:
        "A fresh folder under the downloads folder."
        p = self.dl.joinpath(*parts); p.mkdir(parents=True, exist_ok=True); return p

    def err(self, fn, *names):
        "Expect a refusal: clear when an SSGNetError names one of `names` (file or key)."
        try: r = fn()
        except SSGNetError as e: return ('clear error' if any(str(n) in str(e) for n in names) else 'unclear error'), str(e)
        except Exception as e: return 'crash', f'{type(e).__name__}: {e}'
        return 'silent wrong', f'accepted, returned {r!r}'

    def ok(self, fn, check, *names):
        "Expect success: right when `check(result)` holds; an SSGNetError naming one of `names` counts as a clear error."
        try: r = fn()
        except SSGNetError as e: return ('clear error' if any(str(n) in str(e) for n in names) else 'unclear error'), str(e)
        except Exception as e: return 'crash', f'{type(e).__name__}: {e}'
        try: good, why = check(r), ''
        except Exception as e: good, why = False, f' (check: {type(e).__name__}: {e})'
        return ('right result', describe(r)) if good else ('silent wrong', f'result {describe(r)} does not check out{why}')

    def cli(self, argv, *names, ok=None):
        "Run `ssgnet argv` in-process: exit != 0 with one line naming one of `names` is clear; exit 0 is right when `ok()` holds."
        from ssgnet_nb.cli import main
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err): rc = main(list(argv))
        except SystemExit as e: rc = e.code          # argparse: usage + 'error: argument ...'
        except Exception as e: return 'crash', f'{type(e).__name__}: {e}'
        msg = err.getvalue().strip()
        if rc == 0: return (('right result', 'exit 0') if ok and ok() else ('silent wrong', f'exit 0: {msg[:120]}'))
        last = msg.splitlines()[-1] if msg else ''
        one = len(msg.splitlines()) == 1 or 'error: argument' in last
        return ('clear error' if one and any(str(n) in last for n in names) else 'unclear error'), last or f'exit {rc}, no message'

def describe(r) -> str:
    "A short account of a result: a prepared folder's item counts per split, a table's length, else its repr."
    if isinstance(r, Path) and (r/'manifest.csv').is_file():
        df = pd.read_csv(r/'manifest.csv', dtype=str, keep_default_na=False)
        return f"{r.name}: {len(df)} items, " + ', '.join(f'{k} {v}' for k, v in df.split.value_counts().items())
    if isinstance(r, pd.DataFrame): return f'{len(r)} rows' + (f", splits {r.split.value_counts().to_dict()}" if 'split' in r else '')
    return repr(r)

# ---------------------------------------------------------------- the runner
@contextlib.contextmanager
def scratch_env(root:Path):
    "SSGNET_SETTINGS -> the scratch settings; every other SSGNET_* variable unset; restored afterwards."
    saved = {k: v for k, v in os.environ.items() if k.startswith('SSGNET_')}
    for k in saved: del os.environ[k]
    os.environ['SSGNET_SETTINGS'] = str(Path(root)/'settings.ini')
    try: yield
    finally:
        for k in [k for k in os.environ if k.startswith('SSGNET_')]: del os.environ[k]
        os.environ.update(saved)

LEFTOVER = re.compile(r'\.(.+)\.(tmp|extract|old)-\d+\..*|\.px\d+\.tmp-.*')

def leftovers(s:Scratch) -> list:
    "Temporary folders a prepare left under the prepared folder."
    return [str(p.relative_to(s.root)) for p in s.prepared.rglob('.*') if p.is_dir() and LEFTOVER.fullmatch(p.name)] if s.prepared.is_dir() else []

@dataclasses.dataclass
class Result:
    case: Case
    outcome: str
    detail: str
    seconds: float
    @property
    def failing(self) -> bool: return self.outcome in (NEVER if self.case.xfail else BAD)

def run_case(c:Case) -> Result:
    "Run one case in a fresh scratch project and classify it (the runner's own checks come last: code run, data lost, leftovers)."
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix='ssgnet-probe-') as d, scratch_env(d), warnings.catch_warnings(), \
         contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter('ignore')
        s = Scratch(d)
        try: outcome, detail = c.fn(s)
        except Exception as e: outcome, detail = 'crash', f'(in the case) {type(e).__name__}: {e}'
        if s.marker.exists(): outcome, detail = 'code run', f'the payload created {s.marker.name}'
        elif changed := [str(p.relative_to(s.root)) for p, snap in s.guards.items() if not p.exists() or snapshot(p) != snap]: outcome, detail = 'data lost', f'changed: {", ".join(changed)}'
        elif left := leftovers(s): outcome, detail = 'silent wrong', f'left behind: {", ".join(left)}'
    return Result(c, outcome, ' '.join(str(detail).replace(str(Path(d).resolve()), '…').replace(d, '…').split())[:220], time.time() - t0)

def table(results:list) -> str:
    "The outcome table (markdown): counts, the cases of the kit's own areas, then the xfail list of other areas."
    cnt = pd.Series([r.outcome for r in results]).value_counts().reindex(OUTCOMES, fill_value=0)
    out = [f"# Probe suite: {len(results)} hostile or careless inputs\n", '| outcome | cases |', '|---|---|']
    out += [f'| {k} | {v} |' for k, v in cnt.items()]
    still = lambda r: r.case.xfail and r.outcome in BAD
    for title, rs in [('Cases', [r for r in results if not still(r)]), ("Other people's areas, still open (xfail: reported, not failing unless code run / data lost)", [r for r in results if still(r)])]:
        out += [f'\n## {title}\n', '| # | area | case | outcome | detail |' + (' reason |' if 'xfail' in title else ''), '|---|---|---|---|---|' + ('---|' if 'xfail' in title else '')]
        for i, r in enumerate(rs, 1):
            flag = ' **FAIL**' if r.failing else ''
            out.append(f"| {i} | {r.case.area} | {r.case.name} | {r.outcome}{flag} | {r.detail.replace('|', '/')} |" + (f' {r.case.xfail} |' if 'xfail' in title else ''))
    return '\n'.join(out) + '\n'

# ---------------------------------------------------------------- shared builders
def _data():
    from ssgnet_nb import data
    return data

def prep_kvasir(src, **kw):
    return _data().prepare('kvasir', src, sizes=(16,), patch=16, **kw)

def valid(name:str, n:int=None, **kw):
    "A check: the prepared dataset passes `check` (every image and mask re-read) and has `n` items."
    def chk(p):
        t = _data().check(name); df = _data().load_manifest(name, p)
        return n is None or len(df) == n
    return chk

def kv_src(s:Scratch, n=3):
    "A Kvasir-SEG folder (guarded: the source must never change)."
    return s.guard(kvasir_tree(s.d('kv'), n).parent)

def zip_with(path:Path, entries:dict, method=zipfile.ZIP_DEFLATED) -> Path:
    "A zip holding `entries` {name or ZipInfo: bytes}."
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), zipfile.ZipFile(path, 'w', method) as z:
        warnings.simplefilter('ignore')
        for k, v in entries.items(): z.writestr(k, v)
    return path

def kv_entries(n=3) -> dict:
    "The files of a small Kvasir-SEG tree as zip entries."
    with tempfile.TemporaryDirectory() as d:
        root = kvasir_tree(Path(d), n)
        return {p.relative_to(root.parent).as_posix(): p.read_bytes() for p in sorted(root.rglob('*')) if p.is_file()}

def tar_with(path:Path, members:list, mode='w:gz') -> Path:
    "A tar holding `members` [(TarInfo, bytes or None)]."
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode) as t:
        for ti, b in members:
            if b is not None: ti.size = len(b)
            t.addfile(ti, io.BytesIO(b) if b is not None else None)
    return path

def tinfo(name, typ=tarfile.REGTYPE, link=''):
    ti = tarfile.TarInfo(name); ti.type = typ; ti.linkname = link; return ti

class Hostile:
    "Unpickling this creates `marker`: proof that code ran."
    def __init__(self, marker): self.marker = str(marker)
    def __reduce__(self): return (open, (self.marker, 'w'))

def png_bytes(a, **kw) -> bytes:
    b = io.BytesIO(); Image.fromarray(a).save(b, format='PNG', **kw); return b.getvalue()

def kv_replace(s:Scratch, n=3, image=None, mask=None, k=0):
    "A Kvasir-SEG folder whose k-th image and/or mask file is replaced: `image`/`mask` = (file name, bytes) or a callable(path)."
    src = kvasir_tree(s.d('kv'), n)
    iid = KVASIR_IDS[k]
    for what, new in (('images', image), ('masks', mask)):
        if new is None: continue
        old = src/what/f'{iid}.jpg'
        if callable(new): new(old)
        else: old.unlink(); (src/what/new[0].format(id=iid)).write_bytes(new[1])
    return s.guard(src.parent)

def kv_size(i=0):
    "(h, w) of the i-th replica Kvasir image (fixtures_data.kvasir_tree)."
    return 48 + 4*i, 64 + 6*(i % 3)

def manifest(name, p=None): return _data().load_manifest(name, p)

# ---------------------------------------------------------------- archives
def _outside(s): return s.root/'outside'/'evil.txt'

def _slip(s, make, entry):
    "An archive with a Kvasir tree plus one bad `entry`: refused naming it, and nothing written outside."
    a = make(s)
    out = s.err(lambda: prep_kvasir(a), entry, repr(entry))
    return ('data lost', f'{entry} was written') if _outside(s).exists() or Path('/tmp/ssgnet_probe_evil.txt').exists() else out

for entry in ['../../outside/evil.txt', 'Kvasir-SEG/../../outside/evil.txt', '..\\..\\outside\\evil.txt', 'C:/outside/evil.txt', '/tmp/ssgnet_probe_evil.txt']:
    case('archives', f'zip entry {entry!r}')(lambda s, e=entry: _slip(s, lambda s: zip_with(s.dl/'kvasir-seg.zip', {**kv_entries(), e: b'boom'}), e))
for entry in ['../outside/evil.txt', '/tmp/ssgnet_probe_evil.txt', 'Kvasir-SEG/../../outside/evil.txt']:
    case('archives', f'tar entry {entry!r}')(lambda s, e=entry: _slip(s, lambda s: tar_with(s.dl/'kvasir-seg.tar.gz', [(tinfo(k), v) for k, v in kv_entries().items()] + [(tinfo(e), b'boom')]), e))

@case('archives', 'zip symbolic link entry')
def _(s):
    i = zipfile.ZipInfo('Kvasir-SEG/images/link.jpg'); i.external_attr = (stat.S_IFLNK | 0o777) << 16
    return s.err(lambda: prep_kvasir(zip_with(s.dl/'k.zip', {**kv_entries(), i: b'/etc/passwd'})), 'Kvasir-SEG/images/link.jpg')

for typ, what in [(tarfile.SYMTYPE, 'symbolic link'), (tarfile.LNKTYPE, 'hard link'), (tarfile.FIFOTYPE, 'fifo'), (tarfile.CHRTYPE, 'character device')]:
    case('archives', f'tar {what} entry')(lambda s, typ=typ: s.err(lambda: prep_kvasir(tar_with(s.dl/'k.tar.gz', [(tinfo(k), v) for k, v in kv_entries().items()] +
                                                                                                      [(tinfo('Kvasir-SEG/masks/x.jpg', typ, '/etc/passwd'), None)])), 'Kvasir-SEG/masks/x.jpg'))

def _zeros(): from ssgnet_nb import prepare as prep; return bytes(prep.RATIO_FLOOR + 2**20)

@case('archives', 'zip bomb (17 MiB of zeros in ~17 KB)')
def _(s): return s.err(lambda: prep_kvasir(zip_with(s.dl/'bomb.zip', {**kv_entries(), 'Kvasir-SEG/pad.bin': _zeros()})), 'bomb.zip')

@case('archives', 'tar.gz bomb')
def _(s): return s.err(lambda: prep_kvasir(tar_with(s.dl/'bomb.tar.gz', [(tinfo(k), v) for k, v in kv_entries().items()] + [(tinfo('Kvasir-SEG/pad.bin'), _zeros())])), 'bomb.tar.gz')

@case('archives', 'zip bomb the user vouches for (max_unpacked)')
def _(s): return s.ok(lambda: prep_kvasir(zip_with(s.dl/'bomb.zip', {**kv_entries(), 'Kvasir-SEG/pad.bin': _zeros()}), max_unpacked='64M'), valid('kvasir', 3))

@case('archives', 'archive over the size limit (max_unpacked=1K)')
def _(s): return s.err(lambda: prep_kvasir(zip_with(s.dl/'k.zip', kv_entries()), max_unpacked='1K'), 'k.zip')

@case('archives', 'archive larger than the free disk space')
def _(s):
    from ssgnet_nb import prepare as prep
    real = prep.shutil.disk_usage
    prep.shutil.disk_usage = lambda p: type('U', (), {'free': 1000})()
    try: return s.err(lambda: prep_kvasir(zip_with(s.dl/'k.zip', kv_entries())), 'k.zip')
    finally: prep.shutil.disk_usage = real

@case('archives', 'max_unpacked not a size')
def _(s): return s.err(lambda: prep_kvasir(zip_with(s.dl/'k.zip', kv_entries()), max_unpacked='lots'), 'max_unpacked')

@case('archives', 'nested archive (the official zip inside another zip)')
def _(s):
    inner = zip_with(s.d('in')/'kvasir-seg.zip', kv_entries())
    return s.err(lambda: prep_kvasir(zip_with(s.dl/'outer.zip', {'kvasir-seg.zip': inner.read_bytes()})), 'outer.zip')

@case('archives', 'empty zip (no entries)')
def _(s): return s.err(lambda: prep_kvasir(zip_with(s.dl/'empty.zip', {})), 'empty.zip')

@case('archives', 'zero-byte .zip')
def _(s): (s.d()/'z.zip').write_bytes(b''); return s.err(lambda: prep_kvasir(s.dl/'z.zip'), 'z.zip')

@case('archives', 'truncated zip')
def _(s):
    z = zip_with(s.dl/'k.zip', kv_entries()); z.write_bytes(z.read_bytes()[:len(z.read_bytes())//2])
    return s.err(lambda: prep_kvasir(z), 'k.zip')

@case('archives', 'truncated tar.gz')
def _(s):
    t = tar_with(s.dl/'k.tar.gz', [(tinfo(k), v) for k, v in kv_entries().items()]); t.write_bytes(t.read_bytes()[:len(t.read_bytes())//2])
    return s.err(lambda: prep_kvasir(t), 'k.tar.gz')

@case('archives', 'random bytes named .zip')
def _(s): (s.d()/'r.zip').write_bytes(np.random.default_rng(0).bytes(5000)); return s.err(lambda: prep_kvasir(s.dl/'r.zip'), 'r.zip')

@case('archives', 'random bytes named .tar.gz')
def _(s): (s.d()/'r.tar.gz').write_bytes(np.random.default_rng(0).bytes(5000)); return s.err(lambda: prep_kvasir(s.dl/'r.tar.gz'), 'r.tar.gz')

def _patched_zip(path, flag=0, method=None):
    z = zip_with(path, kv_entries(), zipfile.ZIP_STORED); b = bytearray(z.read_bytes())
    for sig, off in ((b'PK\x03\x04', 6), (b'PK\x01\x02', 8)):
        for m in re.finditer(re.escape(sig), bytes(b)):
            i = m.start()
            if flag: b[i+off] |= flag
            if method is not None: b[i+off+2:i+off+4] = method.to_bytes(2, 'little')
    z.write_bytes(bytes(b)); return z

@case('archives', 'encrypted zip entries')
def _(s): return s.err(lambda: prep_kvasir(_patched_zip(s.dl/'enc.zip', flag=1)), 'enc.zip')

@case('archives', 'zip compressed with an unknown method (AES, 99)')
def _(s): return s.err(lambda: prep_kvasir(_patched_zip(s.dl/'aes.zip', method=99)), 'aes.zip')

@case('archives', 'zip with a corrupted member (bad CRC)')
def _(s):
    z = zip_with(s.dl/'crc.zip', kv_entries(), zipfile.ZIP_STORED); b = bytearray(z.read_bytes()); b[200] ^= 0xFF; z.write_bytes(bytes(b))
    return s.err(lambda: prep_kvasir(z), 'crc.zip')

@case('archives', 'zip with a corrupted deflate stream')
def _(s):
    z = zip_with(s.dl/'defl.zip', {'Kvasir-SEG/big.txt': b'abc' * 20000, **kv_entries()}); b = bytearray(z.read_bytes()); b[60:90] = bytes(30); z.write_bytes(bytes(b))
    return s.err(lambda: prep_kvasir(z), 'defl.zip')

@case('archives', 'only __MACOSX resource forks')
def _(s): return s.err(lambda: prep_kvasir(zip_with(s.dl/'mac.zip', {f'__MACOSX/{k}': v for k, v in kv_entries().items()})), 'mac.zip')

@case('archives', 'a file where a folder must go')
def _(s): return s.err(lambda: prep_kvasir(zip_with(s.dl/'clash.zip', {'Kvasir-SEG/images': b'x', **kv_entries()})), 'clash.zip')

@case('archives', 'entry name too long for the file system')
def _(s): return s.err(lambda: prep_kvasir(zip_with(s.dl/'long.zip', {**kv_entries(), 'Kvasir-SEG/' + 'a'*300 + '.jpg': b'x'})), 'long.zip')

@case('archives', 'the same entry twice (two different images)')
def _(s):
    e = kv_entries(); k = next(n for n in e if '/images/' in n)
    return s.err(lambda: prep_kvasir(zip_with(s.dl/'dup.zip', {**e, zipfile.ZipInfo(k): png_bytes(np.zeros((8, 8, 3), np.uint8))})), k)

@case('archives', 'folder source holding a zip-slip archive')
def _(s): return _slip(s, lambda s: zip_with(s.d('folder')/'kvasir-seg.zip', {**kv_entries(), '../../../outside/evil.txt': b'boom'}).parent, '../../../outside/evil.txt')

@case('archives', 'source is a symbolic link to the official zip')
def _(s):
    z = zip_with(s.d('real')/'kvasir-seg.zip', kv_entries()); (s.dl/'link.zip').symlink_to(z)
    return s.ok(lambda: prep_kvasir(s.dl/'link.zip'), valid('kvasir', 3))

@case('archives', 'plain .tar and .tgz')
def _(s):
    ok = [s.ok(lambda: prep_kvasir(tar_with(s.dl/f'k{ext}', [(tinfo(k), v) for k, v in kv_entries().items()], mode)), valid('kvasir', 3)) for ext, mode in (('.tar', 'w'), ('.tgz', 'w:gz'))]
    return next((o for o in ok if o[0] != 'right result'), ok[0])

@case('archives', 'source does not exist')
def _(s): return s.err(lambda: prep_kvasir(s.dl/'nowhere.zip'), 'nowhere.zip')

@case('archives', 'destination inside the source')
def _(s): src = kv_src(s); return s.err(lambda: prep_kvasir(src, dest=src/'prepared'), str(src))

@case('archives', "destination is a user's folder (not a prepared one)")
def _(s):
    mine = s.d('thesis'); (mine/'thesis.tex').write_text('precious'); s.guard(mine)
    return s.err(lambda: prep_kvasir(kv_src(s), dest=mine), str(mine))

@case('archives', 'failed prepare keeps the previous prepared folder')
def _(s):
    good = prep_kvasir(kvasir_tree(s.d('good'), 3).parent); s.guard(good)
    return s.err(lambda: prep_kvasir(zip_with(s.dl/'bomb.zip', {**kv_entries(), 'Kvasir-SEG/pad.bin': _zeros()})), 'bomb.zip')

# ---------------------------------------------------------------- images and masks
def _right_image(s, n=3, channels=3, **repl):
    "Prepare the replaced Kvasir folder: right when every item is there and `check` passes."
    src = kv_replace(s, n, **repl)
    return s.ok(lambda: prep_kvasir(src), valid('kvasir', n), str(src))

def _refused(s, n=3, name=None, **repl):
    src = kv_replace(s, n, **repl)
    return s.err(lambda: prep_kvasir(src), *( [name] if name else []), KVASIR_IDS[0])

def _conv(mode, ext='.png', **kw):
    def f(p):
        im = Image.open(p).convert(mode) if mode != 'I;16' else Image.fromarray((np.asarray(Image.open(p).convert('L')).astype(np.uint16) * 257))
        p.unlink(); im.save(p.with_suffix(ext), **kw)
    return f

for mode, ext in [('CMYK', '.jpg'), ('P', '.png'), ('RGBA', '.png'), ('L', '.png'), ('1', '.png'), ('LA', '.png')]:
    case('images', f'image in mode {mode} ({ext})')(lambda s, mode=mode, ext=ext: _right_image(s, image=_conv(mode, ext)))

@case('images', '16-bit PNG image is windowed, not clipped to white')
def _(s):
    src = kv_replace(s, 3, image=_conv('I;16'))
    def chk(p):
        df = manifest('kvasir', p); a = _data().read_image(p/df.image[df.id == KVASIR_IDS[0]].iloc[0])
        return valid('kvasir', 3)(p) and 20 < a.mean() < 235
    return s.ok(lambda: prep_kvasir(src), chk)

@case('images', '32-bit float TIFF image')
def _(s):
    def f(p): a = np.asarray(Image.open(p).convert('L'), np.float32) / 255; p.unlink(); Image.fromarray(a, 'F').save(p.with_suffix('.tif'))
    return _right_image(s, image=f)

@case('images', 'float TIFF holding NaN')
def _(s):
    def f(p): a = np.full((48, 64), np.nan, np.float32); p.unlink(); Image.fromarray(a, 'F').save(p.with_suffix('.tif'))
    return _refused(s, image=f, name='.tif')

@case('images', 'PNG header claiming 30000 x 30000 px (decompression bomb)')
def _(s):
    import struct, zlib as z
    b = bytearray(png_bytes(np.zeros((4, 4, 3), np.uint8))); b[16:24] = struct.pack('>II', 30000, 30000)
    b[29:33] = struct.pack('>I', z.crc32(bytes(b[12:29])))
    return _refused(s, image=('{id}.png', bytes(b)), name='.png')

def _cut(frac): return lambda p: p.write_bytes(p.read_bytes()[:int(len(p.read_bytes())*frac)])

case('images', 'truncated JPEG image')(lambda s: _refused(s, image=_cut(0.3), name='.jpg'))
case('images', 'truncated PNG image')(lambda s: _refused(s, image=('{id}.png', png_bytes(np.zeros((48, 64, 3), np.uint8))[:60]), name='.png'))
case('images', 'zero-byte image')(lambda s: _refused(s, image=('{id}.jpg', b''), name='.jpg'))
case('images', 'text file named .jpg')(lambda s: _refused(s, image=('{id}.jpg', b'<html>not found</html>'), name='.jpg'))
case('images', 'upper-case extension .JPG')(lambda s: _right_image(s, image=lambda p: p.rename(p.with_suffix('.JPG'))))
case('images', 'mask of another size than its image')(lambda s: _refused(s, mask=('{id}.png', png_bytes(np.zeros((10, 12), np.uint8))), name='12x10'))
case('masks', 'empty mask file')(lambda s: _refused(s, mask=('{id}.jpg', b''), name='.jpg'))

def _mask(values, rgb=False, mode=None, dtype=np.uint8):
    "A Kvasir mask of image 0's size: background values[0], a block of values[1] (and values[2] beside it)."
    h, w = kv_size(0); a = np.full((h, w), values[0], dtype); a[4:28, 8:30] = values[1]
    if len(values) > 2: a[30:40, 40:60] = values[2]
    if rgb: a = np.stack([a, np.zeros_like(a), np.zeros_like(a)], -1)
    im = Image.fromarray(a)
    if mode: im = im.convert(mode)
    b = io.BytesIO(); im.save(b, format='PNG'); return ('{id}.png', b.getvalue())

def _mask_right(s, mask, fg=22*24):
    "The mask of item 0 has its block as foreground (at the base size: some of it, and not everything)."
    src = kv_replace(s, 3, mask=mask)
    def chk(p):
        df = manifest('kvasir', p); m = _data().read_mask(p/df['mask'][df.id == KVASIR_IDS[0]].iloc[0])
        return valid('kvasir', 3)(p) and 0.05 < m.mean() < 0.5
    return s.ok(lambda: prep_kvasir(src), chk, str(src))

case('masks', 'mask coded 0/1')(lambda s: _mask_right(s, _mask((0, 1))))
case('masks', 'mask coded 0/255 PNG')(lambda s: _mask_right(s, _mask((0, 255))))
case('masks', 'mask red on black')(lambda s: _mask_right(s, _mask((0, 255), rgb=True)))
case('masks', 'mask 16-bit 0/65535')(lambda s: _mask_right(s, _mask((0, 65535), dtype=np.uint16)))
case('masks', 'mask as a palette PNG')(lambda s: _mask_right(s, _mask((0, 255), mode='P')))
case('masks', 'mask as 1-bit PNG')(lambda s: _mask_right(s, _mask((0, 255), mode='1')))
case('masks', 'label map {0, 1, 2} as a mask')(lambda s: _refused(s, mask=_mask((0, 1, 2)), name='.png'))
case('masks', 'dark mask {0, 60}... with a third value')(lambda s: _refused(s, mask=_mask((0, 60, 30)), name='.png'))

@case('masks', 'soft-edged mask (many gray values)')
def _(s):
    h, w = kv_size(0); a = np.zeros((h, w), np.uint8); a[4:28, 8:30] = 255; a[3, 8:30] = 90; a[28, 8:30] = 170; a[4:28, 30] = 140
    return _mask_right(s, ('{id}.png', png_bytes(a)))

@case('masks', 'all-black mask (no lesion)')
def _(s):
    src = kv_replace(s, 3, mask=('{id}.png', png_bytes(np.zeros(kv_size(0), np.uint8))))
    return s.ok(lambda: prep_kvasir(src), lambda p: valid('kvasir', 3)(p) and _data().read_mask(p/manifest('kvasir', p).set_index('id')['mask'][KVASIR_IDS[0]]).sum() == 0)

@case('masks', 'image and mask files side by side with one id (.jpg and .png)')
def _(s):
    src = kv_replace(s, 3); (src/'Kvasir-SEG'/'images'/f'{KVASIR_IDS[1]}.png').write_bytes(png_bytes(np.zeros((52, 70, 3), np.uint8))); s.guard(src)
    return s.err(lambda: prep_kvasir(src), f'{KVASIR_IDS[1]}.png')

@case('masks', 'empty masks/ folder with --skip-bad')
def _(s):
    src = kvasir_tree(s.d('kv'), 3)
    for f in (src/'masks').iterdir(): f.unlink()
    s.guard(src)
    return s.err(lambda: prep_kvasir(src.parent, skip_bad=True), str(src/'masks'))

@case('images', 'empty images/ folder')
def _(s):
    src = kvasir_tree(s.d('kv'), 3)
    for f in (src/'images').iterdir(): f.unlink()
    return s.err(lambda: prep_kvasir(src.parent), str(src/'images'))

case('masks', 'mask without its image')(lambda s: _refused(s, image=lambda p: p.unlink(), name=f'{KVASIR_IDS[0]}.jpg'))
case('masks', 'image without its mask')(lambda s: _refused(s, mask=lambda p: p.unlink(), name=f'{KVASIR_IDS[0]}.jpg'))

@case('images', 'resource forks, .DS_Store, README and a subfolder among the images')
def _(s):
    src = kvasir_tree(s.d('kv'), 3)
    (src/'images'/'._x.jpg').write_bytes(b'\x00\x05\x16\x07'); (src/'images'/'.DS_Store').write_bytes(b'\x00\x00\x00\x01Bud1'); (src/'images'/'README.txt').write_text('hi'); (src/'images'/'sub').mkdir()
    return s.ok(lambda: prep_kvasir(s.guard(src.parent)), valid('kvasir', 3))

@case('images', 'bad image with --skip-bad (listed, rest prepared)')
def _(s):
    src = kv_replace(s, 3, image=_cut(0.3))
    return s.ok(lambda: prep_kvasir(src, skip_bad=True), lambda p: valid('kvasir', 2)(p) and pd.read_csv(p/'skipped.csv').id.tolist() == [KVASIR_IDS[0]])

@case('images', 'Chest X-Ray 16-bit PNG radiograph')
def _(s):
    root = chest_tree(s.d('cx')); f = next((root/'train'/'NORMAL').iterdir())
    Image.fromarray((np.asarray(Image.open(f).convert('L')).astype(np.uint16) * 257)).save(f.with_suffix('.png')); f.unlink(); s.guard(root.parent)
    def chk(p):
        df = manifest('chest_xray', p); a = _data().read_image(p/df.image[df.id == f'train_NORMAL_{f.stem}'].iloc[0])
        return valid('chest_xray')(p) and 20 < a.mean() < 235
    return s.ok(lambda: _data().prepare('chest_xray', root.parent, sizes=(16,)), chk)

@case('images', 'Chest X-Ray without its val folder')
def _(s):
    root = chest_tree(s.d('cx')); shutil.rmtree(root/'val'); s.guard(root.parent)
    return s.ok(lambda: _data().prepare('chest_xray', root.parent, sizes=(16,)),
                lambda p: set(manifest('chest_xray', p).split) == {'train', 'val', 'test'} and _data().prepared_meta('chest_xray')['val_from_train']['n'] > 0)

@case('images', 'Chest X-Ray class folder empty')
def _(s):
    root = chest_tree(s.d('cx'))
    for f in (root/'test'/'PNEUMONIA').iterdir(): f.unlink()
    return s.err(lambda: _data().prepare('chest_xray', root.parent, sizes=(16,)), str(root/'test'/'PNEUMONIA'))

@case('images', 'ISIC masks saved as .jpg (no *_segmentation.png)')
def _(s):
    src = isic_tree(s.d('isic'), 2018); gt = src/'ISIC2018_Task1_Training_GroundTruth'
    for f in gt.iterdir(): f.rename(f.with_suffix('.jpg'))
    return s.err(lambda: _data().prepare('isic2018', src, sizes=(16,)), str(gt))

@case('images', 'ISIC 2017 Training + Validation only, official split')
def _(s):
    src = isic_tree(s.d('isic'), 2017)
    for f in ISIC17['test'][:2]: shutil.rmtree(src/f)
    return s.err(lambda: _data().prepare('isic2017', src, sizes=(16,)), 'ISIC-2017_Test_v2_Data')

@case('images', 'ISIC 2017 Training + Validation only, --split vmunet: every stage gets train/val/test')
def _(s):
    src = isic_tree(s.d('isic'), 2017)
    for f in ISIC17['test'][:2]: shutil.rmtree(src/f)
    return s.ok(lambda: _data().prepare('isic2017', src, sizes=(16,), split='vmunet'),
                lambda p: all(len(_data().items('isic2017', sp, size=16)) for sp in ('train', 'val', 'test')))

@case('images', 'ISIC part without its ground-truth folder')
def _(s):
    src = isic_tree(s.d('isic'), 2018); shutil.rmtree(src/ISIC18['val'][1])
    return s.err(lambda: _data().prepare('isic2018', src, sizes=(16,)), ISIC18['val'][1])

@case('images', 'ISIC image id in two parts (train and val)')
def _(s):
    src = isic_tree(s.d('isic'), 2018); tr, va = ISIC18['train'], ISIC18['val']
    shutil.copy(src/tr[0]/'ISIC_0000000.jpg', src/va[0]/'ISIC_0000000.jpg'); shutil.copy(src/tr[1]/'ISIC_0000000_segmentation.png', src/va[1]/'ISIC_0000000_segmentation.png')
    return s.err(lambda: _data().prepare('isic2018', src, sizes=(16,)), 'ISIC_0000000')

def _split_file(s, text):
    f = s.d()/'split.csv'; f.write_text(text); return f

def _ids(n=4): return KVASIR_IDS[:n]

def _split_rows(rows): return 'id,split\n' + ''.join(f'{i},{sp}\n' for i, sp in rows)

case('splits', 'split file with an unknown split name')(lambda s: s.err(lambda: prep_kvasir(kv_src(s, 4), split=f"file:{_split_file(s, _split_rows((i, 'training') for i in _ids()))}"), 'split.csv'))
case('splits', 'split file missing items')(lambda s: s.err(lambda: prep_kvasir(kv_src(s, 4), split=f"file:{_split_file(s, _split_rows([(_ids()[0], 'train')]))}"), 'split.csv'))
case('splits', 'split file with train only')(lambda s: s.err(lambda: prep_kvasir(kv_src(s, 4), split=f"file:{_split_file(s, _split_rows((i, 'train') for i in _ids()))}"), 'split.csv'))

@case('splits', 'split file with binary garbage')
def _(s):
    f = s.d()/'split.csv'; f.write_bytes(np.random.default_rng(1).bytes(300))
    return s.err(lambda: prep_kvasir(kv_src(s, 4), split=f'file:{f}'), 'split.csv')

case('splits', 'split file that does not exist')(lambda s: s.err(lambda: prep_kvasir(kv_src(s, 4), split=f'file:{s.dl}/nope.csv'), 'nope.csv'))

@case('splits', 'split file with train and test only: val held out of train, stated')
def _(s):
    f = _split_file(s, _split_rows((i, 'test' if k == 0 else 'train') for k, i in enumerate(_ids(6))))
    return s.ok(lambda: prep_kvasir(kv_src(s, 6), split=f'file:{f}'),
                lambda p: manifest('kvasir', p).split.value_counts().to_dict() == {'train': 4, 'val': 1, 'test': 1} and _data().prepared_meta('kvasir')['val_from_train']['n'] == 1)

case('splits', 'unknown split policy')(lambda s: s.err(lambda: prep_kvasir(kv_src(s), split='random'), "'random'"))
case('options', 'unknown prepare option')(lambda s: s.err(lambda: _data().prepare('isic2017', kv_src(s), sizes=(16,), patch=16), "'patch'"))
case('options', 'Kvasir patch=0')(lambda s: s.err(lambda: _data().prepare('kvasir', kv_src(s), sizes=(16,), patch=0), 'patch=0'))
case('options', "Kvasir pos_frac='high'")(lambda s: s.err(lambda: _data().prepare('kvasir', kv_src(s), sizes=(16,), pos_frac='high'), 'pos_frac'))
case('options', 'CBIS-DDSM crop_min=-5')(lambda s: s.err(lambda: _data().prepare('cbis_ddsm', s.guard(cbis_tree(s.d('cbis'), CBIS_CASES[:2] + CBIS_CASES[5:6])), sizes=(16,), crop_min=-5), 'crop_min'))
case('options', 'sizes=[64.7] (float)')(lambda s: s.err(lambda: _data().prepare('kvasir', kv_src(s), sizes=[64.7]), '64.7'))
case('options', "sizes='0'")(lambda s: s.err(lambda: _data().prepare('kvasir', kv_src(s), sizes='0'), "'0'"))
case('options', 'sizes=5000')(lambda s: s.err(lambda: _data().prepare('kvasir', kv_src(s), sizes=5000), '5000'))
case('options', "seed='abc'")(lambda s: s.err(lambda: _data().prepare('kvasir', kv_src(s), sizes=(16,), seed='abc'), "'abc'"))
case('options', 'demo n=0')(lambda s: s.err(lambda: _data().prepare('demo', n=0), 'n=0'))
case('options', 'demo with --source')(lambda s: s.err(lambda: _data().prepare('demo', kv_src(s)), 'without --source'))
case('options', 'unknown dataset name')(lambda s: s.err(lambda: _data().prepare('kvasir-seg', kv_src(s)), "'kvasir-seg'"))

@case('options', 'data_path is a file')
def _(s):
    (s.root/'afile').write_text('x'); s.settings.write_text('[ssgnet]\ndata_path = afile\n'); s.guard(s.root/'afile')
    return s.err(lambda: prep_kvasir(kv_src(s)), 'afile')

@case('options', 'data_path with spaces and non-ASCII letters')
def _(s):
    s.settings.write_text('[ssgnet]\ndata_path = dätä with spaces\n'); s.prepared = s.root/'dätä with spaces'/'prepared'
    return s.ok(lambda: prep_kvasir(kv_src(s)), valid('kvasir', 3))

# ---------------------------------------------------------------- npz (BreastMNIST)
def _arrays(size=28):
    rng = np.random.default_rng(1)
    return {f'{sp}_{k}': (rng.integers(0, 256, (m, size, size), np.uint8) if k == 'images' else (np.arange(m) % 2)[:, None].astype(np.uint8))
            for sp, m in BREAST_N.items() for k in ('images', 'labels')}

def _npz(s, name='breastmnist.npz', **arrays):
    "A folder holding `name` with MedMNIST's arrays, some replaced (None removes one)."
    d = s.d('npz'); a = {k: v for k, v in {**_arrays(), **arrays}.items() if v is not None}
    np.savez(d/name, **a); return s.guard(d)

def _breast(src, **kw): return _data().prepare('breastmnist', src, sizes=(28,), **kw)

NPZ_BAD = {
    'float32 images in [0, 1]': dict(train_images=np.random.default_rng(0).random((8, 28, 28), np.float32)),
    'float64 images holding 0..255': dict(train_images=_arrays()['train_images'].astype(np.float64)),
    'int16 images 300 (would wrap)': dict(val_images=np.full((3, 28, 28), 300, np.int16)),
    'negative int images': dict(val_images=np.full((3, 28, 28), -1, np.int8)),
    'uint16 images above 255': dict(test_images=np.full((4, 28, 28), 4095, np.uint16)),
    'NaN images': dict(train_images=np.full((8, 28, 28), np.nan, np.float32)),
    'infinite images': dict(train_images=np.full((8, 28, 28), np.inf, np.float32)),
    '28x40 images (would be squashed)': dict(test_images=np.zeros((4, 28, 40), np.uint8)),
    '64 px images in breastmnist.npz': dict(train_images=np.zeros((8, 64, 64), np.uint8)),
    'colour images': dict(train_images=np.random.default_rng(0).integers(0, 255, (8, 28, 28, 3), np.uint8)),
    'one image, not a stack (2-D array)': dict(val_images=np.zeros((28, 28), np.uint8)),
    'bool images': dict(train_images=np.zeros((8, 28, 28), bool)),
    'complex images': dict(train_images=np.zeros((8, 28, 28), np.complex64)),
    'string images': dict(train_images=np.array(['a'] * 8)),
    'structured dtype images': dict(train_images=np.zeros(8, dtype=[('a', 'u1'), ('b', 'u1')])),
    'empty val split': dict(val_images=np.zeros((0, 28, 28), np.uint8), val_labels=np.zeros((0, 1), np.uint8)),
    'missing test_labels': dict(test_labels=None),
    'labels 0/1/2 (a third class)': dict(train_labels=np.array([0, 1, 2, 0, 1, 2, 0, 1])[:, None]),
    'labels of the wrong length': dict(train_labels=np.zeros((7, 1), np.uint8)),
    'labels 0.5': dict(train_labels=np.full(8, 0.5)),
    'labels NaN': dict(train_labels=np.full(8, np.nan)),
    'labels shaped (N, 2) (one-hot)': dict(train_labels=np.eye(2)[np.arange(8) % 2]),
    'negative labels': dict(val_labels=np.full((3, 1), -1)),
}
for what, arrs in NPZ_BAD.items():
    keys = [k for k in arrs] or ['breastmnist.npz']
    case('npz', what)(lambda s, arrs=arrs, keys=keys: s.err(lambda: _breast(_npz(s, **arrs)), *keys))

NPZ_OK = {
    'int64 images within 0..255 (lossless)': dict(train_images=_arrays()['train_images'].astype(np.int64)),
    'images shaped (N, 28, 28, 1)': dict(val_images=_arrays()['val_images'][..., None]),
    'RGB images with equal channels': dict(test_images=np.repeat(_arrays()['test_images'][..., None], 3, -1)),
    'float labels 0.0/1.0': dict(train_labels=_arrays()['train_labels'].astype(np.float32)),
    'bool labels': dict(val_labels=_arrays()['val_labels'].astype(bool)),
    'labels shaped (N,)': dict(test_labels=_arrays()['test_labels'][:, 0]),
}
def _npz_right(p):
    a = _arrays(); df = manifest('breastmnist', p)
    for r in df.itertuples():
        sp, i = r.id.split('_')
        if not (_data().read_image(p/r.image)[..., 0] == a[f'{sp}_images'][int(i)]).all(): return False
        if r.label != ('malignant', 'normal_benign')[int(a[f'{sp}_labels'][int(i), 0])]: return False
    return len(df) == sum(BREAST_N.values())
for what, arrs in NPZ_OK.items():
    case('npz', what)(lambda s, arrs=arrs: s.ok(lambda: _breast(_npz(s, **arrs)), _npz_right))

@case('npz', 'hostile pickled object array as images')
def _(s): return s.err(lambda: _breast(_npz(s, train_images=np.array([Hostile(s.marker)] * 8, dtype=object))), 'train_images')

@case('npz', 'hostile pickled object array as labels')
def _(s): return s.err(lambda: _breast(_npz(s, test_labels=np.array([Hostile(s.marker)] * 4, dtype=object))), 'test_labels')

@case('npz', 'hostile object array under an extra key (never touched)')
def _(s): return s.ok(lambda: _breast(_npz(s, extra=np.array([Hostile(s.marker)], dtype=object))), _npz_right)

@case('npz', 'a hostile pickle named breastmnist.npz')
def _(s):
    d = s.d('npz'); (d/'breastmnist.npz').write_bytes(pickle.dumps(Hostile(s.marker)))
    return s.err(lambda: _breast(d), 'breastmnist.npz')

@case('npz', 'a .npy file named breastmnist.npz')
def _(s):
    d = s.d('npz'); np.save(d/'x.npy', np.zeros((8, 28, 28), np.uint8)); (d/'x.npy').rename(d/'breastmnist.npz')
    return s.err(lambda: _breast(d), 'breastmnist.npz')

@case('npz', 'truncated npz')
def _(s):
    d = _npz(s); f = d/'breastmnist.npz'; f.write_bytes(f.read_bytes()[:len(f.read_bytes())//2]); s.guard(d)
    return s.err(lambda: _breast(d), 'breastmnist.npz')

@case('npz', 'npz bomb (an array member of 17 MiB of zeros)')
def _(s):
    d = s.d('npz'); np.savez_compressed(d/'breastmnist.npz', **{**_arrays(), 'train_images': np.zeros((len(_zeros())//784 + 1, 28, 28), np.uint8)})
    return s.err(lambda: _breast(d), 'breastmnist.npz')

@case('npz', 'breastmnist.npz and breastmnist_64.npz that disagree')
def _(s):
    d = _npz(s); a64 = {k: (np.zeros((v.shape[0], 64, 64), np.uint8) if 'images' in k else 1 - v) for k, v in _arrays().items()}
    np.savez(d/'breastmnist_64.npz', **a64); s.guard(d)
    return s.err(lambda: _data().prepare('breastmnist', d, sizes=(28, 64)), 'disagree')

@case('npz', 'BreastMNIST_64.NPZ alone (upper case, upsampled sizes)')
def _(s):
    d = s.d('npz')
    with open(d/'BreastMNIST_64.NPZ', 'wb') as f: np.savez(f, **{k: (np.zeros((v.shape[0], 64, 64), np.uint8) if 'images' in k else v) for k, v in _arrays().items()})
    return s.ok(lambda: _data().prepare('breastmnist', d, sizes=(64, 128)), valid('breastmnist', sum(BREAST_N.values())))

# ---------------------------------------------------------------- DICOM (CBIS-DDSM)
CBIS3 = CBIS_CASES[:2] + CBIS_CASES[5:6]   # two training abnormalities of one mammogram, one test case

def _cbis(s, edit=None):
    "A TCIA-layout CBIS-DDSM tree, with `edit(root)` applied."
    src = cbis_tree(s.d('cbis'), CBIS3)
    if edit: edit(src)
    return s.guard(src)

def _full(src): return next((src/'CBIS-DDSM'/'Mass-Training_P_00001_LEFT_CC').rglob('*.dcm'))
def _roi(src): return next((src/'CBIS-DDSM'/'Mass-Training_P_00001_LEFT_CC_1').rglob('*ROI mask*/1-1.dcm'))
def _cbis_prep(src, **kw): return _data().prepare('cbis_ddsm', src, sizes=(16,), crop_min=16, **kw)

def _dcm_edit(fn):
    def edit(src):
        import pydicom
        f = _full(src); ds = pydicom.dcmread(f); fn(ds); ds.save_as(f, enforce_file_format=True)
    return edit

def _j2k(ds):
    from pydicom.encaps import encapsulate
    raw = ds.PixelData; ds.file_meta.TransferSyntaxUID = '1.2.840.10008.1.2.4.90'; ds.PixelData = encapsulate([raw]); ds['PixelData'].VR = 'OB'

DICOM_BAD = {
    'truncated full mammogram': lambda src: _full(src).write_bytes(_full(src).read_bytes()[:400]),
    'zero-byte DICOM': lambda src: _full(src).write_bytes(b''),
    'text file named .dcm': lambda src: _full(src).write_text('not a dicom'),
    'DICOM without pixel data': _dcm_edit(lambda ds: delattr(ds, 'PixelData')),
    'wrong transfer syntax (raw pixels declared JPEG 2000)': _dcm_edit(_j2k),
    'Rows/Columns larger than the pixel data': _dcm_edit(lambda ds: setattr(ds, 'Rows', 400)),
    'ROI mask all zeros': lambda src: write_dicom(_roi(src), np.zeros((150, 100), np.uint8), 'ROI mask images'),
    'ROI mask of another size': lambda src: write_dicom(_roi(src), np.full((20, 20), 255, np.uint8), 'ROI mask images'),
    'subject folder missing': lambda src: shutil.rmtree(src/'CBIS-DDSM'/'Mass-Training_P_00001_LEFT_CC_1'),
}
for what, edit in DICOM_BAD.items():
    case('dicom', what)(lambda s, edit=edit: s.err(lambda: _cbis_prep(_cbis(s, edit)), 'Mass-Training_P_00001_LEFT_CC'))

def _csv_edit(fn):
    def edit(src): f = src/'mass_case_description_train_set.csv'; f.write_text(fn(f.read_text()))
    return edit

case('dicom', 'case CSV with an unknown pathology')(lambda s: s.err(lambda: _cbis_prep(_cbis(s, _csv_edit(lambda t: t.replace('MALIGNANT', 'MAYBE', 1)))), 'mass_case_description_train_set.csv'))
case('dicom', 'case CSV without its path columns')(lambda s: s.err(lambda: _cbis_prep(_cbis(s, _csv_edit(lambda t: t.replace('image file path', 'img')))), 'mass_case_description_train_set.csv'))
def _garbage_csv(src): (src/'mass_case_description_train_set.csv').write_bytes(np.random.default_rng(0).bytes(2000))
case('dicom', 'case CSV of binary garbage')(lambda s: s.err(lambda: _cbis_prep(_cbis(s, _garbage_csv)), 'mass_case_description_train_set.csv'))
case('dicom', 'training CSVs only (no test part)')(lambda s: s.err(lambda: _cbis_prep(s.guard(cbis_tree(s.d('cbis'), CBIS_CASES[:2]))), 'test'))

@case('dicom', 'MONOCHROME1 mammogram (inverted)')
def _(s):
    src = _cbis(s, _dcm_edit(lambda ds: setattr(ds, 'PhotometricInterpretation', 'MONOCHROME1')))
    def chk(p):
        r = manifest('cbis_ddsm', p).set_index('id').loc['Mass-Training_P_00001_LEFT_CC_1']
        m, im = _data().read_mask(p/r['mask']), _data().read_image(p/r.image)[..., 0]
        return im[m == 1].mean() < im[m == 0].mean()   # the brighter lesion comes out darker
    return s.ok(lambda: _cbis_prep(src), chk)

@case('dicom', 'bad DICOM with --skip-bad')
def _(s): return s.ok(lambda: _cbis_prep(_cbis(s, lambda src: _full(src).write_bytes(b'')), skip_bad=True), lambda p: len(manifest('cbis_ddsm', p)) == 1)

# ---------------------------------------------------------------- checkpoints and weight files
def _core(): from ssgnet_nb import core; return core

def _ckpt(s, data:bytes, name='ckpt.pt'):
    p = s.d('ck')/name; p.write_bytes(data); return p

def _torch_bytes(obj):
    import torch
    b = io.BytesIO(); torch.save(obj, b); return b.getvalue()

def _good_state(): import torch; return {'w': torch.zeros(3)}

case('weights', 'checkpoint truncated')(lambda s: s.err(lambda: _core().load_checkpoint(_ckpt(s, _torch_bytes(_good_state())[:100])), 'ckpt.pt'))
case('weights', 'checkpoint zero bytes')(lambda s: s.err(lambda: _core().load_checkpoint(_ckpt(s, b'')), 'ckpt.pt'))
case('weights', 'checkpoint of random bytes')(lambda s: s.err(lambda: _core().load_checkpoint(_ckpt(s, np.random.default_rng(0).bytes(3000))), 'ckpt.pt'))
case('weights', 'checkpoint missing')(lambda s: s.err(lambda: _core().load_checkpoint(s.dl/'nope.pt'), 'nope.pt'))
case('weights', 'checkpoint with a hostile __reduce__ (zip format)')(lambda s: s.err(lambda: _core().load_checkpoint(_ckpt(s, _torch_bytes({'w': Hostile(s.marker)}))), 'ckpt.pt'))
case('weights', 'checkpoint with a hostile __reduce__ (legacy pickle)')(lambda s: s.err(lambda: _core().load_checkpoint(_ckpt(s, pickle.dumps({'w': Hostile(s.marker)}, protocol=2))), 'ckpt.pt'))

@case('weights', 'checkpoint whose .sha256 does not match')
def _(s):
    p = _ckpt(s, _torch_bytes(_good_state())); Path(str(p) + '.sha256').write_text('0' * 64 + '  ckpt.pt\n')
    return s.err(lambda: _core().load_checkpoint(p), 'ckpt.pt')

@case('weights', 'checkpoint saved and loaded back')
def _(s):
    import torch
    p = s.d('ck')/'ok.pt'; _core().save_checkpoint(_good_state(), p)
    return s.ok(lambda: _core().load_checkpoint(p), lambda sd: torch.equal(sd['w'], torch.zeros(3)))

def _pretrained(s, data:bytes, name='resnet18.pth'):
    d = s.root/'pretrained'; d.mkdir(exist_ok=True); (d/name).write_bytes(data); return d/name

def _encoder():
    from ssgnet_nb.segmentation import make_encoder
    return make_encoder('resnet18', pretrained=True)

case('weights', 'segmentation pretrained/resnet18.pth with a hostile __reduce__')(lambda s: (_pretrained(s, _torch_bytes({'conv1.weight': Hostile(s.marker)})), s.err(_encoder, 'resnet18.pth'))[1])
case('weights', 'segmentation pretrained/resnet18.pth truncated')(lambda s: (_pretrained(s, _torch_bytes(_good_state())[:200]), s.err(_encoder, 'resnet18.pth'))[1])
case('weights', 'segmentation pretrained/resnet18.pth with wrong keys')(lambda s: (_pretrained(s, _torch_bytes({'nothing.here': __import__('torch').zeros(2)})), s.err(_encoder, 'resnet18.pth'))[1])
case('weights', 'segmentation pretrained/resnet18.safetensors truncated')(lambda s: (_pretrained(s, b'\x10\x00\x00\x00\x00\x00\x00\x00{"a":', 'resnet18.safetensors'), s.err(_encoder, 'resnet18.safetensors'))[1])

def _inception(s, data):
    p = _pretrained(s, data, 'inception-2015-12-05.pt')
    from ssgnet_nb.fid import inception_space
    return s.err(lambda: inception_space('clean', 'cpu', p), 'inception-2015-12-05.pt')
case('weights', 'Inception file that is not TorchScript')(lambda s: _inception(s, _torch_bytes(_good_state())))
case('weights', 'Inception file with a hostile pickle')(lambda s: _inception(s, _torch_bytes({'w': Hostile(s.marker)})))
case('weights', 'Inception file truncated')(lambda s: _inception(s, b'PK\x03\x04' + bytes(100)))

def _gan_init(s, data):
    from ssgnet_nb.stylegan3.training import init_state, gan_config
    return s.err(lambda: init_state(_ckpt(s, data, 'init.pt'), gan_config({}), 3), 'init.pt')
case('weights', 'GAN starting checkpoint with a hostile pickle')(lambda s: _gan_init(s, _torch_bytes({'G': Hostile(s.marker)})))
case('weights', 'GAN starting checkpoint truncated')(lambda s: _gan_init(s, _torch_bytes(_good_state())[:150]))
case('weights', 'GAN starting checkpoint of another model (wrong keys)')(lambda s: _gan_init(s, _torch_bytes(_good_state())))

def _gan():
    from ssgnet_nb import gan
    return gan

def _smoke(**gan):
    "The smoke configuration on the demo data (48 images: enough of each class for a batch), with `gan` keys set."
    return _core().resolve_config('smoke', 'gan', dataset='demo', **gan)

def _gan_runs(label='normal') -> list:
    return _core().list_runs('demo', 'gan', label)

@case('weights', 'gan.init that is missing (not a shipped file): no git advice')
def _(s):
    out = s.err(lambda: _gan().init_checkpoint(_smoke(init=str(s.dl/'gone_{label}.pt')), 'normal'), 'gone_normal.pt')
    return ('unclear error', f'advises git checkout for a file outside the repository: {out[1]}') if 'git checkout' in out[1] else out

@case('weights', 'gan.init that is not a checkpoint: refused, no run folder left')
def _(s):
    _demo(s, 48); junk = _ckpt(s, b'not a checkpoint', 'junk.pt')
    out = s.err(lambda: _gan().train_class('demo', 'normal', _smoke(kimg=0.004, init=str(junk)), show_progress=False), 'junk.pt')
    return ('silent wrong', f'left behind: {[r.name for r in _gan_runs()]}') if _gan_runs() else out

@case('weights', 'gan.init of another model through train_class: refused, no run folder left')
def _(s):
    _demo(s, 48); other = _ckpt(s, _torch_bytes(_good_state()), 'other.pt')
    out = s.err(lambda: _gan().train_class('demo', 'normal', _smoke(kimg=0.004, init=str(other)), show_progress=False), 'other.pt')
    return ('silent wrong', f'left behind: {[r.name for r in _gan_runs()]}') if _gan_runs() else out

def _gan_start(s) -> Path:
    "A kit checkpoint of the demo's class normal made without training (train_loop with 0 kimg writes its start)."
    from ssgnet_nb.stylegan3.training import train_loop
    _demo(s, 48); cfg = _smoke(kimg=0.004, grid_size=4)
    return Path(train_loop(s.dl/'start', _gan().class_images('demo', 'normal', cfg), cfg['gan'], kimg=0, meta=dict(dataset='demo', label='normal'), show_progress=False)['checkpoint'])

def _finished_gan_run(s):
    "A finished class run of the demo's class normal: 0.004 kimg trained from `_gan_start` (a trained run: continuing it resumes its snapshot)."
    from ssgnet_nb.stylegan3.training import snapshots
    cfg = _smoke(kimg=0.004, grid_size=4, init=str(_gan_start(s)))
    r = _gan().train_class('demo', 'normal', cfg, show_progress=False)
    return r, cfg, snapshots(r.path)[-1]

@case('signals', 'a finished GAN run whose continuation fails at once keeps done.json')
def _(s):
    r, cfg, snap = _finished_gan_run(s)
    snap.write_bytes(snap.read_bytes()[:-10] + bytes(10)); s.guard(r.path/'done.json')      # damaged: the continuation cannot load it
    return s.err(lambda: _gan().train_class('demo', 'normal', dict(cfg, gan=dict(cfg['gan'], kimg=0.008)), show_progress=False), snap.name)

@case('concurrency', 'a second caller of a class run being trained waits for its lock, then reuses it')
def _(s):
    import threading
    cfg = _smoke(kimg=0, grid_size=4, init=str(_gan_start(s))); out, got = io.StringIO(), []
    with contextlib.redirect_stdout(out):
        with _gan().class_lock('demo', 'normal', cfg):
            th = threading.Thread(target=lambda: got.append(_gan().train_class('demo', 'normal', cfg, show_progress=False)), daemon=True); th.start(); t0 = time.time()
            while 'waiting for it' not in out.getvalue() and th.is_alive() and time.time() - t0 < 60: time.sleep(0.05)
            made = _gan().class_run('demo', 'normal', cfg, finished=False)
        th.join(60)
    if made is not None: return 'silent wrong', f'trained {made.name} while the lock was held'
    if 'waiting for it' not in out.getvalue(): return 'silent wrong', f'did not say it waits: {out.getvalue()[-150:]}'
    return ('right result', f'waited, then {got[0].name}') if got and got[0].finished else ('crash', f'the waiting caller did not finish: {got}')

# ---------------------------------------------------------------- settings and overrides (the lead's typed configuration)
def _override(key, value):
    "A profile override that must be refused when the configuration is resolved, naming the key."
    case('settings', f'override {key}={value!r}')(lambda s: s.err(lambda: _core().resolve_config('smoke', overrides={key: value}), key))

for key, value in [('gan.kimg', 'abc'), ('gan.batch', 0), ('gan.kimg', -1), ('gan.resolution', 33), ('classification.epochs', -1),
                   ('segmentation.lr', 'fast'), ('data.size', 7), ('seed', 'x'), ('gan.cfg', 'stylegan9'), ('fid.max_images', 0)]:
    _override(key, value)
_override('gan.kimgs', 5)                 # unknown keys
_override('gan.kimg.x', 5)

def _run_cli(s, params, name):
    "ssgnet run demo with `params`: must stop before any stage runs (a stub stands in for the stage)."
    from ssgnet_nb import cli
    ran, real = [], cli.run_stage
    cli.run_stage = lambda *a, **k: ran.append(a[0]) or dict(stage=a[0], status='ok', duration_s=0, html=None)
    try: out = s.cli(['run', 'demo', '--profile', 'smoke', '--stages', 'gan', *params], name)
    finally: cli.run_stage = real
    return ('silent wrong', f'stage {ran} started with it') if ran else out

for p in ['gan.kimg=abc', 'gan.batch=0', 'gan.resolution=33']:
    case('settings', f'ssgnet run demo -p {p}')(lambda s, p=p: _run_cli(s, ['-p', p], p.split('=')[0]))
case('settings', 'ssgnet run demo -p gan.nokey=1')(lambda s: _run_cli(s, ['-p', 'gan.nokey=1'], 'gan.nokey'))
case('settings', 'ssgnet run demo --profile huge')(lambda s: s.cli(['run', 'demo', '--profile', 'huge'], 'huge'))

def _settings(s, text): s.settings.write_text(text); return _core().get_settings()

def _setting(key, value):
    case('settings', f'settings.ini {key} = {value}')(lambda s: s.err(lambda: _settings(s, f'[ssgnet]\ndata_path = data\n{key} = {value}\n'), key))

for key, value in [('num_threads', 'abc'), ('num_threads', '-3'), ('num_threads', '1.5'), ('precision', 'fp8'), ('device', 'quantum')]:
    _setting(key, value)

def _env(var, value):
    case('settings', f'{var}={value}')(lambda s: (os.environ.__setitem__(var, value), s.err(lambda: _core().get_settings(), var))[1])
for var, value in [('SSGNET_NUM_THREADS', 'abc'), ('SSGNET_PRECISION', 'fp8')]: _env(var, value)

case('settings', 'SSGNET_NUM_THREADS=abc ssgnet data list')(lambda s: (os.environ.__setitem__('SSGNET_NUM_THREADS', 'abc'), s.cli(['data', 'list'], 'SSGNET_NUM_THREADS'))[1])
case('settings', 'overrides given as broken JSON text')(lambda s: s.err(lambda: _core().resolve_config('smoke', overrides='{gan.kimg: 1'), 'overrides'))
case('settings', 'overrides given as a list')(lambda s: s.err(lambda: _core().resolve_config('smoke', overrides=[1, 2]), 'overrides'))
case('settings', 'settings.ini profile = huge, then a run resolves it')(lambda s: (s.settings.write_text('[ssgnet]\nprofile = huge\n'), s.err(lambda: _core().resolve_config(), 'huge'))[1])
case('settings', 'SSGNET_SETTINGS naming a missing file')(lambda s: (os.environ.__setitem__('SSGNET_SETTINGS', str(s.root/'nope.ini')), s.err(lambda: _core().get_settings(), 'nope.ini'))[1])
case('settings', 'settings.ini without a section header')(lambda s: s.err(lambda: _settings(s, 'data_path = data\n'), 'settings.ini'))
case('settings', 'settings.ini with a key twice')(lambda s: s.err(lambda: _settings(s, '[ssgnet]\ndata_path = a\ndata_path = b\n'), 'settings.ini'))
case('settings', 'device = quantum, then get_device')(lambda s: (s.settings.write_text('[ssgnet]\ndevice = quantum\n'), s.err(lambda: _core().get_device(), 'quantum'))[1])
case('settings', 'unknown profile')(lambda s: s.err(lambda: _core().resolve_config('huge'), "'huge'"))
case('settings', 'settings.ini with no [ssgnet] section: defaults')(lambda s: s.ok(lambda: _settings(s, '[other]\nx = 1\n'), lambda st: st['data_path'] == s.root.resolve()/'data' and st['num_threads'] == _core().SETTINGS_DEFAULTS['num_threads']))

for argv, name in [(['data', 'prepare', 'demo', '--sizes', '7'], 'sizes'), (['data', 'prepare', 'demo', '--sizes', 'abc'], 'abc'),
                   (['data', 'prepare', 'demo', '--seed', 'x'], '--seed'), (['data', 'prepare', 'kvasir', '--split', 'bogus', '--source', '.'], 'bogus'),
                   (['data', 'prepare', 'kvasir', '--source', '/nonexistent/kvasir.zip'], 'kvasir.zip'), (['data', 'check', 'kvasir'], 'kvasir'),
                   (['data', 'download', 'kvasir', '--sha256', 'abc', '--url', 'http://127.0.0.1:9/x.zip'], 'abc')]:
    case('cli', 'ssgnet ' + ' '.join(argv))(lambda s, argv=argv, name=name: s.cli(argv, name))

# ---------------------------------------------------------------- demo sizes
def _demo(s, n=12):
    return _data().prepare_demo(s.prepared/'demo', n=n, sizes=(64, 32))

for size in (7, 33.0, '33px', True, -64):
    case('demo', f'items(demo, size={size!r})')(lambda s, size=size: (_demo(s), s.guard(s.prepared/'demo'), s.err(lambda: _data().items('demo', size=size), 'sizes'))[2])

@case('demo', 'items(demo, size=33): derived, nothing regenerated')
def _(s):
    root = _demo(s); keep = {q: q.read_bytes() for q in root.rglob('*.png')}
    return s.ok(lambda: _data().items('demo', 'train', size=33), lambda df: len(df) == 8 and all(q.read_bytes() == b for q, b in keep.items())
                and _data().read_image(df.image_path[0]).shape == (33, 33, 3))

@case('demo', 'bad size with no demo yet: nothing generated')
def _(s):
    out = s.err(lambda: _data().items('demo', size=7), 'sizes')
    return ('silent wrong', 'the demo was generated anyway') if (s.prepared/'demo').exists() else out

# ---------------------------------------------------------------- signals
def _py(script:str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, '-c', script], env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

def _slow_prepare(src) -> str:
    return ("import time, ssgnet_nb.prepare as prep\nfrom ssgnet_nb.data import prepare\nreal = prep.load_image_file\n"
            "prep.load_image_file = lambda *a, **k: (time.sleep(0.2), real(*a, **k))[1]\n"
            f"prepare('kvasir', {str(src)!r}, sizes=(16,), patch=16)\n")

@case('signals', 'kill -9 during prepare, then prepare again')
def _(s):
    z = kvasir_zip(s.d('kv'), 6); s.guard(z)
    good = prep_kvasir(z); m1 = (good/'manifest.csv').read_bytes()
    pr = _py(_slow_prepare(z)); t0 = time.time()
    try:
        while not any(q.name.startswith('.kvasir.tmp-') and any(q.rglob('*.png')) for q in s.prepared.iterdir()):
            if pr.poll() is not None or time.time() - t0 > 60: return 'crash', f'(in the case) the prepare ended first: {pr.stderr.read().decode()[-200:]}'
            time.sleep(0.05)
    finally: pr.kill(); pr.wait()
    if (good/'manifest.csv').read_bytes() != m1: return 'data lost', 'the killed prepare changed the prepared folder'
    if not leftovers(s): return 'crash', '(in the case) kill -9 left nothing to clean up'
    return s.ok(lambda: prep_kvasir(z), lambda p: valid('kvasir', 6)(p) and not leftovers(s))

@case('signals', 'killed in the middle of the swap (previous folder moved aside), then read')
def _(s):
    from ssgnet_nb import prepare as prep
    good = prep_kvasir(kvasir_tree(s.d('kv'), 3).parent); m1 = (good/'manifest.csv').read_bytes()
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True, text=True).stdout.strip()
    good.rename(good.with_name(f'.kvasir.old-{dead}.{prep._host_tag()}-x1y2z3'))    # as a kill -9 between the two renames leaves it
    return s.ok(lambda: _data().items('kvasir'), lambda df: len(df) == 3 and (good/'manifest.csv').read_bytes() == m1)

@case('signals', 'Ctrl-C while writing: previous folder kept, nothing left')
def _(s):
    from ssgnet_nb import prepare as prep
    src = kvasir_tree(s.d('kv'), 4).parent; good = prep_kvasir(src); s.guard(good)
    real, calls = prep.load_image_file, []
    def dying(*a, **k):
        calls.append(1)
        if len(calls) == 2: raise KeyboardInterrupt
        return real(*a, **k)
    prep.load_image_file = dying
    try: prep_kvasir(src)
    except KeyboardInterrupt: return 'right result', 'interrupted; previous folder intact'
    finally: prep.load_image_file = real
    return 'silent wrong', 'the interrupt was swallowed'

@case('signals', 'stale demo size folder from a killed derivation')
def _(s):
    root = _demo(s); (root/'.px24.tmp-abcd').mkdir(); (root/'.px24.tmp-abcd'/'junk.png').write_bytes(b'x')
    return s.ok(lambda: _data().items('demo', size=24), lambda df: not (root/'.px24.tmp-abcd').exists() and _data().read_image(df.image_path[0]).shape == (24, 24, 3))

# ---------------------------------------------------------------- concurrency
@case('concurrency', 'two prepares of one dataset at once (two processes)')
def _(s):
    z = kvasir_zip(s.d('kv'), 4); s.guard(z)
    script = ("import sys\nfrom ssgnet_nb.data import prepare\n"
              f"for _ in range(3): prepare('kvasir', {str(z)!r}, sizes=(16,), patch=16)\n")
    ps = [_py(script) for _ in range(2)]
    errs = [p.communicate(timeout=120)[1].decode() for p in ps]
    if any(p.returncode for p in ps): return 'crash', ' / '.join(e.strip().splitlines()[-1] for e in errs if e.strip())
    return s.ok(lambda: _data().prepared_dir('kvasir'), lambda p: valid('kvasir', 4)(p) and not leftovers(s))

_RACER = """
import sys, time
from pathlib import Path
from ssgnet_nb import prepare as prep
dest, k, sync = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
def meet(i):   # a barrier through files: both processes reach round i, then both finish at once
    (sync/f'{k}-{i}').touch(); t = time.time()
    while not (sync/f'{1-k}-{i}').exists():
        if time.time() - t > 120: sys.exit(f'round {i}: the other process never came')
        time.sleep(0.001)
for i in range(10):
    tmp = prep.new_tmp(dest); (tmp/'manifest.csv').write_text(f'{k} {i}\\n'); (tmp/'prepared.json').write_text('{}')
    meet(i); prep.finish(tmp, dest)
"""

@case('concurrency', 'two prepares finishing at the same instant (10 rounds)')
def _(s):
    # two fresh interpreters (not forked: a fork of a process holding torch's threads can hang), synchronised by files
    dest, sync = s.prepared/'kvasir', s.d('sync')
    ps = [subprocess.Popen([sys.executable, '-c', _RACER, str(dest), str(k), str(sync)], env=os.environ.copy(),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for k in range(2)]
    errs = [p.communicate(timeout=300)[1].decode() for p in ps]
    if any(p.returncode for p in ps): return 'crash', ' / '.join(e.strip().splitlines()[-1] for e in errs if e.strip())
    return ('right result', 'both finished') if (dest/'manifest.csv').is_file() else ('data lost', 'no prepared folder')

@case('concurrency', 'two processes asking for a new demo size at once')
def _(s):
    _demo(s)
    script = "from ssgnet_nb.data import items\nassert len(items('demo', size=40)) == 12\n"
    ps = [_py(script) for _ in range(2)]
    errs = [p.communicate(timeout=120)[1].decode() for p in ps]
    if any(p.returncode for p in ps): return 'crash', ' / '.join(e.strip().splitlines()[-1] for e in errs if e.strip())
    return s.ok(lambda: _data().prepared_meta('demo'), lambda m: m['sizes'].count(40) == 1)

@case('concurrency', 'two processes creating run folders at once')
def _(s):
    script = ("from ssgnet_nb.core import resolve_config, new_run\ncfg = resolve_config('smoke', 'gan', dataset='demo')\n"
              "print(' '.join(new_run(cfg).name for _ in range(5)))\n")
    ps = [subprocess.Popen([sys.executable, '-c', script], env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in ps]
    if any(p.returncode for p in ps): return 'crash', ' / '.join(e.decode().strip().splitlines()[-1] for _, e in outs if e.strip())
    names = ' '.join(o.decode() for o, _ in outs).split()
    return ('right result', f'{len(set(names))} distinct folders') if len(set(names)) == 10 else ('silent wrong', f'shared run folders: {names}')
