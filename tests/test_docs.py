"""The documentation stays true to the repository: README.md is what nbs/index.ipynb generates, every cited document and
section exists, and nothing points outside the repository."""
import re, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT/'nbs').glob('*.ipynb')) + [ROOT/'README.md'] + sorted((ROOT/'ssgnet_nb').rglob('*.py')) + sorted((ROOT/'tests').glob('*.py')) \
          + sorted((ROOT/'docs').glob('*.md'))
ids = lambda p: str(p.relative_to(ROOT))
OUTSIDE = re.compile(r'(\.\./shared|' + re.escape('/' + 'work' + '/shared') + r')\S*')   # the folder beside the repository (spelled so that this file names none)

def test_readme_is_generated_from_index():
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'readme.py'), '--check'], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr

@pytest.mark.parametrize('src', SOURCES, ids=ids)
def test_references_stay_inside_the_repository(src):
    text = src.read_text()
    outside = [m.group(0) for m in OUTSIDE.finditer(text)]
    assert not outside, f"{ids(src)} points outside the repository: {outside[:3]}"
    missing = sorted({m for m in re.findall(r'docs/[a-z0-9_]+\.md', text) if not (ROOT/m).is_file()})
    assert not missing, f"{ids(src)} cites documents that are not in docs/: {missing}"

def sections(doc:Path) -> set:
    "The section numbers of a document's headings: '## 3. Method' -> '3', '### 16.2 Filters' -> '16.2'."
    return set(re.findall(r'^#{2,4}\s+(\d+(?:\.\d+)?)\.?\s', doc.read_text(), re.M))

# how each document is cited: 'docs/protocol.md §3.5', '`docs/protocol.md` §3.1-3.2', 'spec §6-10', '(spec §10, §13)'
CITES = {'protocol.md': r'protocol\.md`?\s*((?:§\s*[\d.]+(?:-[\d.]+)?[,;\s]*)+)',
         'stylegan3.md': r'(?:\bspec|stylegan3\.md`?)\s*((?:§\s*[\d.]+(?:-[\d.]+)?[,;\s]*)+)'}

@pytest.mark.parametrize('doc', CITES)
def test_cited_sections_exist(doc):
    have, bad = sections(ROOT/'docs'/doc), []
    for src in SOURCES:
        for m in re.finditer(CITES[doc], src.read_text()):
            for num in re.findall(r'\d+(?:\.\d+)?', m.group(1)):
                if num.rstrip('.') not in have: bad.append(f"{ids(src)}: §{num}")
    assert not bad, f"sections of docs/{doc} cited but missing: {sorted(set(bad))}"
