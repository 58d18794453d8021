"VM-UNet (ssgnet_nb.vmunet): the selective scan against its reference (values and gradients), the 2-D scan, the network, its loss and normalisation, and the VMamba checkpoint import."
import collections, math, sys, types
from pathlib import Path
import numpy as np, pytest, torch, torch.nn.functional as F
from ssgnet_nb.core import SSGNetError, ConfigError
from ssgnet_nb import vmunet as V

@pytest.fixture(autouse=True, scope='module')
def _one_thread():   # a shared 2-core runner: small ops on 2 contended OpenMP threads cost ms each (a VM-UNet test took 50 s instead of 2)
    n = torch.get_num_threads(); torch.set_num_threads(1); yield; torch.set_num_threads(n)

def scan_inputs(b=2, d=6, L=37, n=4, g=2, dtype=torch.float64, seed=0, dscale=0.5, shift=-1.):
    "Random selective-scan arguments with A < 0 (as Mamba's A = -exp(A_log)); g=0: ungrouped [b, N, L] B and C."
    gen = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=gen, dtype=dtype)
    return dict(u=r(b, d, L), delta=r(b, d, L) * dscale + shift, A=-torch.rand(d, n, generator=gen, dtype=dtype) * 4 - 0.5,
                B=r(b, g, n, L) if g else r(b, n, L), C=r(b, g, n, L) if g else r(b, n, L), D=r(d), delta_bias=r(d) * 0.1)

def out_and_grads(f, kw, **opt):
    "Output of `f` and the gradients of sum(sin(y)) with respect to every tensor argument."
    kw = {k: v.detach().requires_grad_() if torch.is_tensor(v) else v for k, v in kw.items()}
    y = f(**kw, **opt)
    return [y] + list(torch.autograd.grad(y.sin().sum(), [v for v in kw.values() if torch.is_tensor(v)]))

def assert_all_close(got, want, atol):
    for i, (a, b) in enumerate(zip(got, want)):
        assert a.shape == b.shape, (i, a.shape, b.shape)
        torch.testing.assert_close(a, b, atol=atol, rtol=0, msg=lambda m: f"tensor {i} (0 = y, then grads): {m}")

# ---------------------------------------------------------------- selective scan
@pytest.mark.parametrize('g', [0, 1, 3])
@pytest.mark.parametrize('terms', ['all', 'none'])
@pytest.mark.parametrize('impl,chunk', [('steps', None), ('chunked', 4), ('chunked', 5), ('chunked', 64)])
def test_scan_equals_reference_float64(g, terms, impl, chunk):
    kw = scan_inputs(g=g)
    if terms == 'none': kw.update(D=None, delta_bias=None, delta_softplus=False, delta=kw['delta'].abs() * 0.3)
    assert_all_close(out_and_grads(V.selective_scan, kw, impl=impl, chunk=chunk), out_and_grads(V.selective_scan_ref, kw), atol=1e-10)

def test_reference_closed_form():
    "Leaky integrator with constant input: a geometric series that settles at the continuous steady state 1/a."
    a, dt, L = 2.0, 0.05, 200
    one = torch.ones(1, 1, L, dtype=torch.float64)
    y = V.selective_scan_ref(one, torch.full_like(one, dt), torch.tensor([[-a]], dtype=torch.float64), one[:, None], one[:, None], delta_softplus=False)
    t = torch.arange(L, dtype=torch.float64)
    torch.testing.assert_close(y[0, 0], dt * (1 - torch.exp(-a * dt * (t + 1))) / (1 - math.exp(-a * dt)))
    assert abs(y[0, 0, -1].item() - 1 / a) < a * dt / 2

