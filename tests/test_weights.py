"Weight files: safe loading with clear errors for every bad kind of file, and `download_weight` end to end against a server on 127.0.0.1."
import dataclasses, hashlib, http.server, io, os, pickle, threading, warnings
from pathlib import Path
import numpy as np, pytest, torch
from ssgnet_nb import weights as W
from ssgnet_nb.weights import WEIGHTS, WeightFileError, load_weight_file, download_weight, ensure_weight, check_weights, weights_table

# ---------------------------------------------------------------- a local server with Range support and scripted failures
class _Handler(http.server.BaseHTTPRequestHandler):
    files, log, cut, ignore_range = {}, [], {}, set()
    def log_message(self, *a): pass
    def do_GET(self):
        path = self.path.split('?')[0]; body = self.files.get(path); rng = self.headers.get('Range')
        self.log.append((path, rng))
        if body is None: self.send_error(404); return
        start = int(rng.split('=')[1].split('-')[0]) if rng and path not in self.ignore_range else 0
        if start >= len(body) and start: self.send_response(416); self.end_headers(); return
        self.send_response(206 if start else 200)
        if start: self.send_header('Content-Range', f'bytes {start}-{len(body)-1}/{len(body)}')
        self.send_header('Content-Length', str(len(body) - start)); self.end_headers()
        n = self.cut.pop(path, None)                     # send only n bytes of this response, then drop the connection
        self.wfile.write(body[start:start + n] if n is not None else body[start:])
        if n is not None: self.wfile.flush(); self.close_connection = True

@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True); th.start()
    _Handler.files, _Handler.log, _Handler.cut, _Handler.ignore_range = {}, [], {}, set()
    yield f'http://127.0.0.1:{srv.server_address[1]}', _Handler
    srv.shutdown(); srv.server_close()

@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv('SSGNET_PRETRAINED_DIR', str(tmp_path/'pretrained')); monkeypatch.delenv('SSGNET_INCEPTION_WEIGHTS', raising=False)
    monkeypatch.delenv('SSGNET_ALLOW_DOWNLOADS', raising=False)
    for k in ('no_proxy', 'NO_PROXY'): monkeypatch.setenv(k, '127.0.0.1,localhost')
    saved = dict(WEIGHTS); yield; WEIGHTS.clear(); WEIGHTS.update(saved)

def _sd(seed=0):
    g = torch.Generator().manual_seed(seed)
    return {'conv1.weight': torch.randn(8, 3, 3, 3, generator=g), 'bn1.weight': torch.ones(8), 'layer4.0.conv1.weight': torch.randn(8, 8, 1, 1, generator=g)}

def _big(seed=0): return {**_sd(seed), 'layer4.1.conv2.weight': torch.randn(100_000, generator=torch.Generator().manual_seed(seed))}   # ~400 kB

def _pth(sd=None, legacy=False):
    b = io.BytesIO(); torch.save(sd or _sd(), b, _use_new_zipfile_serialization=not legacy); return b.getvalue()

def _point(name, url, sha256='keep', **kw):
    "Point registry entry `name` at the test server (and optionally replace its checksum)."
    w = WEIGHTS[name]
    WEIGHTS[name] = dataclasses.replace(w, url=url, **({} if sha256 == 'keep' else dict(sha256=sha256, checksum_source='test' if sha256 else 'no authoritative checksum')), **kw)

def _listing(d): return sorted(p.name for p in Path(d).iterdir()) if Path(d).exists() else []
quiet = dict(echo=lambda *a: None)

# ---------------------------------------------------------------- downloads
def test_download_pinned_sha256_then_no_request(tmp_path, server):
    url, h = server; body = _pth(); h.files['/r18.pth'] = body
    _point('resnet18', f'{url}/r18.pth', hashlib.sha256(body).hexdigest())
    p = download_weight('resnet18', **quiet)
    assert p == tmp_path/'pretrained'/'resnet18.pth' and p.read_bytes() == body
    assert _listing(p.parent) == ['resnet18.pth', 'resnet18.pth.sha256']           # no .part, no pooch temp file
    assert (p.parent/'resnet18.pth.sha256').read_text().split()[0] == hashlib.sha256(body).hexdigest()
    n = len(h.log); assert download_weight('resnet18', **quiet) == p and len(h.log) == n   # present and verified: no request
    assert set(load_weight_file(p, name='resnet18')) == set(_sd())

