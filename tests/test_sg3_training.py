"StyleGAN3 training: resume after kill -9 (bitwise), 2-rank gloo, corrupt checkpoints, NaN stop, disk errors, ADA, lazy R1."
import os, sys, json, time, signal, subprocess, textwrap, math, threading
from pathlib import Path
import numpy as np, pytest, torch

torch.set_num_threads(1)
from ssgnet_nb.core import load_checkpoint, CheckpointError, SSGNetError, RunDir
from ssgnet_nb.stylegan3.training import Trainer, train_loop, snapshots, gan_config, TrainingError, ema_beta
from ssgnet_nb.stylegan3.augment import AugmentPipe, AdaTuner

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
TINY = dict(resolution=16, z_dim=8, w_dim=8, cbase=128, cmax=8, batch=4, tick_kimg=0.004, snap=1, r1_interval=2, ada_interval=1, ada_kimg=0.5)

def _imgs(n=12, seed=0): return np.random.default_rng(seed).integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)

def _env(tmp_path):
    return dict(os.environ, SSGNET_RUNS_PATH=str(tmp_path/'runs'), SSGNET_DATA_PATH=str(tmp_path/'data'), OMP_NUM_THREADS='1', PYTHONPATH=str(ROOT))

def _same(a, b):
    "Names of the tensors in state dicts `a` and `b` that are not bitwise equal."
    return [k for k in a if not torch.equal(a[k], b[k])]

SCRIPT = textwrap.dedent('''
    import sys, json, numpy as np, torch
    torch.set_num_threads(1)
    from ssgnet_nb.stylegan3.training import train_loop
    s = train_loop(sys.argv[1], np.load(sys.argv[2]), json.loads(sys.argv[3]), seed=0, kimg=float(sys.argv[4]), show_progress=False)
    print(json.dumps(s))
''')