def test_chunk_shrinks_for_strong_decay_and_stays_exact():
    kw = scan_inputs(L=64, dscale=6, shift=7)
    dt = V._step_size(kw['delta'], kw['delta_bias'], True)
    assert V._chunk_len(dt, kw['A'], 64) < 64
    assert V._chunk_len(dt.float(), kw['A'].float(), 64) < V._chunk_len(dt, kw['A'], 64)   # float32 allows less range
    assert_all_close(out_and_grads(V.selective_scan, kw, impl='chunked'), out_and_grads(V.selective_scan_ref, kw), atol=1e-9)
    for k in ('u', 'delta', 'A', 'B', 'C'): kw[k] = kw[k].float()
    kw.update(D=kw['D'].float(), delta_bias=kw['delta_bias'].float())
    y = V.selective_scan(**kw, impl='chunked')
    assert torch.isfinite(y).all()

@pytest.mark.parametrize('impl', ['steps', 'chunked'])
def test_scan_float32_tolerance(impl):
    "float32 fast scan vs float64 reference: max |dy| <= 1e-5 max |y| (the tolerance the notebook states)."
    kw = {k: v.float() for k, v in scan_inputs(b=2, d=8, L=256, n=16, g=4, seed=1).items()}
    y64 = V.selective_scan_ref(**{k: v.double() for k, v in kw.items()})
    y = V.selective_scan(**kw, impl=impl)
    assert y.dtype == torch.float32
    assert (y.double() - y64).abs().max() <= 1e-5 * y64.abs().max()

def test_scan_half_inputs_run_in_float32():
    kw = {k: v.bfloat16() for k, v in scan_inputs(seed=2).items()}
    y = V.selective_scan(**kw)
    assert y.dtype == torch.bfloat16
    y32 = V.selective_scan_ref(**{k: v.float() for k, v in kw.items()})
    assert (y.float() - y32).abs().max() <= 0.02 * y32.abs().max()

def test_scan_errors():
    kw = scan_inputs()
    with pytest.raises(ConfigError, match='unknown'): V.selective_scan(**kw, impl='fft')
    with pytest.raises(AssertionError, match='B must be'): V.selective_scan(**{**kw, 'B': kw['B'][..., :-1]})
    with pytest.raises(AssertionError, match='G dividing D'): V.selective_scan(**{**kw, 'B': torch.randn(2, 4, 4, 37, dtype=torch.float64), 'C': torch.randn(2, 4, 4, 37, dtype=torch.float64)})
    if V._mamba_kernel() is None:
        with pytest.raises(SSGNetError, match='needs the mamba_ssm package'): V.selective_scan(**kw, impl='mamba')

@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
@pytest.mark.parametrize('impl', ['steps', 'chunked'])
def test_scan_cuda_equals_reference(impl):
    kw = scan_inputs(b=2, d=8, L=300, n=16, g=4)
    want = out_and_grads(V.selective_scan_ref, kw)
    got = out_and_grads(V.selective_scan, {k: v.cuda() for k, v in kw.items()}, impl=impl, chunk=32)
    assert_all_close([t.cpu() for t in got], want, atol=1e-10)

@pytest.mark.skipif(V._mamba_kernel() is None or not torch.cuda.is_available(), reason='needs mamba_ssm and CUDA')
def test_scan_mamba_kernel_equals_reference():
    "mamba_ssm's kernel (float32) against the float64 reference and the chunked form, values and gradients."
    kw = {k: v.float().cuda() for k, v in scan_inputs(b=2, d=8, L=300, n=16, g=4).items()}
    ref = out_and_grads(V.selective_scan_ref, {k: v.double().cpu() for k, v in kw.items()})
    for impl in ('mamba', 'chunked'):
        got = out_and_grads(V.selective_scan, kw, impl=impl)
        for a, b in zip(got, ref): assert (a.double().cpu() - b).abs().max() <= 1e-4 * max(1., b.abs().max().item())

# ---------------------------------------------------------------- 2-D scan and layers
def test_cross_scan_orders_and_adjoint():
    o = V.cross_scan(torch.arange(6).view(1, 1, 2, 3))[0, :, 0].tolist()
    assert o == [[0, 1, 2, 3, 4, 5], [0, 3, 1, 4, 2, 5], [5, 4, 3, 2, 1, 0], [5, 2, 4, 1, 3, 0]]
    x, ys = torch.randn(2, 3, 4, 5, dtype=torch.float64), torch.randn(2, 4, 3, 20, dtype=torch.float64)
    torch.testing.assert_close((V.cross_scan(x) * ys).sum(), (x.flatten(2) * V.cross_merge(ys, 4, 5)).sum())
    torch.testing.assert_close(V.cross_merge(V.cross_scan(x), 4, 5), 4 * x.flatten(2))