def test_torchvision_prefix_checked(tmp_path, server):
    url, h = server; body = _pth(); h.files['/r.pth'] = body
    _point('resnet18', f'{url}/r.pth', hashlib.sha256(body).hexdigest()[:8])
    assert download_weight('resnet18', tmp_path/'d', **quiet).read_bytes() == body

def test_wrong_hash_refused_nothing_left(tmp_path, server):
    url, h = server; h.files['/r34.pth'] = _pth()
    _point('resnet34', f'{url}/r34.pth')                                            # torchvision's real prefix b627a593 cannot match
    with pytest.raises(WeightFileError, match=r'checksum mismatch for resnet34.pth .*does not start with b627a593 \(torchvision.*the corrupt download was deleted'):
        download_weight('resnet34', tmp_path/'d', **quiet)
    assert _listing(tmp_path/'d') == [] and len(h.log) == 1                        # a checksum failure is not retried
    _point('resnet10t', f'{url}/r34.pth')                                           # a full pinned sha256: same outcome
    with pytest.raises(WeightFileError, match='checksum mismatch for resnet10t.safetensors'): download_weight('resnet10t', tmp_path/'d', **quiet)
    assert _listing(tmp_path/'d') == []

def test_interrupted_download_retried_and_resumed(tmp_path, server):
    url, h = server; body = _pth(_big(1)); h.files['/w.pth'] = body; h.cut['/w.pth'] = 200_000
    _point('resnet18', f'{url}/w.pth', hashlib.sha256(body).hexdigest())
    p = download_weight('resnet18', tmp_path/'d', retries=2, **quiet)
    kept = 200_000 // W._Resumable.chunk * W._Resumable.chunk                       # whole chunks written before the cut
    assert p.read_bytes() == body and h.log == [('/w.pth', None), ('/w.pth', f'bytes={kept}-')]   # the retry resumed where it stopped
    assert _listing(tmp_path/'d') == ['resnet18.pth', 'resnet18.pth.sha256']

def test_interrupted_run_resumed_by_the_next_run(tmp_path, server):
    url, h = server; body = _pth(_big(2)); h.files['/w.pth'] = body; h.cut['/w.pth'] = 300_000
    _point('resnet18', f'{url}/w.pth', hashlib.sha256(body).hexdigest())
    kept = 300_000 // W._Resumable.chunk * W._Resumable.chunk
    with pytest.raises(WeightFileError, match=rf'failed after 1 attempts .*\.resnet18\.pth\.part \({kept:,} bytes\) is kept: run the same command again to resume'):
        download_weight('resnet18', tmp_path/'d', retries=0, **quiet)
    assert _listing(tmp_path/'d') == ['.resnet18.pth.part']                        # only the resumable part, never the weight's name
    assert download_weight('resnet18', tmp_path/'d', retries=0, **quiet).read_bytes() == body and h.log[-1] == ('/w.pth', f'bytes={kept}-')
    assert _listing(tmp_path/'d') == ['resnet18.pth', 'resnet18.pth.sha256']

def test_server_ignoring_range_restarts(tmp_path, server):
    url, h = server; body = _pth(_sd(3)); h.files['/w.pth'] = body; h.ignore_range.add('/w.pth')
    (tmp_path/'d').mkdir(); (tmp_path/'d'/'.resnet18.pth.part').write_bytes(b'garbage-prefix')
    _point('resnet18', f'{url}/w.pth', hashlib.sha256(body).hexdigest())
    assert download_weight('resnet18', tmp_path/'d', **quiet).read_bytes() == body and h.log == [('/w.pth', 'bytes=14-')]

