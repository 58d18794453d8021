"Official StyleGAN pickles: read without running their code (benign and hostile fixtures), transfer learning from them (gan.init_* options, Freeze-D), export in the official layout."
import io, os, sys, json, pickle, subprocess, collections, textwrap
from pathlib import Path
import numpy as np, pytest, torch

torch.set_num_threads(1)
from ssgnet_nb.core import RunDir, load_checkpoint, file_sha256, ConfigError
from ssgnet_nb.stylegan3.networks import Generator, Discriminator
from ssgnet_nb.stylegan3.augment import AugmentPipe
from ssgnet_nb.stylegan3.official import (load_official, read_records, write_official_pickle, export_official, load_exported, OfficialPickleError,
                                          official_generator_kwargs, official_discriminator_kwargs, kit_generator_kwargs, kit_discriminator_kwargs,
                                          STANDIN_SOURCES, _OfficialPickler, _Persistent, PERSISTENCE_VERSION, Record, pickle_globals, StyleGAN2Generator)
from ssgnet_nb.stylegan3.training import train_loop, snapshots, gan_config, build_networks, load_generator, init_state, TrainingError

PY = sys.executable
G64 = dict(resolution=64, z_dim=32, w_dim=32, map_layers=2, cbase=2048, cmax=64, batch=8, mbstd_group=4)   # the demo's networks, narrower latents
TINY = dict(resolution=16, z_dim=8, w_dim=8, cbase=128, cmax=8, batch=4, tick_kimg=0.004, snap=1, r1_interval=2, ada_interval=1, ada_kimg=0.5, blur_sigma=0)

def _imgs(n=8, c=3, seed=0): return np.random.default_rng(seed).integers(0, 256, (n, 16, 16, c), dtype=np.uint8)

def _nets(g, cfg, channels=3, seed=0):
    "Random kit G and D of configuration `g` with every weight non-trivial (G's affine layers start at zero otherwise)."
    torch.manual_seed(seed)
    G, D = build_networks(gan_config(dict(g, cfg=cfg)), channels)
    with torch.no_grad():
        for p in G.parameters(): p.add_(torch.randn_like(p) * 0.1)
        G.mapping.w_avg.normal_()
        for n, b in G.named_buffers():
            if n.endswith('magnitude_ema'): b.uniform_(0.5, 2)
        for p in D.parameters(): p.add_(torch.randn_like(p) * 0.1)
    return G.eval(), D.eval()

def _pickle(path, g, cfg, channels=3, p=0.25, protocol=4, seed=0, **kw):
    "An official-layout pickle of random networks; returns (path, G, D)."
    G, D = _nets(g, cfg, channels, seed)
    pipe = AugmentPipe(); pipe.p.fill_(p)
    gc = gan_config(dict(g, cfg=cfg))
    path = write_official_pickle(path, G=G, D=D, G_ema=G, augment_pipe=pipe, G_kwargs=official_generator_kwargs(gc, channels),
                                 D_kwargs=official_discriminator_kwargs(gc, channels), training_set_kwargs=dict(resolution=g['resolution']), protocol=protocol, **kw)
    return path, G, D

# ---------------------------------------------------------------- benign pickles in