def test_ss2d_fast_equals_reference_and_sees_everything():
    torch.manual_seed(0)
    ss = V.SS2D(8, d_state=4).double()
    x = torch.randn(2, 4, 6, 8, dtype=torch.float64)
    y = ss(x)
    assert y.shape == x.shape
    ss.impl = 'ref'; torch.testing.assert_close(ss(x), y); ss.impl = None
    x2 = x.clone(); x2[:, 0, 0] += 1                         # a corner token
    assert ((ss(x2) - y).abs().amax(-1) > 1e-9).all()

def test_patch_merging_order_and_expand_layout():
    t = torch.arange(16.).view(1, 4, 4, 1)
    pm = V.PatchMerging2D(1)
    with torch.no_grad(): pm.reduction.weight.zero_()
    seen = []
    pm.norm.register_forward_pre_hook(lambda m, a: seen.append(a[0]))
    pm(t)
    assert seen[0][0, 0, 1].tolist() == [2., 6., 3., 7.]     # (0,0) (1,0) (0,1) (1,1) of the 2x2 block at (0, 1)
    y = V._to_neighbourhood(torch.arange(8.).view(1, 1, 1, 8), 2)
    assert y[0, :, :, 0].tolist() == [[0., 2.], [4., 6.]] and y[0, :, :, 1].tolist() == [[1., 3.], [5., 7.]]

# ---------------------------------------------------------------- network
def test_paper_parameter_count_matches_the_published_figure():
    n = V.count_params(V.vmunet_model('paper'))
    assert n == 27_427_561                                   # what the official VM-UNet code builds with 1 output channel
    assert abs(n / V.VMUNET_PAPER_PARAMS - 1) < 0.01

def test_presets_shapes_and_errors():
    torch.manual_seed(0)
    net = V.vmunet_model('tiny')
    out = net(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 1, 32, 32)
    out.mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    assert V.vmunet_model('cpu', in_chans=3, num_classes=2)(torch.randn(1, 1, 64, 64)).shape == (1, 2, 64, 64)
    assert V.count_params(V.vmunet_model("cpu")) < 27_427_561 / 10
    assert V.vmunet_model('cpu', drop_path=0.).layers[3].blocks[1].drop_path.p == 0.
    with pytest.raises(AssertionError, match='multiples of 32'): net(torch.randn(1, 3, 48, 48))
    with pytest.raises(ConfigError, match="preset 'huge' is unknown"): V.vmunet_model('huge')
    assert {'paper', 'cpu'} <= set(V.VMUNET_PRESETS) and len(V.VMUNET_PRESETS) >= 3

def test_tiny_model_learns_a_fixed_batch():
    "A few AdamW steps with the VM-UNet loss lower it on one batch (gradients reach every part)."
    from ssgnet_nb.segmentation import SegLoss
    torch.manual_seed(0)
    net, loss = V.vmunet_model('tiny'), SegLoss(V.VMUNET_LOSS)
    x = torch.randn(4, 3, 32, 32); y = (x[:, 0] > 0.3).float()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-2)
    losses = []
    for _ in range(6):
        opt.zero_grad(); l = loss(net(x), y); l.backward(); opt.step(); losses.append(l.item())
    assert losses[-1] < losses[0] - 0.05, losses

def test_loss_is_vmunets_bce_dice():
    from ssgnet_nb.segmentation import SegLoss
    g = torch.Generator().manual_seed(1)
    logits, y = torch.randn(3, 1, 8, 8, generator=g) * 2, (torch.rand(3, 8, 8, generator=g) > 0.5).float()
    p = torch.sigmoid(logits).reshape(3, -1); t = y.reshape(3, -1)
    want = F.binary_cross_entropy(p, t) + 1 - ((2 * (p * t).sum(1) + 1) / (p.sum(1) + t.sum(1) + 1)).mean()
    torch.testing.assert_close(SegLoss(V.VMUNET_LOSS)(logits, y), want)