def test_not_found_and_not_a_weight_file(tmp_path, server):
    url, h = server
    _point('R50+ViT-B_16', f'{url}/missing.npz')
    with pytest.raises(WeightFileError, match=r'HTTP 404 .*download the file by hand to .*R50\+ViT-B_16.npz'): download_weight('R50+ViT-B_16', tmp_path/'d', **quiet)
    assert len(h.log) == 1                                                          # a 404 is not retried
    h.files['/page.npz'] = b'<!DOCTYPE html><html><body>Sign in to continue</body></html>'
    _point('R50+ViT-B_16', f'{url}/page.npz')                                       # no checksum known: the format check still refuses it
    with pytest.raises(WeightFileError, match=r"is not a valid R50\+ViT-B_16.npz and was deleted \(.*text/HTML file"): download_weight('R50+ViT-B_16', tmp_path/'d', **quiet)
    assert _listing(tmp_path/'d') == []

def test_offline_path_unchanged_and_opt_in(tmp_path, server, monkeypatch):
    url, h = server; body = _pth(); h.files['/w.pth'] = body
    _point('resnet18', f'{url}/w.pth', hashlib.sha256(body).hexdigest())
    assert ensure_weight('resnet18') is None and h.log == []                        # default: no download, the stage trains from scratch
    monkeypatch.setenv('SSGNET_ALLOW_DOWNLOADS', 'no'); assert ensure_weight('resnet18') is None and h.log == []
    assert ensure_weight('resnet18', allow=True, **quiet) == tmp_path/'pretrained'/'resnet18.pth' and len(h.log) == 1
    monkeypatch.setenv('SSGNET_ALLOW_DOWNLOADS', 'yes'); (tmp_path/'pretrained'/'resnet18.pth').unlink()
    assert ensure_weight('resnet18', **quiet).read_bytes() == body and len(h.log) == 2
    assert ensure_weight('resnet18') == tmp_path/'pretrained'/'resnet18.pth' and len(h.log) == 2   # present: found as before, no request
    monkeypatch.setenv('SSGNET_ALLOW_DOWNLOADS', 'sometimes')
    with pytest.raises(W.ConfigError, match='is not allowed: yes or no'): ensure_weight('resnet34')

# ---------------------------------------------------------------- every bad kind of file gives one clear message
def _hostile(marker):
    class Hostile:
        def __reduce__(self): return (os.mkdir, (str(marker),))
    return Hostile()

def _torchscript(path, with_layers=True):
    m = torch.nn.Sequential(); m.add_module('layers' if with_layers else 'body', torch.nn.Identity())
    with warnings.catch_warnings(): warnings.simplefilter('ignore'); torch.jit.script(m).save(str(path))

