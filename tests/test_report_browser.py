"""The generated report of a finished smoke pipeline in a real browser (Debian's headless chromium driven by playwright; no
browser download).

`ssgnet run demo --profile smoke` runs every stage in a scratch project (a settings.ini of its own, named by
SSGNET_SETTINGS). Then the browser opens reports/index.html, the dataset index and every stage page, and checks that
each page renders, every image loads (natural width > 0), every relative link resolves, no script raises; that each
stage page shows its results (a table) before the first documentation heading ("How it works", folded), or its error
when the stage failed; and that the dataset index shows each finished stage's headline numbers, the profile and run id,
and a thumbnail that loads. Screenshots are kept in tests/artifacts/ as evidence.
"""
import json, os, shutil, subprocess, sys, time
from pathlib import Path
from urllib.parse import urlparse, unquote
import pytest

ROOT = Path(__file__).resolve().parents[1]
ART = ROOT/'tests'/'artifacts'
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
KEEP_ENV = ('SSGNET_KERNEL_CACHE', 'SSGNET_FAST_KERNEL')   # machine settings, not the project's

@pytest.fixture(scope='module')
def report(tmp_path_factory):
    proj = tmp_path_factory.mktemp('browser')
    (proj/'settings.ini').write_text('[ssgnet]\ndata_path = data\nruns_path = runs\nreports_path = reports\npretrained_dir = pretrained\n'
                                     'inception_weights =\nprofile = smoke\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith('SSGNET_') or k in KEEP_ENV}   # a user's SSGNET_RUNS_PATH would win over the file
    env['SSGNET_SETTINGS'] = str(proj/'settings.ini')
    t0 = time.time()
    r = subprocess.run([str(Path(sys.executable).parent/'ssgnet'), 'run', 'demo', '--profile', 'smoke'],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    print(f'smoke pipeline: {time.time() - t0:.0f} s, exit {r.returncode}')
    assert r.returncode in (0, 1), r.stdout + r.stderr                       # 1: a stage failed; its page is checked below
    assert 'stages, in order: data -> gan' in r.stdout
    assert (proj/'runs'/'demo'/'gan').is_dir()                                # the runs went into the scratch project
    status = json.loads((proj/'reports'/'demo'/'status.json').read_text())
    assert status['data']['status'] == 'ok' and status['gan']['status'] == 'ok', r.stdout + r.stderr
    return proj/'reports', status

@pytest.fixture(scope='module')
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=['--no-sandbox', '--disable-gpu', '--disable-background-networking',
                              '--disable-component-update', '--disable-sync', '--no-first-run'])
        try:
            page = b.new_page()
            page.route('http*://**', lambda r: r.abort())            # no network: only what is on disk counts
            yield page
        finally: b.close()

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

# Where the first results table and the first "How it works" heading sit in the page (document order), and whether
# that heading is inside the folded <details> part.
ORDER_JS = """() => {
  const t = document.querySelector('table');
  const h = [...document.querySelectorAll('summary, h1, h2, h3')].find(e => /How it works/.test(e.textContent));
  return {table: !!t, docs: !!h, before: !!(t && h && (t.compareDocumentPosition(h) & Node.DOCUMENT_POSITION_FOLLOWING)),
          folded: !!(h && h.closest('details')), open: !!(h && h.closest('details') && h.closest('details').open)};
}"""

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)")

@needs_chromium
def test_stage_pages_open_with_results(report, browser):
    rep, status = report
    _, links = check_page(browser, rep/'index.html', 'reports_index.png')
    assert any(l.endswith('demo/index.html') for l in links)
    _, links = check_page(browser, rep/'demo'/'index.html', 'demo_index.png')
    pages = sorted({Path(unquote(urlparse(l).path)).name for l in links if l.endswith('.html') and not l.endswith('index.html')})
    assert pages == sorted(r['html'] for r in status.values() if r.get('html')), pages      # every stage page is linked
    for stage, r in status.items():
        if not r.get('html'): continue
        check_page(browser, rep/'demo'/r['html'], f"demo_{Path(r['html']).stem}.png")
        o = browser.evaluate(ORDER_JS)
        if r['status'] != 'ok':                                       # a failing stage still has its page, with the error
            assert r['error'].split(':')[0] in browser.evaluate('document.body.innerText'), stage
            continue
        assert o['table'] and o['docs'], f"{stage}: {o}"
        assert o['before'] and o['folded'] and not o['open'], f"{stage}: the results table must come before the folded 'How it works' part: {o}"

@needs_chromium
def test_index_shows_headline_numbers_and_thumbnails(report, browser):
    rep, status = report
    check_page(browser, rep/'demo'/'index.html', 'demo_index.png')
    rows = browser.evaluate("""() => Object.fromEntries([...document.querySelectorAll('tr')].slice(1).map(tr => [tr.cells[0].innerText.trim(), {
        headline: [...tr.querySelectorAll('ul.hl li')].map(li => li.innerText), thumbs: [...tr.querySelectorAll('img.thumb')].map(i => i.naturalWidth),
        run: tr.cells[4].innerText, link: tr.cells[0].querySelector('a') ? tr.cells[0].querySelector('a').getAttribute('href') : null}]))""")
    for stage, r in status.items():
        res = r.get('result')
        if r['status'] != 'ok' or not res: continue                  # report stage, failed stages: no results
        row = rows[stage]
        assert len(row['headline']) == len(res['headline']) >= 1, (stage, row)
        for h, li in zip(res['headline'], row['headline']): assert li.startswith(f"{h['metric']}: "), (stage, li)
        assert res['profile'] in row['run'] and (res['run_id'] is None or res['run_id'] in row['run']), (stage, row)
        if res.get('thumbnail'): assert row['thumbs'] and all(w > 0 for w in row['thumbs']), (stage, row)
    assert rows['gan']['thumbs'] and any('[' in li for li in rows['gan']['headline'])          # the GAN's class fidelity has its interval
    for stage in ('segmentation', 'fid'):
        if status[stage]['status'] == 'ok': assert rows[stage]['thumbs'] and rows[stage]['headline'], stage