def test_normalisation():
    rng = np.random.default_rng(0)
    imgs = rng.integers(10, 240, (3, 6, 6, 3), dtype=np.uint8)
    x = V.vmunet_normalize(imgs, 'isic2017', 'train')
    assert x.shape == (3, 3, 6, 6) and x.dtype == torch.float32
    torch.testing.assert_close(x.amin((1, 2, 3)), torch.zeros(3), atol=1e-3, rtol=0)
    torch.testing.assert_close(x.amax((1, 2, 3)), torch.full((3,), 255.), atol=1e-3, rtol=0)
    for ds in ('isic2018', 'cbis_ddsm', 'kvasir', 'demo'): torch.testing.assert_close(V.vmunet_normalize(imgs, ds, 'val'), x, atol=1e-3, rtol=0)
    assert set(V.VMUNET_NORM) == {'isic2017', 'isic2018', 'cbis_ddsm', 'kvasir'} and all(set(v) == {'train', 'val'} for v in V.VMUNET_NORM.values())
    with pytest.raises(ConfigError, match="split 'valid' is unknown"): V.vmunet_normalize(imgs, 'kvasir', 'valid')

# ---------------------------------------------------------------- VMamba checkpoint import
def official_vmamba_first_release(dims, depths, d_state=16, num_classes=1000, seed=0):
    "State dict named and shaped as VMamba's first ImageNet release (Jan 2024; e.g. vmamba_small_e238_ema.pth), random values."
    g = torch.Generator().manual_seed(seed)
    shapes = {'patch_embed.proj.weight': (dims[0], 3, 4, 4), 'patch_embed.proj.bias': (dims[0],),
              'patch_embed.norm.weight': (dims[0],), 'patch_embed.norm.bias': (dims[0],)}
    for i, (c, depth) in enumerate(zip(dims, depths)):
        di, R = 2 * c, math.ceil(c / 16)
        for j in range(depth):
            p = f'layers.{i}.blocks.{j}.'
            shapes.update({p + 'ln_1.weight': (c,), p + 'ln_1.bias': (c,),
                           p + 'self_attention.in_proj.weight': (2 * di, c), p + 'self_attention.conv2d.weight': (di, 1, 3, 3),
                           p + 'self_attention.conv2d.bias': (di,), p + 'self_attention.x_proj_weight': (4, R + 2 * d_state, di),
                           p + 'self_attention.dt_projs_weight': (4, di, R), p + 'self_attention.dt_projs_bias': (4, di),
                           p + 'self_attention.A_logs': (4 * di, d_state), p + 'self_attention.Ds': (4 * di,),
                           p + 'self_attention.out_norm.weight': (di,), p + 'self_attention.out_norm.bias': (di,),
                           p + 'self_attention.out_proj.weight': (c, di)})
        if i < len(dims) - 1:
            shapes.update({f'layers.{i}.downsample.norm.weight': (4 * c,), f'layers.{i}.downsample.norm.bias': (4 * c,),
                           f'layers.{i}.downsample.reduction.weight': (2 * c, 4 * c)})
    shapes.update({'norm.weight': (dims[-1],), 'norm.bias': (dims[-1],), 'head.weight': (num_classes, dims[-1]), 'head.bias': (num_classes,)})
    return {k: torch.randn(s, generator=g) for k, s in shapes.items()}

def to_later_names(sd):
    "The same weights under VMamba's later module names (norm/op in blocks, patch_embed as a Sequential)."
    ren = lambda k: k.replace('patch_embed.proj.', 'patch_embed.0.').replace('patch_embed.norm.', 'patch_embed.2.').replace('.ln_1.', '.norm.').replace('.self_attention.', '.op.')
    return {ren(k): v for k, v in sd.items()}

