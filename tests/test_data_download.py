"`download` against a local HTTP server on 127.0.0.1 (Range support for resuming); nothing leaves the machine."
import hashlib, http.server, threading
from pathlib import Path
import pytest
from fixtures_data import kvasir_zip
from ssgnet_nb.data import download, prepare, load_manifest, DataError

class _Handler(http.server.BaseHTTPRequestHandler):
    files, log = {}, []
    def log_message(self, *a): pass
    def do_GET(self):
        body = self.files.get(self.path.split('?')[0])
        rng = self.headers.get('Range'); self.log.append((self.path, rng))
        if body is None: self.send_error(404); return
        start = int(rng.split('=')[1].split('-')[0]) if rng else 0
        if start >= len(body) and rng: self.send_response(416); self.end_headers(); return
        self.send_response(206 if rng else 200)
        if rng: self.send_header('Content-Range', f'bytes {start}-{len(body)-1}/{len(body)}')
        self.send_header('Content-Length', str(len(body) - start)); self.end_headers()
        self.wfile.write(body[start:])

@pytest.fixture
def server(tmp_path):
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True); th.start()
    _Handler.files, _Handler.log = {}, []
    yield f'http://127.0.0.1:{srv.server_address[1]}', _Handler
    srv.shutdown(); srv.server_close()

@pytest.fixture(autouse=True)
def _data_path(tmp_path, monkeypatch):
    monkeypatch.setenv('SSGNET_DATA_PATH', str(tmp_path/'data')); monkeypatch.setenv('no_proxy', '127.0.0.1,localhost'); monkeypatch.setenv('NO_PROXY', '127.0.0.1,localhost')

def test_download_verify_and_prepare(tmp_path, server):
    url, h = server
    body = kvasir_zip(tmp_path/'fx', 3).read_bytes(); h.files['/downloads/kvasir-seg.zip'] = body
    sha = hashlib.sha256(body).hexdigest()
    d = download('kvasir', url=f'{url}/downloads/kvasir-seg.zip?download=1', sha256=sha)
    assert d == tmp_path/'data'/'raw'/'kvasir' and (d/'kvasir-seg.zip').read_bytes() == body
    assert len(load_manifest('kvasir', prepare('kvasir', sizes=(16,), patch=16))) == 3        # source defaults to data/raw/kvasir
    n = len(h.log); download('kvasir', url=f'{url}/downloads/kvasir-seg.zip', sha256=sha); assert len(h.log) == n   # already there: no request

def test_wrong_checksum_rejected(tmp_path, server):
    url, h = server; h.files['/f.zip'] = b'x'*5000
    with pytest.raises(DataError, match='checksum mismatch for f.zip .*the corrupt download was deleted'):
        download('kvasir', dest=tmp_path/'raw', url=f'{url}/f.zip', sha256='0'*64)
    assert not list((tmp_path/'raw').iterdir())

def test_resume_from_part_file(tmp_path, server):
    url, h = server; body = bytes(range(256))*40; h.files['/big.npz'] = body
    raw = tmp_path/'raw'; raw.mkdir(); (raw/'big.npz.part').write_bytes(body[:3000])
    download('breastmnist', dest=raw, url=f'{url}/big.npz', sha256=hashlib.sha256(body).hexdigest())
    assert (raw/'big.npz').read_bytes() == body and h.log[-1][1] == 'bytes=3000-' and not (raw/'big.npz.part').exists()

def test_no_checksum_records_sha256(tmp_path, server):
    url, h = server; h.files['/a.zip'] = b'abc'
    d = download('kvasir', dest=tmp_path/'raw', url=f'{url}/a.zip')
    assert (d/'a.zip.sha256').read_text().split()[0] == hashlib.sha256(b'abc').hexdigest()