@pytest.mark.parametrize('cfg, protocol', [('stylegan3-t', 3), ('stylegan3-t', 4), ('stylegan3-r', 4)])   # Python 3.7 wrote protocol 3, 3.8+ 4
def test_official_pickle_gives_the_same_images(tmp_path, cfg, protocol):
    "A 64 px official-layout pickle of random weights loads into the kit's networks: same images (< 1e-4) and logits, its p and kimg."
    path, G, D = _pickle(tmp_path/'network-snapshot-001200.pkl', G64, cfg, protocol=protocol)
    s = load_official(path)
    assert (s.family, s.kimg, s.ada_p, s.G.cfg, s.training_set_kwargs) == ('stylegan3', 1200., 0.25, cfg, dict(resolution=64))
    assert s.gan_keys() == dict(cfg=cfg, resolution=64, z_dim=32, w_dim=32, map_layers=2, cbase=2048, cmax=64)
    z = torch.randn(2, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        x0 = G(z, truncation_psi=0.7)   # psi < 1 uses w_avg too
        assert (s.G_ema(z, truncation_psi=0.7) - x0).abs().max() < 1e-4 and x0.std() > 0.01   # and not two blank images
        assert all(torch.equal(v, G.state_dict()[k]) for k, v in s.G.state_dict().items())
        assert torch.equal(s.D(x0), D(x0))
    assert 'torch_utils' not in sys.modules and 'dnnlib' not in sys.modules   # nothing was imported on the file's behalf

def test_official_freeze_d_layout_and_gray(tmp_path):
    "Official Freeze-D keeps frozen layers' weights as buffers; a gray pickle; records with positional arguments: all read."
    G, D = _nets(TINY, 'stylegan3-t', channels=1)
    gc = gan_config(dict(TINY, freeze_d=2))
    path = tmp_path/'frozen.pkl'
    write_official_pickle(path, G=G, D=D, G_ema=G, G_kwargs=official_generator_kwargs(gc, 1), D_kwargs=official_discriminator_kwargs(gc, 1))
    recs = read_records(path)
    st = recs['D'].children['b16'].children['fromrgb'].state   # move fromrgb's weights to buffers, as the official frozen layers hold them
    st['_buffers'].update(weight=st['_parameters'].pop('weight'), bias=st['_parameters'].pop('bias'))
    kw = recs['D'].state['_init_kwargs']; recs['D'].state['_init_args'] = (kw.pop('c_dim'), kw.pop('img_resolution'), kw.pop('img_channels'))
    s = load_official(_rewrite(recs, path))
    assert (s.freeze_layers, s.G.img_channels, s.ada_p, s.augment_pipe) == (2, 1, 0., None)
    assert 'kimg: the file name does not say' in ' '.join(s.notes)
    x = torch.rand(2, 1, 16, 16)
    with torch.no_grad(): assert torch.equal(s.D(x), D(x))

def test_stylegan2_pickle_reads(tmp_path):
    "A StyleGAN2-ADA-layout pickle (stylegan2-ada-pytorch passes synthesis_kwargs as one dict): its generator gives the same images, D and p are read; fine-tuning from it is refused plainly."
    kw = dict(z_dim=8, c_dim=0, w_dim=8, img_resolution=32, img_channels=3, mapping_kwargs=dict(num_layers=8))
    syn = dict(channel_base=256, channel_max=16, num_fp16_res=4, conv_clamp=256)
    torch.manual_seed(0); G = StyleGAN2Generator(**kw, **syn).eval()
    with torch.no_grad():
        for p in G.parameters(): p.add_(torch.randn_like(p) * 0.1)
        G.mapping.w_avg.normal_()
    D = Discriminator(img_resolution=32, channel_base=256, channel_max=16).eval()
    pipe = AugmentPipe(); pipe.p.fill_(0.5)
    dk = dict(c_dim=0, img_resolution=32, img_channels=3, channel_base=256, channel_max=16, num_fp16_res=4, conv_clamp=256, block_kwargs={}, mapping_kwargs={}, epilogue_kwargs=dict(mbstd_group_size=4))
    path = write_official_pickle(tmp_path/'network-snapshot-000200.pkl', G=G, D=D, G_ema=G, augment_pipe=pipe, G_kwargs=dict(kw, synthesis_kwargs=syn), D_kwargs=dk, protocol=3)
    s = load_official(path)
    assert (s.family, type(s.G_ema).__name__, s.ada_p, s.kimg, s.notes) == ('stylegan2', 'StyleGAN2Generator', 0.5, 200., [])
    z = torch.randn(3, 8, generator=torch.Generator().manual_seed(2)); x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        x0 = G(z, truncation_psi=0.7); assert x0.std() > 0.01 and (s.G_ema(z, truncation_psi=0.7) - x0).abs().max() < 1e-4
        assert torch.equal(s.D(x), D(x))
    with pytest.raises(TrainingError, match='holds a stylegan2 generator; the kit fine-tunes StyleGAN3'): init_state(path, gan_config(TINY), 3)

def _rewrite(recs, path, pickler=None):
    "Write read records (edited) back in the official layout."
    buf = io.BytesIO(); (pickler or _OfficialPickler)(buf, 4).dump({k: _rewrap(v) if isinstance(v, Record) else v for k, v in recs.items()})
    path.write_bytes(buf.getvalue()); return path

def _rewrap(rec):
    "A read `Record` tree as writable records again."
    st = dict(rec.state, _modules=collections.OrderedDict((k, _rewrap(c) if c is not None else None) for k, c in (rec.state.get('_modules') or {}).items()))
    return _Persistent(dict(type='class', version=PERSISTENCE_VERSION, module_src=rec.module_src, class_name=rec.class_name, state=st))

def test_wrong_content_is_refused(tmp_path):
    "Tensors that do not fit the constructor arguments, unknown options, a missing file, a non-network dict: each a clear OfficialPickleError."
    path, _, _ = _pickle(tmp_path/'a.pkl', TINY, 'stylegan3-t')
    recs = read_records(path)
    recs['G'].state['_init_kwargs']['w_dim'] = 16   # the tensors are for w_dim 8
    with pytest.raises(OfficialPickleError, match=r"b.pkl: the G record's tensors do not fit the kit's network built from its constructor arguments"): load_official(_rewrite(recs, tmp_path/'b.pkl'))
    recs['G'].state['_init_kwargs'].update(w_dim=8, architecture='skip')
    with pytest.raises(OfficialPickleError, match=r"c.pkl: the generator's constructor arguments architecture have no counterpart"): load_official(_rewrite(recs, tmp_path/'c.pkl'))
    recs['G'].state['_init_kwargs'].update(architecture=None, channel_base='x'); del recs['G'].state['_init_kwargs']['architecture']
    with pytest.raises(OfficialPickleError, match=r"d.pkl: the G record's constructor arguments cannot build the kit's network \(TypeError"): load_official(_rewrite(recs, tmp_path/'d.pkl'))
    recs['G'].state['_init_kwargs'] = [1, 2]
    with pytest.raises(OfficialPickleError, match=r"e.pkl was not loaded: the record of class Generator has malformed _init_kwargs"): load_official(_rewrite(recs, tmp_path/'e.pkl'))
    with pytest.raises(OfficialPickleError, match='does not exist'): load_official(tmp_path/'missing.pkl')
    (tmp_path/'f.pkl').write_bytes(pickle.dumps(dict(weights=torch.ones(3))))
    with pytest.raises(OfficialPickleError, match='holds no generator record'): load_official(tmp_path/'f.pkl')

# ---------------------------------------------------------------- hostile pickles: refused, nothing runs

def _touch(marker): return ['touch', str(marker)]

class _System:   # os.system('touch marker')
    def __init__(self, marker): self.m = marker
    def __reduce__(self): return (os.system, (' '.join(_touch(self.m)),))

class _Eval:     # builtins.eval("open(marker, 'w').close()")
    def __init__(self, marker): self.m = marker
    def __reduce__(self): return (eval, (f"open({str(self.m)!r}, 'w').close()",))

class _Subprocess:   # subprocess.call(['touch', marker])
    def __init__(self, marker): self.m = marker
    def __reduce__(self): return (subprocess.call, (_touch(self.m),))

class _StorageBomb:  # a tensor storage whose torch.save bytes hold a pickle that runs os.system
    def __init__(self, marker): self.m = marker
    def __reduce__(self):
        b = io.BytesIO(); torch.save(_System(self.m), b, _use_new_zipfile_serialization=False)
        return (torch.storage._load_from_bytes, (b.getvalue(),))

def _hostile(kind, path, marker):
    "Write hostile fixture `kind` (an official-layout pickle with one dangerous part) to `path`."
    if kind == 'source':    # the record's module source creates the marker when exec'd, as the official loader would
        return _pickle(path, TINY, 'stylegan3-t', sources=dict(G=STANDIN_SOURCES['G'] + f"open({str(marker)!r}, 'w').write('ran')\n"))[0]
    if kind == 'src_to_module':   # the persistence module's own exec helper, asked for by name
        class X:
            def __reduce__(self): return (_SrcToModule, (f"open({str(marker)!r}, 'w')",))
        obj = X()
    elif kind == 'unexpected_class':   # a network pickled without persistence: its class by module name
        class X:
            def __reduce__(self): return (_NetClass, ())
        obj = X()
    else: obj = dict(system=_System, eval=_Eval, subprocess=_Subprocess, storage=_StorageBomb)[kind](marker)
    where = 'state' if kind == 'system' else 'kwargs'
    recs = read_records(_pickle(path, TINY, 'stylegan3-t')[0])
    if where == 'state': recs['D'].state['hidden'] = obj                   # inside a record's state
    else: recs['training_set_kwargs'] = dict(path='data.zip', extra=obj)   # inside the plain part
    return _rewrite(recs, path, _Writer)

def _SrcToModule(src): raise RuntimeError('never called')
def _NetClass(): raise RuntimeError('never called')

class _Writer(_OfficialPickler):
    "Writes the stand-ins above under the names a hostile file would use."
    def save_global(self, obj, name=None):
        where = {_SrcToModule: ('torch_utils.persistence', '_src_to_module'), _NetClass: ('training.networks_stylegan3', 'Generator')}.get(obj)
        if where is None: return super().save_global(obj, name)
        self.save(where[0]); self.save(where[1]); self.write(pickle.STACK_GLOBAL); self.memoize(obj)
    dispatch = {**_OfficialPickler.dispatch, type(_SrcToModule): save_global}

HOSTILE = dict(source='its module source runs a statement when loaded', system='asks for the global posix.system', eval='asks for the global builtins.eval',
               subprocess='asks for the global subprocess.call', storage='a tensor storage holds more than numbers',
               src_to_module='asks for the global torch_utils.persistence._src_to_module', unexpected_class='asks for the global training.networks_stylegan3.Generator')

@pytest.mark.parametrize('kind', list(HOSTILE))
def test_hostile_pickle_is_refused_and_nothing_runs(tmp_path, kind):
    "Every hostile fixture is refused with a message naming the file and what it asked for; its marker file never appears (also not via gan.init)."
    marker = tmp_path/'marker'
    path = _hostile(kind, tmp_path/f'network-snapshot-000010.pkl', marker)
    with pytest.raises(OfficialPickleError) as e: load_official(path)
    assert str(path) in str(e.value) and HOSTILE[kind] in str(e.value) and 'Nothing in it was run' in str(e.value)
    with pytest.raises(OfficialPickleError): train_loop(tmp_path/'run', _imgs(), TINY, kimg=0.004, init=path, show_progress=False)
    assert not marker.exists()

@pytest.mark.parametrize('kind', ['system', 'eval', 'subprocess', 'source'])
def test_hostile_fixtures_are_live(tmp_path, kind):
    "The hostile fixtures really run code when opened the usual way (in a child process): plain pickle.load, or exec of the recorded source."
    marker = tmp_path/'marker'
    path = _hostile(kind, tmp_path/'h.pkl', marker)
    if kind == 'source':   # the source string the file carries, executed as torch_utils.persistence would
        src = load_official(path, allow_unusual_source=True)   # nothing runs here either ...
        assert src.G is not None and not marker.exists()
        code = "import sys; from ssgnet_nb.stylegan3.official import read_records; exec(read_records(sys.argv[1], allow_unusual_source=True)['G'].module_src, {})"
    else: code = textwrap.dedent('''
        import pickle, sys, types   # the file's own names, provided inertly (no source is run), so that loading reaches the payload
        for n in ('torch_utils', 'torch_utils.persistence', 'dnnlib', 'dnnlib.util'): sys.modules[n] = types.ModuleType(n)
        sys.modules['torch_utils.persistence']._reconstruct_persistent_obj, sys.modules['dnnlib.util'].EasyDict = (lambda meta: meta), dict
        pickle.load(open(sys.argv[1], 'rb'))''')
    subprocess.run([PY, '-c', code, str(path)], check=False, capture_output=True, timeout=120)
    assert marker.exists()   # ... while the usual way of opening it would have

def test_numpy_object_arrays_and_tf_pickles_are_refused(tmp_path):
    "numpy arrays of Python objects and TensorFlow-era pickles are refused with their own messages."
    (tmp_path/'o.pkl').write_bytes(pickle.dumps(dict(G=np.array([1, 'a'], dtype=object))))
    with pytest.raises(OfficialPickleError, match='holds Python objects'): read_records(tmp_path/'o.pkl')
    tf = b'\x80\x02cdnnlib.tflib.network\nNetwork\nq\x00.'   # protocol 2: GLOBAL dnnlib.tflib.network.Network
    (tmp_path/'tf.pkl').write_bytes(tf)
    with pytest.raises(OfficialPickleError, match='TensorFlow-era'): read_records(tmp_path/'tf.pkl')

# ---------------------------------------------------------------- transfer learning

def test_start_from_pickle_keeps_kimg_p_and_weights(tmp_path):
    "Defaults keep the pickle's kimg (file name) and p; the run's first networks are the pickle's; the summary and log say where it started."
    path, G, D = _pickle(tmp_path/'network-snapshot-000040.pkl', TINY, 'stylegan3-r', p=0.125)
    g = dict(TINY, cfg='stylegan3-r')
    s = train_loop(tmp_path/'run', _imgs(), g, kimg=0.004, init=path, show_progress=False, meta=dict(label='x'))
    assert (s['start_kimg'], s['nimg'], s['init_kind'], s['init_kimg'], s['init'], s['init_sha256']) == (40, 40_004, 'official stylegan3 pickle', 40, str(path), file_sha256(path))
    log = (tmp_path/'run'/'log.txt').read_text()
    assert 'official stylegan3 pickle' in log and '40 kimg there' in log and 'ADA p 0.1250' in log
    ck = load_checkpoint(snapshots(tmp_path/'run')[-1])
    assert json.loads(ck['init'])['kind'] == 'official stylegan3 pickle'
    s2 = train_loop(tmp_path/'run', _imgs(), g, kimg=0.008, init=path, show_progress=False)   # resumed: still knows where it started
    assert (s2['nimg'], s2['init_kind'], s2['start_kimg']) == (40_008, 'official stylegan3 pickle', 40)

def test_init_kimg_and_ada_p_reset(tmp_path):
    "init_kimg=0 starts the counter at 0 (first tick at one batch); init_ada_p=0 starts p at 0; a number sets them."
    path, _, _ = _pickle(tmp_path/'network-snapshot-000040.pkl', TINY, 'stylegan3-t', p=0.125)
    s = train_loop(tmp_path/'a', _imgs(), dict(TINY, init_kimg=0, init_ada_p=0, aug='fixed'), kimg=0.004, init=path, show_progress=False)
    m = RunDir(tmp_path/'a').metrics()
    assert (s['start_kimg'], s['nimg'], m[0]['nimg'], m[0]['p']) == (0, 4, 4, 0)
    s = train_loop(tmp_path/'b', _imgs(), dict(TINY, init_kimg=2.5, init_ada_p=0.3, aug='fixed'), kimg=0.004, init=path, show_progress=False)
    assert (s['start_kimg'], s['nimg'], s['p']) == (2.5, 2504, pytest.approx(0.3))

def test_init_ema_rampup_off(tmp_path):
    "init_ema_rampup=False: G_ema's first update uses the full half-life, not the ramp (which makes it a copy of G at counter 0)."
    path, _, _ = _pickle(tmp_path/'p.pkl', TINY, 'stylegan3-t')
    g = dict(TINY, init_kimg=0)
    train_loop(tmp_path/'on', _imgs(), g, kimg=0.004, init=path, show_progress=False)
    train_loop(tmp_path/'off', _imgs(), dict(g, init_ema_rampup=False), kimg=0.004, init=path, show_progress=False)
    on, off = RunDir(tmp_path/'on').metrics()[0]['ema_beta'], RunDir(tmp_path/'off').metrics()[0]['ema_beta']
    assert on == 0 and off == pytest.approx(0.5 ** (4 / (gan_config(g)['ema_kimg'] * 1000)))

def test_init_kimg_reset_from_kit_checkpoint(tmp_path):
    "A kit checkpoint as init with init_kimg=0: the counter restarts at 0, the networks are the checkpoint's."
    train_loop(tmp_path/'a', _imgs(), TINY, kimg=0.008, show_progress=False)
    ck = snapshots(tmp_path/'a')[-1]
    s = train_loop(tmp_path/'b', _imgs(), dict(TINY, init_kimg=0), kimg=0.004, init=ck, show_progress=False)
    assert (s['start_kimg'], s['nimg'], s['init_kind'], s['init_kimg']) == (0, 4, 'kit checkpoint', 0.008)

@pytest.mark.parametrize('n', [2, 4])
def test_freeze_d_keeps_layers_bit_identical(tmp_path, n):
    "Freeze-D: after fine-tuning from a pickle, D's first n layers equal the pickle's bit for bit; every other D parameter moved."
    path, _, D0 = _pickle(tmp_path/'p.pkl', TINY, 'stylegan3-t', seed=1)
    train_loop(tmp_path/'run', _imgs(), dict(TINY, freeze_d=n), kimg=0.012, init=path, show_progress=False)
    D1 = load_checkpoint(snapshots(tmp_path/'run')[-1])['D']
    layers = ['b16.fromrgb', 'b16.conv0', 'b16.conv1', 'b16.skip'][:n]
    params = [k for k, _ in D0.named_parameters()]
    frozen = [k for k in params if k.rsplit('.', 1)[0] in layers]
    assert frozen and all(torch.equal(D1[k], D0.state_dict()[k]) for k in frozen)
    assert all(not torch.equal(D1[k], D0.state_dict()[k]) for k in params if k not in frozen)
    assert f"Freeze-D: D's first {n} layers are frozen" in (tmp_path/'run'/'log.txt').read_text()
    with pytest.raises(ConfigError, match='D has 7 block layers'): train_loop(tmp_path/'x', _imgs(), dict(TINY, freeze_d=8), kimg=0.004, show_progress=False)

def test_mismatches_are_refused(tmp_path):
    "Resolution, architecture, channels (unless converting), conditional and non-default networks: refused with the keys to set."
    path, _, _ = _pickle(tmp_path/'p.pkl', TINY, 'stylegan3-r')
    with pytest.raises(TrainingError, match=r"resolution: 16 there, 32 here\); set gan.resolution=16 to train at its architecture \(networks are not resized"):
        init_state(path, gan_config(dict(TINY, cfg='stylegan3-r', resolution=32)), 3)
    with pytest.raises(TrainingError, match=r"cfg: 'stylegan3-r' there, 'stylegan3-t' here"): init_state(path, gan_config(TINY), 3)
    gr = gan_config(dict(TINY, cfg='stylegan3-r'))
    with pytest.raises(TrainingError, match=r"image channels: 3 there, 1 here \(gan.init_channels='convert'"): init_state(path, gr, 1)
    sd = init_state(path, dict(gr, init_channels='convert'), 1)
    assert sd['G']['synthesis.L14_16_1.weight'].shape[0] == 1 and sd['D']['b16.fromrgb.weight'].shape[1] == 1 and sd['opt_G'] is None
    G, D = _nets(TINY, 'stylegan3-t')
    for name, gk in (('c.pkl', dict(official_generator_kwargs(gan_config(TINY), 3), num_layers=10)),):
        Gx = Generator(**kit_generator_kwargs(gk))
        write_official_pickle(tmp_path/name, G=Gx, D=D, G_ema=Gx, G_kwargs=gk, D_kwargs=official_discriminator_kwargs(gan_config(TINY), 3))
        with pytest.raises(TrainingError, match=r"G was built with \{'num_layers': 10\}, the kit trains with the official defaults"): init_state(tmp_path/name, gan_config(TINY), 3)
    write_official_pickle(tmp_path/'noD.pkl', G=G, G_ema=G, G_kwargs=official_generator_kwargs(gan_config(TINY), 3))
    with pytest.raises(TrainingError, match='has no discriminator D'): init_state(tmp_path/'noD.pkl', gan_config(TINY), 3)

def test_gray_fine_tune_from_rgb_pickle(tmp_path):
    "init_channels='convert' fine-tunes a gray class from an RGB pickle: the first fakes are the RGB generator's channel mean."
    path, G, _ = _pickle(tmp_path/'p.pkl', TINY, 'stylegan3-t')
    gray = _imgs(c=1)
    s = train_loop(tmp_path/'run', gray, dict(TINY, init_channels='convert'), kimg=0.004, init=path, show_progress=False)
    assert s['nimg'] == 4 and s['init_kind'] == 'official stylegan3 pickle'
    sd = init_state(path, gan_config(dict(TINY, init_channels='convert')), 1)
    G1 = Generator(**kit_generator_kwargs(official_generator_kwargs(gan_config(TINY), 1))); G1.load_state_dict(sd['G_ema'])
    z = torch.randn(3, 8)
    with torch.no_grad(): assert (G1.eval()(z) - G(z).mean(1, keepdim=True)).abs().max() < 1e-5

# ---------------------------------------------------------------- pickles out

@pytest.mark.parametrize('cfg', ['stylegan3-t', 'stylegan3-r'])
def test_export_round_trip(tmp_path, cfg):
    "kit checkpoint -> export_official -> load_exported: same 64 px images (< 1e-4) and logits; the file is plain data in the official layout."
    G, D = _nets(G64, cfg)
    g = gan_config(dict(G64, cfg=cfg))
    st = dict(G=G.state_dict(), G_ema=G.state_dict(), D=D.state_dict(), aug_p=torch.tensor(0.2), cur_nimg=12_000, gan=json.dumps(g), img_channels=3)
    from ssgnet_nb.core import save_checkpoint
    ck = tmp_path/'network-snapshot-012000.pt'; save_checkpoint(st, ck)
    e = export_official(ck, tmp_path/'export.pt')
    raw = torch.load(e, weights_only=True)
    assert (raw['kimg'], raw['augment_p'], raw['G_class'], raw['source']['sha256']) == (12, pytest.approx(0.2), 'training.networks_stylegan3.Generator', file_sha256(ck))
    assert raw['D']['b64.resample_filter'].shape == (4, 4) and set(raw['G_ema']) == set(G.state_dict())
    import zipfile
    with zipfile.ZipFile(e) as zf: names = pickle_globals(zf.read(next(n for n in zf.namelist() if n.endswith('data.pkl'))))
    assert {m for m, _ in names} <= {'torch._utils', 'torch', 'collections'}, names   # tensors and dicts: no class of the kit or of anyone else
    nets = load_exported(e)
    z = torch.randn(2, 32, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        x0 = G(z); assert (nets["G_ema"](z) - x0).abs().max() < 1e-4 and x0.std() > 0.01
        assert torch.equal(nets['D'](x0), D(x0))