TINY = V.VMUNET_PRESETS['tiny']

@pytest.mark.parametrize('names', ['first', 'later'])
def test_load_vmamba_encoder(tmp_path, names):
    sd = official_vmamba_first_release(TINY['dims'], (2, 2, 4, 2), TINY['d_state'])
    f = tmp_path / 'vmamba.pth'
    torch.save({'model': sd if names == 'first' else to_later_names(sd), 'epoch': 238}, f)
    net = V.vmunet_model('tiny')
    rep = V.load_vmamba_encoder(net, f)
    own = net.state_dict()
    for k, v in sd.items():
        if k in own: assert torch.equal(own[k], v), k
    enc = [k for k in own if k.startswith(('patch_embed.', 'layers.'))]
    assert rep['encoder'] == len(enc) and not rep['mismatched']
    # decoder stage 3 - i starts from encoder stage i's blocks, as VM-UNet does
    assert torch.equal(own['layers_up.3.blocks.0.self_attention.x_proj_weight'], sd['layers.0.blocks.0.self_attention.x_proj_weight'])
    assert torch.equal(own['layers_up.0.blocks.0.ln_1.weight'], sd['layers.3.blocks.0.ln_1.weight'])
    assert rep['decoder'] == sum(k.startswith('layers_up.') and '.blocks.' in k for k in own)
    assert {'final_conv.weight', 'final_up.expand.weight', 'layers_up.1.upsample.expand.weight'} <= set(rep['missing'])
    unused = set(rep['unused'])
    assert {'head.weight', 'norm.bias'} <= {k.replace('.op.', '.self_attention.') for k in unused} | unused
    assert any('layers.2.blocks.3.' in k for k in unused) and not any(k.startswith('patch_embed') for k in unused)
    net2 = V.vmunet_model('tiny')
    V.load_vmamba_encoder(net2, f, decoder=False)
    assert not torch.equal(net2.state_dict()['layers_up.3.blocks.0.self_attention.x_proj_weight'], sd['layers.0.blocks.0.self_attention.x_proj_weight'])

def test_load_vmamba_checkpoint_with_training_state(tmp_path, monkeypatch):
    "A checkpoint as VMamba's training script saves it (yacs config, numpy scalars beside the weights) loads."
    class CfgNode(dict):
        def __init__(self, d=None):
            super().__init__(d or {}); self.__dict__['__immutable__'] = False; self.__dict__['__deprecated_keys__'] = set()
    yacs, cfgmod = types.ModuleType('yacs'), types.ModuleType('yacs.config')
    cfgmod.CfgNode = CfgNode; CfgNode.__module__, CfgNode.__qualname__ = 'yacs.config', 'CfgNode'
    monkeypatch.setitem(sys.modules, 'yacs', yacs); monkeypatch.setitem(sys.modules, 'yacs.config', cfgmod)
    sd = official_vmamba_first_release(TINY['dims'], (1, 1, 1, 1), TINY['d_state'])
    f = tmp_path / 'vmamba_small_e238_ema.pth'
    torch.save({'model': sd, 'model_ema': sd, 'config': CfgNode({'MODEL': CfgNode({'NAME': 'vssm'})}), 'max_accuracy': np.float64(83.5), 'epoch': 238}, f)
    monkeypatch.delitem(sys.modules, 'yacs.config'); monkeypatch.delitem(sys.modules, 'yacs')   # as on a machine without yacs
    rep = V.load_vmamba_encoder(V.vmunet_model('tiny'), f)
    assert rep['encoder'] == len([k for k in sd if not k.startswith(('norm.', 'head.'))])

def test_load_vmamba_never_runs_code_in_the_file(tmp_path):
    "A pickle that would call a function on load (here: create a file) is refused and nothing runs."
    marker = tmp_path / 'ran'
    class Trap:
        def __reduce__(self): return (Path.touch, (marker,))
    sd = official_vmamba_first_release(TINY['dims'], (1, 1, 1, 1), TINY['d_state'])
    torch.save({'model': sd, 'trap': Trap()}, tmp_path / 'trap.pth')
    with pytest.raises(SSGNetError, match='holds objects a weights-only load cannot read') as e: V.load_vmamba_encoder(V.vmunet_model('tiny'), tmp_path / 'trap.pth')
    assert not marker.exists() and 'weights_only=False' not in str(e.value)