def test_errors(tmp_path, server):
    url, h = server
    with pytest.raises(DataError, match='HTTP 404'): download('kvasir', dest=tmp_path/'r', url=f'{url}/missing.zip')
    with pytest.raises(DataError, match=r'needs a login\): get it from https://www.kaggle.com.* put the archive .* in .*raw/chest_xray'): download('chest_xray')
    with pytest.raises(DataError, match='TCIA|cancerimagingarchive'): download('cbis_ddsm')
    with pytest.raises(DataError, match='generated, not downloaded'): download('demo')

class _Flaky(_Handler):
    "Serves each file's first response cut short (half the body, then the connection drops), or a 503, as `mode` says; later ones whole."
    mode, seen = 'cut', set()
    def do_GET(self):
        key = self.path.split('?')[0]
        if key in self.seen or key not in self.files: return super().do_GET()
        self.seen.add(key); self.log.append((self.path, self.headers.get('Range')))
        if self.mode == '503': self.send_error(503); return
        body = self.files[key]; self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()
        self.wfile.write(body[:len(body)//2]); self.wfile.flush(); self.close_connection = True

@pytest.fixture
def flaky(tmp_path, monkeypatch):
    import ssgnet_nb.data as data, time
    monkeypatch.setattr(time, 'sleep', lambda s: None)
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Flaky)
    th = threading.Thread(target=srv.serve_forever, daemon=True); th.start()
    _Flaky.files, _Flaky.log, _Flaky.seen = {}, [], set()
    yield f'http://127.0.0.1:{srv.server_address[1]}', _Flaky
    srv.shutdown(); srv.server_close()

@pytest.mark.parametrize('mode', ['cut', '503'])
def test_network_failure_retried_and_resumed(tmp_path, flaky, mode):
    url, h = flaky; h.mode = mode; body = bytes(range(256)) * 1024; h.files['/f.npz'] = body   # 256 KiB, cut after 128 KiB (two 64 KiB chunks)
    d = download('breastmnist', dest=tmp_path/'raw', url=f'{url}/f.npz', sha256=hashlib.sha256(body).hexdigest())
    assert (d/'f.npz').read_bytes() == body and not (d/'f.npz.part').exists()
    assert [r for _, r in h.log] == [None, f'bytes={len(body)//2}-' if mode == 'cut' else None]   # the retry resumed where the cut left off

def test_registry_md5_is_the_known_hash(tmp_path, server, monkeypatch):
    "A file the registry publishes an md5 for (BreastMNIST) is checked against it before it is moved into place; no .sha256 is recorded for it."
    import ssgnet_nb.data as data
    url, h = server; body = b'npz bytes'; h.files['/breastmnist.npz'] = body
    info = data.DATASETS['breastmnist']
    monkeypatch.setattr(info, 'urls', ((f'{url}/breastmnist.npz?download=1', None),))
    with pytest.raises(DataError, match=r"not a valid breastmnist.npz and was deleted \(md5 [0-9a-f]{32} differs from the published 750601b1"): download('breastmnist', dest=tmp_path/'raw')
    assert not list((tmp_path/'raw').iterdir())
    monkeypatch.setattr(info, 'md5', dict(info.md5, **{'breastmnist.npz': hashlib.md5(body).hexdigest()}))
    d = download('breastmnist', dest=tmp_path/'raw')
    assert (d/'breastmnist.npz').read_bytes() == body and not (d/'breastmnist.npz.sha256').exists()

def test_bad_checksum_argument_and_unreachable(tmp_path, monkeypatch):
    import ssgnet_nb.data as data, time
    with pytest.raises(DataError, match="sha256 'abc' is not 64 hex digits"): download('kvasir', dest=tmp_path/'r', url='http://127.0.0.1:9/a.zip', sha256='abc')
    monkeypatch.setattr(time, 'sleep', lambda s: None); monkeypatch.setattr(data, 'DOWNLOAD_RETRIES', 1)
    with pytest.raises(DataError, match=r'download of http://127.0.0.1:9/a.zip failed after 2 attempts .*run the same command again'):
        download('kvasir', dest=tmp_path/'r', url='http://127.0.0.1:9/a.zip')