def test_kill9_resume_is_bitwise(tmp_path):
    "kill -9 after the first snapshot, resume: counters continue, nothing lost beyond the snapshot, final weights equal an uninterrupted run's."
    imgs, kimg = _imgs(), 0.024                        # 6 iterations, a snapshot after each
    np.save(tmp_path/'imgs.npy', imgs); (tmp_path/'train.py').write_text(SCRIPT)
    proc = subprocess.Popen([PY, str(tmp_path/'train.py'), str(tmp_path/'b'), str(tmp_path/'imgs.npy'), json.dumps(TINY), str(kimg)],
                            env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    def killer():   # kill -9 as soon as the first snapshot is complete (its .sha256 is written after the .pt)
        t0 = time.time()
        while not (tmp_path/'b'/'network-snapshot-000004.pt.sha256').exists() and proc.poll() is None and time.time() - t0 < 100: time.sleep(0.01)
        if proc.poll() is None: proc.send_signal(signal.SIGKILL)
    th = threading.Thread(target=killer); th.start()
    a = train_loop(tmp_path/'a', imgs, TINY, seed=0, kimg=kimg, show_progress=False)     # the uninterrupted run, meanwhile
    th.join(); proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = snapshots(tmp_path/'b')[-1]
    n_killed = int(killed_at.stem.split('-')[-1])
    assert n_killed < 24, 'the run finished before it was killed'
    b = train_loop(tmp_path/'b', imgs, TINY, seed=0, kimg=kimg, show_progress=False)
    assert b['nimg'] == a['nimg'] == 24
    sa, sb = load_checkpoint(a['checkpoint']), load_checkpoint(b['checkpoint'])
    for k in ('G', 'D', 'G_ema'): assert _same(sa[k], sb[k]) == [], k
    assert torch.equal(sa['aug_p'], sb['aug_p']) and sa['batch_idx'] == sb['batch_idx'] == 6
    assert torch.equal(sa['opt_D']['state'][0]['exp_avg_sq'], sb['opt_D']['state'][0]['exp_avg_sq'])
    m = [r['nimg'] for r in RunDir(tmp_path/'b').metrics()]
    assert m == sorted(set(m)) and m[-1] == 24 and set(range(4, 28, 4)) == set(m)   # one line per tick, none duplicated
    assert 'resumed from ' + killed_at.name in (tmp_path/'b'/'log.txt').read_text()

def test_two_gloo_ranks_match_single_process(tmp_path):
    "torchrun with 2 gloo ranks: parameters identical across ranks, and equal (within 1e-6) to one process with the same global batch."
    imgs, kimg = _imgs(), 0.016
    np.save(tmp_path/'imgs.npy', imgs)
    (tmp_path/'ddp.py').write_text(textwrap.dedent('''
        import sys, json, numpy as np, torch
        torch.set_num_threads(1)
        import torch.distributed as dist
        from ssgnet_nb.stylegan3.training import Trainer, init_distributed
        rank, world = init_distributed('cpu')
        tr = Trainer(np.load(sys.argv[1]), json.loads(sys.argv[2]), seed=0)
        assert (tr.rank, tr.world, tr.bg, tr.rounds) == (rank, 2, 2, 1)
        for _ in range(4): tr.step()
        torch.save({k: v for k, v in tr.state_dict().items() if k in ('G', 'D', 'G_ema', 'aug_p', 'cur_nimg')}, f'{sys.argv[3]}/rank{rank}.pt')
        dist.destroy_process_group()
    '''))
    proc = subprocess.Popen([str(Path(PY).parent/'torchrun'), '--standalone', '--nproc_per_node=2', str(tmp_path/'ddp.py'), str(tmp_path/'imgs.npy'),
                             json.dumps(TINY), str(tmp_path)], env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ref = Trainer(imgs, dict(TINY, batch_gpu=2), seed=0)      # meanwhile: one process, 2 accumulation rounds of 2 = the same global batch
    assert ref.rounds == 2
    for _ in range(4): ref.step()
    out, err = proc.communicate(timeout=100)
    assert proc.returncode == 0, err[-3000:]
    r0, r1 = torch.load(tmp_path/'rank0.pt'), torch.load(tmp_path/'rank1.pt')
    for k in ('G', 'D', 'G_ema'): assert _same(r0[k], r1[k]) == [], k
    assert r0['cur_nimg'] == 16
    sd = ref.state_dict()
    for k in ('G', 'D'):
        err = max(float((sd[k][n].float() - r0[k][n].float()).abs().max()) for n in sd[k] if sd[k][n].is_floating_point())
        print(f'{k}: max |single - 2 ranks| = {err:.2e}'); assert err <= 1e-6, (k, err)   # measured: 0 (gloo sums 2 ranks in the same order as 2 rounds)

def test_corrupt_checkpoint_is_refused(tmp_path):
    imgs = _imgs()
    train_loop(tmp_path, imgs, TINY, kimg=0.008, show_progress=False)
    ck = snapshots(tmp_path)[-1]
    data = bytearray(ck.read_bytes()); data[len(data)//2] ^= 0xFF; ck.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match='corrupt'): train_loop(tmp_path, imgs, TINY, kimg=0.016, show_progress=False)

def test_nan_stops_and_keeps_last_good_checkpoint(tmp_path):
    imgs = _imgs()
    train_loop(tmp_path, imgs, TINY, kimg=0.008, show_progress=False)
    good = snapshots(tmp_path)[-1]; sha = good.with_name(good.name + '.sha256').read_text()
    with pytest.raises(TrainingError, match=r'non-finite loss at iteration 3 \(after 0\.012 kimg.*network-snapshot-000012\.pt'):
        train_loop(tmp_path, imgs, TINY, kimg=0.032, show_progress=False, inject_nan_at=3)
    assert [p.name for p in snapshots(tmp_path)][-1] == 'network-snapshot-000012.pt'   # iteration 2 finished and was saved; 3 was not
    assert load_checkpoint(snapshots(tmp_path)[-1])['cur_nimg'] == 12
    assert good.with_name(good.name + '.sha256').read_text() == sha

def test_disk_full_keeps_previous_checkpoint(tmp_path, monkeypatch):
    imgs = _imgs()
    train_loop(tmp_path, imgs, TINY, kimg=0.004, show_progress=False)
    prev = snapshots(tmp_path)[-1]
    def full(fd): raise OSError(28, 'No space left on device')
    monkeypatch.setattr(os, 'fsync', full)
    with pytest.raises(SSGNetError, match='No space left on device.*previous version'):
        train_loop(tmp_path, imgs, TINY, kimg=0.008, show_progress=False)
    monkeypatch.undo()
    assert snapshots(tmp_path) == [prev] and load_checkpoint(prev)['cur_nimg'] == 4
    assert not [p for p in tmp_path.iterdir() if '.tmp-' in p.name]

def test_too_few_images_and_wrong_size():
    with pytest.raises(TrainingError, match='fewer than the batch size 4'): Trainer(_imgs(3), TINY)
    with pytest.raises(TrainingError, match='gan.resolution is 32'): Trainer(_imgs(), dict(TINY, resolution=32))

def test_lazy_r1_schedule_ema_and_ada_direction():
    tr = Trainer(_imgs(), dict(TINY, r1_interval=3, ada_kimg=0.1), seed=1)
    outs = [tr.step() for _ in range(4)]
    assert [math.isfinite(o['r1']) for o in outs] == [True, False, False, True]
    assert outs[0]['ema_beta'] == 0.0 and 0 < outs[1]['ema_beta'] == ema_beta(4, 4, gan_config(TINY)['ema_kimg'], 0.05) < 1
    k = 3/4
    assert tr.opt_D.param_groups[0]['lr'] == pytest.approx(0.002 * k) and tr.opt_D.param_groups[0]['betas'][1] == pytest.approx(0.99 ** k)
    pipe = AugmentPipe(); t = AdaTuner(pipe, target=0.6, ada_kimg=1, interval=1, batch=10)
    t.accumulate(torch.ones(10, 1)); t.update(0); assert float(pipe.p) == pytest.approx(0.01)
    t.accumulate(torch.tensor([1., 1, -1, -1])); t.update(1); assert float(pipe.p) == pytest.approx(0.0)   # r_t = 0 < 0.6: down, clamped at 0
    t.accumulate(-torch.ones(4)); t.update(2); assert float(pipe.p) == 0.0

def test_augment_identity_at_p0_and_gray():
    x = torch.rand(4, 1, 16, 16) * 2 - 1
    pipe = AugmentPipe()
    assert torch.equal(pipe(x, torch.Generator().manual_seed(0)), x)
    pipe.p.fill_(1.0)
    y = pipe(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and not torch.equal(x, y) and torch.isfinite(y).all()

def test_bf16_autocast_steps_are_finite():
    tr = Trainer(_imgs(), TINY, precision='bf16')
    outs = [tr.step() for _ in range(2)]
    assert all(math.isfinite(o['loss_G']) and math.isfinite(o['loss_D']) for o in outs) and tr.G.mapping.w_avg.dtype == torch.float32