def test_load_vmamba_refuses_wrong_files(tmp_path):
    torch.save({'model': {'fc.weight': torch.zeros(2, 2)}}, tmp_path / 'resnet.pth')
    with pytest.raises(SSGNetError, match=r'resnet\.pth: none of its 1 tensors fits'): V.load_vmamba_encoder(V.vmunet_model('tiny'), tmp_path / 'resnet.pth')
    torch.save({'model': official_vmamba_first_release(TINY['dims'], (1, 1, 1, 1), TINY['d_state'])}, tmp_path / 'tiny.pth')
    with pytest.raises(SSGNetError, match=r'widths \(24, 48, 96, 192\).*preset') as e: V.load_vmamba_encoder(V.vmunet_model('cpu'), tmp_path / 'tiny.pth')
    assert 'weights_only=False' not in str(e.value)
    torch.save([torch.zeros(1)], tmp_path / 'list.pth')
    with pytest.raises(SSGNetError, match="expected a dict holding the weights under 'model'"): V.load_vmamba_encoder(V.vmunet_model('tiny'), tmp_path / 'list.pth')
    (tmp_path / 'junk.pth').write_bytes(b'not a checkpoint')
    with pytest.raises(SSGNetError, match='not a readable torch checkpoint'): V.load_vmamba_encoder(V.vmunet_model('tiny'), tmp_path / 'junk.pth')
    with pytest.raises(SSGNetError, match='does not exist'): V.load_vmamba_encoder(V.vmunet_model('tiny'), tmp_path / 'nope.pth')

def _small_discs(n=8, s=32, seed=0, contrast=50.):
    "Gray uint8 images [n, s, s, 3] of noise (mean 80, std 30) with a disc `contrast` brighter (radius 3-5 px, ~5 % of the pixels); masks = the discs."
    r = np.random.default_rng(seed); yy, xx = np.mgrid[:s, :s]
    X, M = np.zeros((n, s, s, 3), np.uint8), np.zeros((n, s, s), np.uint8)
    for i in range(n):
        (cy, cx), rad = r.uniform(6, s - 6, 2), r.uniform(3, 5)
        m = (yy - cy)**2 + (xx - cx)**2 <= rad**2
        img = r.normal(80, 30, (s, s)); img[m] += contrast
        X[i], M[i] = np.clip(img, 0, 255).astype(np.uint8)[..., None], m
    return X, M

def test_tiny_model_learns_beyond_the_prior_through_train_model():
    "Regression: with a small foreground (~5 %) the head's logit range (|w| sqrt(C) after the last LayerNorm) must not pin VM-UNet to the constant prior (the demo's Dice 0)."
    from ssgnet_nb.segmentation import SegLoss, SegSet, train_model, predict
    X, M = _small_discs()
    torch.manual_seed(0)
    net, loss = V.vmunet_model('tiny'), SegLoss(V.VMUNET_LOSS)
    f = M.mean()                                                        # the best constant predictor: p = f everywhere
    prior = loss(torch.full((len(M), 1) + M.shape[1:], math.log(f / (1 - f))), torch.as_tensor(M, dtype=torch.float32)).item()
    h = train_model(net, loss, SegSet(X, M.astype(np.float32)), dict(images=X, masks=M), dict(segmentation=dict(batch=8, epochs=30, lr=1e-3)), log=lambda s: None)
    last = h['history'][-1]['train_loss']
    pred = predict(net, X) >= 0.5
    dice = 2 * (pred & (M > 0)).sum() / (pred.sum() + M.sum())
    assert last < 0.75 * prior, f"train loss {last:.3f} stays near the constant-prior loss {prior:.3f}"
    assert dice > 0.5, dice
