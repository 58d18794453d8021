"""The generated report in a real browser (Debian's headless chromium driven by playwright; no browser download).

Opens reports/index.html, follows it to the dataset index and a stage page, and checks that each page renders,
every image loads (natural width > 0), every relative link resolves to an existing file, and no script raises.
Screenshots are kept in tests/artifacts/ as evidence.
"""
import os, shutil, subprocess, sys
from pathlib import Path
from urllib.parse import urlparse, unquote
import pytest

ROOT = Path(__file__).resolve().parents[1]
ART = ROOT/'tests'/'artifacts'
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')

@pytest.fixture(scope='module')
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('browser')
    env = {**os.environ, 'SSGNET_REPORTS_PATH': str(tmp/'reports'), 'SSGNET_DATA_PATH': str(tmp/'data'), 'SSGNET_RUNS_PATH': str(tmp/'runs')}
    stages = 'data,report' if (ROOT/'nbs'/'06_report.ipynb').exists() else 'data'
    r = subprocess.run([str(Path(sys.executable).parent/'ssgnet'), 'run', 'demo', '--profile', 'smoke', '--stages', stages],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    return tmp/'reports'

def check_page(page, path: Path, shot: str):
    errors = []
    page.on('pageerror', lambda e: errors.append(str(e)))
    page.goto(path.as_uri()); page.wait_for_load_state('load')
    assert page.title(), f'{path} has no title'
    assert page.evaluate('document.body.innerText.trim().length') > 20, f'{path} renders no text'
    imgs = page.evaluate('Array.from(document.images).map(i => [i.getAttribute("src").slice(0, 60), i.complete, i.naturalWidth])')
    bad = [i for i in imgs if not (i[1] and i[2] > 0)]
    assert not bad, f'{path}: images that did not load: {bad}'
    links = page.evaluate('Array.from(document.querySelectorAll("a[href]")).map(a => a.href)')
    missing = [u for u in links if u.startswith('file:') and not Path(unquote(urlparse(u).path)).exists()]
    assert not missing, f'{path}: links to missing files: {missing}'
    ART.mkdir(exist_ok=True)
    page.screenshot(path=str(ART/shot), full_page=True)
    assert not errors, f'{path}: script errors: {errors}'
    return imgs, links

@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)")
def test_report_pages_in_chromium(report):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=['--no-sandbox', '--disable-gpu', '--disable-background-networking',
                              '--disable-component-update', '--disable-sync', '--no-first-run'])
        try:
            page = b.new_page()
            page.route('http*://**', lambda r: r.abort())            # no network: only what is on disk counts
            _, links = check_page(page, report/'index.html', 'reports_index.png')
            assert any(l.endswith('demo/index.html') for l in links)
            _, links = check_page(page, report/'demo'/'index.html', 'demo_index.png')
            stage_pages = [l for l in links if l.endswith('.html') and not l.endswith('index.html')]
            assert any(l.endswith('01_data.html') for l in stage_pages)
            imgs, _ = check_page(page, report/'demo'/'01_data.html', 'demo_01_data.png')
            assert len(imgs) >= 1                                     # the preview grid is there and loaded
        finally: b.close()