def _bad_files(d):
    "name -> (file, kind, registry name, expected words); every file is wrong in its own way."
    d.mkdir(parents=True, exist_ok=True); marker = d/'code-ran'
    zipb, legb = _pth(), _pth(legacy=True)
    from safetensors.torch import save_file
    save_file(_sd(), str(d/'ok.safetensors')); stb = (d/'ok.safetensors').read_bytes()
    np.savez(d/'ok.npz', **{'conv_root/kernel': np.zeros((7, 7, 3, 64), np.float32), 'embedding/kernel': np.zeros(3), 'Transformer/encoder_norm/scale': np.ones(3)})
    npzb = (d/'ok.npz').read_bytes(); _torchscript(d/'ok.pt'); tsb = (d/'ok.pt').read_bytes()
    files = {
        'truncated torch zip':   ('resnet18.pth', zipb[:len(zipb)//2], None, 'resnet18', 'truncated zip archive'),
        'truncated legacy':      ('resnet34.pth', legb[:len(legb)//2], None, 'resnet34', 'damaged pickle'),
        'truncated safetensors': ('resnet10t.safetensors', stb[:len(stb) - 64], None, 'resnet10t', 'truncated safetensors'),
        'hostile torch zip':     ('resnet50.pth', _pth({'conv1.weight': torch.zeros(1), 'x': _hostile(marker)}), None, 'resnet50', 'mkdir`; reading it would mean unpickling'),
        'hostile legacy pickle': ('resnet18.pt', pickle.dumps({'conv1.weight': _hostile(marker)}, protocol=2), None, 'resnet18', 'mkdir`; reading it would mean unpickling'),
        'hostile npz':           ('R50+ViT-B_16.npz', None, None, 'R50+ViT-B_16', 'object arrays'),
        'truncated npz':         ('cut.npz', npzb[:len(npzb) - 40], 'npz', 'R50+ViT-B_16', 'truncated zip archive'),
        'npz of another model':  ('other.npz', None, 'npz', 'R50+ViT-B_16', "not R50+ViT-B_16's weights: no entry starts with 'conv_root/'"),
        'npz given as state dict': ('npz-as.pth', npzb, None, 'resnet18', 'is a NumPy .npz archive'),
        'truncated torchscript': ('inception-2015-12-05.pt', tsb[:len(tsb)//2], 'torchscript', 'inception', 'truncated zip archive'),
        'state dict as torchscript': ('inc-sd.pt', zipb, 'torchscript', 'inception', 'is a torch.save archive'),
        'torchscript of another net': ('inc-other.pt', None, 'torchscript', 'inception', "not inception's weights"),
        'torchscript as state dict': ('resnet50.pt', tsb, None, 'resnet50', 'is a TorchScript archive'),
        'html error page':       ('page.pth', b'<!DOCTYPE html>\n<html><title>403 Forbidden</title></html>', None, 'resnet18', 'text/HTML file'),
        'git lfs pointer':       ('lfs.safetensors', b'version https://git-lfs.github.com/spec/v1\noid sha256:6d2e\nsize 22800000\n', None, 'resnet10t', 'Git LFS pointer'),
        'empty file':            ('empty.pth', b'', None, 'resnet18', 'empty file'),
        'not a state dict':      ('list.pth', _pth([torch.zeros(2)]), None, 'resnet18', 'not a state dict of tensors'),
        'another model':         ('regnet.pth', _pth({'stem.conv.weight': torch.zeros(1)}), None, 'resnet50', "not resnet50's weights: no entry starts with 'conv1.'"),
        'missing':               ('absent.pth', 'absent', None, 'resnet34', 'does not exist'),
    }
    out = {}
    for k, (fn, data, kind, name, words) in files.items():
        p = d/k.replace(' ', '-')/fn; p.parent.mkdir()
        if data is not None and data != 'absent': p.write_bytes(data)
        if k == 'hostile npz': np.savez(p, **{'conv_root/kernel': np.array([_hostile(marker)], dtype=object)})
        if k == 'npz of another model': np.savez(p, **{'head/kernel': np.zeros(2)})
        if k == 'torchscript of another net': _torchscript(p, with_layers=False)
        out[k] = (p, kind, name, words)
    return out, marker

def test_every_bad_file_gives_one_clear_message(tmp_path):
    cases, marker = _bad_files(tmp_path/'bad')
    for k, (p, kind, name, words) in cases.items():
        with pytest.raises(WeightFileError) as e: load_weight_file(p, kind, name)
        m = str(e.value)
        assert words in m, (k, m)
        assert str(p) in m and 'fix:' in m, (k, m)                                  # names the file and the fix
        assert 'weights_only' not in m and 'trust' not in m, (k, m)                # never suggests loading unsafely
        fix = 'labelled fallback' if name == 'inception' else 'from scratch'
        assert f'ssgnet weights download {name}' in m and fix in m, (k, m)
    assert not marker.exists()                                                      # no hostile file ran anything

def test_good_files_load(tmp_path):
    d = tmp_path/'good'; d.mkdir()
    for legacy in (False, True): (d/f'{legacy}.pth').write_bytes(_pth(legacy=legacy)); assert set(load_weight_file(d/f'{legacy}.pth', name='resnet18')) == set(_sd())
    (d/'ck.pth').write_bytes(_pth({'epoch': 1, 'model_ema': {f'module.{k}': v for k, v in _sd().items()}}))
    assert set(load_weight_file(d/'ck.pth', name='resnet18')) == set(_sd())       # checkpoint unwrapped (VMamba keeps weights under 'model')
    _torchscript(d/'inc.pt'); assert hasattr(load_weight_file(d/'inc.pt', name='inception'), 'layers')

def test_state_dict_serves_timm_and_torchvision(tmp_path):
    "The integration the stages use: one registered ResNet file loaded safely feeds a timm model (pretrained_cfg_overlay) and a torchvision one."
    import timm, torchvision
    src = torchvision.models.resnet18(); torch.save(src.state_dict(), tmp_path/'resnet18.pth')
    sd = load_weight_file(tmp_path/'resnet18.pth', name='resnet18')
    with __import__('ssgnet_nb.core').core.env_vars(HF_HUB_OFFLINE='1'):
        m = timm.create_model('resnet18', pretrained=True, num_classes=0, pretrained_cfg_overlay=dict(state_dict=sd))
    assert torch.equal(m.conv1.weight, src.conv1.weight) and torch.equal(m.layer4[1].bn2.running_var, src.layer4[1].bn2.running_var)
    tv = torchvision.models.resnet18(); tv.load_state_dict(sd); assert torch.equal(tv.fc.weight, src.fc.weight)

# ---------------------------------------------------------------- list / check
def test_table_and_check(tmp_path):
    d = tmp_path/'pretrained'; d.mkdir()
    (d/'resnet50.pth').write_bytes(_pth()[:1500]); (d/'resnet18.pth').write_bytes(_pth())
    rows = {r['name']: r for r in weights_table()}
    assert set(rows) == set(WEIGHTS) and rows['resnet50']['present'] and rows['resnet34']['present'] is False
    assert rows['inception']['path'] == str(d/'inception-2015-12-05.pt') and rows['inception']['checksum'] == 'no authoritative checksum'
    c = {r['name']: r for r in check_weights()}
    assert set(c) == {'resnet18', 'resnet50'} and not c['resnet50']['ok'] and 'truncated zip archive' in c['resnet50']['loads']
    assert c['resnet18']['loads'] == 'ok (3 tensors)' and c['resnet18']['checksum'].startswith('MISMATCH') and not c['resnet18']['ok']

def test_cli_download_list_check(tmp_path, server, capsys):
    from ssgnet_nb.cli import main
    url, h = server; body = _pth(); h.files['/w.pth'] = body
    _point('resnet18', f'{url}/w.pth', hashlib.sha256(body).hexdigest())
    assert main(['weights', 'download', 'resnet18']) == 0 and (tmp_path/'pretrained'/'resnet18.pth').read_bytes() == body
    assert main(['weights', 'list']) == 0 and 'resnet18' in capsys.readouterr().out
    assert main(['weights', 'check']) == 0 and 'ok  resnet18' in capsys.readouterr().out
    (tmp_path/'pretrained'/'resnet34.pth').write_bytes(body[:100])
    assert main(['weights', 'check']) == 1 and 'BAD resnet34' in capsys.readouterr().out
    assert main(['weights', 'download', 'resnet_nope']) == 2 and "unknown weight 'resnet_nope'" in capsys.readouterr().err

def test_fetch_is_generic(tmp_path, server):
    "`fetch` serves any download (the dataset archives too): own error class, visible `.part` name, resume, content check."
    class DataErr(W.SSGNetError): pass
    url, h = server; body = bytes(range(256)) * 40; h.files['/big.npz'] = body
    raw = tmp_path/'raw'; raw.mkdir(); (raw/'big.npz.part').write_bytes(body[:3000])
    out = W.fetch(f'{url}/big.npz', raw/'big.npz', hashlib.sha256(body).hexdigest(), part=raw/'big.npz.part', error=DataErr, **quiet)
    assert out.read_bytes() == body and h.log == [('/big.npz', 'bytes=3000-')] and _listing(raw) == ['big.npz']
    def not_zip(f): raise W.SSGNetError(f'{f} is not a zip archive — or so')
    with pytest.raises(DataErr, match=r'not a valid x.zip and was deleted \(.* is not a zip archive\)'): W.fetch(f'{url}/big.npz', raw/'x.zip', check=not_zip, error=DataErr, **quiet)
    with pytest.raises(DataErr, match='HTTP 404'): W.fetch(f'{url}/nope.zip', raw/'y.zip', error=DataErr, **quiet)
    assert _listing(raw) == ['big.npz']
