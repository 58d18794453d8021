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
