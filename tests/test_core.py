"Core behaviour that needs a real process: atomic writes under kill -9, settings precedence from a subprocess."
import os, signal, subprocess, sys, textwrap, time, json
from pathlib import Path
import pytest

PY = sys.executable

def test_atomic_write_survives_kill9(tmp_path):
    target = tmp_path/'out.bin'
    target.write_bytes(b'old content')
    script = textwrap.dedent(f"""
        import sys, time
        from ssgnet_nb.core import atomic_open
        with atomic_open({str(target)!r}, 'wb') as f:
            f.write(b'x' * 1000); f.flush()
            print('writing', flush=True)
            for _ in range(600): f.write(b'y' * 1000); f.flush(); time.sleep(0.01)
    """)
    p = subprocess.Popen([PY, '-c', script], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == 'writing'
    time.sleep(0.2)
    os.kill(p.pid, signal.SIGKILL); p.wait()
    assert p.returncode == -signal.SIGKILL
    assert target.read_bytes() == b'old content'          # never a partial file under the real name
    leftovers = [q.name for q in tmp_path.iterdir() if q.name != 'out.bin']
    assert all(n.startswith('.out.bin.tmp-') for n in leftovers)  # only a hidden temp file may remain

def test_checkpoint_killed_mid_save_keeps_previous(tmp_path):
    from ssgnet_nb.core import save_checkpoint, load_checkpoint
    import torch
    ck = tmp_path/'ck.pt'
    save_checkpoint({'step': 1, 'w': torch.zeros(3)}, ck)
    script = textwrap.dedent(f"""
        import torch, os, time
        import ssgnet_nb.core as core
        real = os.replace
        def slow_replace(a, b): print('replacing', flush=True); time.sleep(30); real(a, b)
        core.os.replace = slow_replace
        core.save_checkpoint({{'step': 2, 'w': torch.ones(1_000_000)}}, {str(ck)!r})
    """)
    p = subprocess.Popen([PY, '-c', script], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == 'replacing'
    os.kill(p.pid, signal.SIGKILL); p.wait()
    assert load_checkpoint(ck)['step'] == 1               # previous checkpoint intact and its hash still matches

def test_settings_precedence_in_subprocess(tmp_path):
    ini = tmp_path/'settings.ini'
    ini.write_text("[ssgnet]\ndata_path = from_file\nprofile = paper\ndevice = cpu\n")
    code = "from ssgnet_nb.core import get_settings; s = get_settings(); print(s['data_path'], s['profile'], s['device'], s['runs_path'])"
    env = {k: v for k, v in os.environ.items() if not k.startswith('SSGNET_')}
    out = subprocess.run([PY, '-c', code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(tmp_path/'from_file'), 'paper', 'cpu', str(tmp_path/'runs')]
    env.update(SSGNET_PROFILE='smoke', SSGNET_DATA_PATH='/x/y')
    out = subprocess.run([PY, '-c', code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out[:2] == ['/x/y', 'smoke']
    env['SSGNET_SETTINGS'] = str(tmp_path/'missing.ini')
    r = subprocess.run([PY, '-c', code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode != 0 and 'missing.ini, which is not a file' in r.stderr

def test_profiles_resolve_for_every_stage():
    from ssgnet_nb.core import PROFILES, STAGE_KEYS, resolve_config, ConfigError
    for p in PROFILES:
        for s in STAGE_KEYS:
            c = resolve_config(p, s, dataset='demo')
            assert c['profile'] == p and c['stage'] == s and set(STAGE_KEYS) <= set(c)
    assert PROFILES['smoke']['gan']['resolution'] < PROFILES['demo']['gan']['resolution'] < PROFILES['paper']['gan']['resolution']
    with pytest.raises(ConfigError, match="unknown parameter 'epochz'"):
        resolve_config('demo', 'segmentation', epochz=3)
