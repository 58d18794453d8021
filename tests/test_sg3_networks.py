"""StyleGAN3 networks: schedule, filters, fast vs reference resampling, shapes, modulation, equivariance (spec §16).

Every test is CPU-only and uses tiny channel counts; the EQ tests use the tiny 64 px config of spec §16.7.
"""
import math, numpy as np, pytest, scipy.signal, torch
from ssgnet_nb.stylegan3.filters import design_lowpass, stopband_atten, upfirdn2d_ref, upfirdn2d_fast, filtered_lrelu
from ssgnet_nb.stylegan3.networks import (Generator, Discriminator, MappingNetwork, sg3_schedule, modulate_weights, modulated_conv2d,
                                          layer_shapes, summary_table)
from ssgnet_nb.stylegan3.equivariance import eq_metrics, translate_image

torch.set_flush_denormal(True)

@pytest.fixture(autouse=True, scope='module')
def _one_thread():
    "One torch thread for this module: on a shared 2-core runner, small ops with 2 contended OpenMP threads cost ms each."
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

@pytest.fixture(params=['gemm', 'c'])
def kernel(request, monkeypatch):
    "Run a test with each node of the fast filtered lrelu: the chunked GEMM one and the compiled C kernel (skipped without a C compiler)."
    import ssgnet_nb.stylegan3.filters as fl
    if request.param == 'c' and fl.flrelu_kernel(torch.float64) is None: pytest.skip(f'no C kernel here: {fl._ERRS}')
    monkeypatch.setattr(fl, 'FAST_KERNEL', request.param)
    return request.param

TINY = dict(z_dim=64, w_dim=64, img_resolution=64, img_channels=3, channel_base=2048, channel_max=64)

def tiny(seed=0, **kw):
    torch.manual_seed(seed)
    return Generator(**{**TINY, **kw}).eval().requires_grad_(False)

# ---------------------------------------------------------------- schedule (§16.1)
def test_schedule_256_matches_spec():
    s = sg3_schedule(256)
    assert list(s['size']) == [36, 36, 36, 52, 52, 84, 84, 148, 148, 148, 276, 276, 276, 256, 256]
    assert list(s['channels']) == [512] * 9 + [362, 256, 181, 128, 128, 3]
    assert list(s['s']) == [16, 16, 16, 32, 32, 64, 64, 128, 128, 128, 256, 256, 256, 256, 256]
    np.testing.assert_allclose(s.f_c[[0, 12, 13, 14]], [2, 128, 128, 128])
    np.testing.assert_allclose(s.f_t[[0, 14]], [2 ** 2.1, 128 * 2 ** 0.3])
    assert (np.diff(s.s) >= 0).all() and (s.s >= 2 * s.f_c - 1e-9).all()
    np.testing.assert_allclose(s.f_h, np.maximum(s.f_t, s.s / 2) - s.f_c)

def test_schedule_64_matches_spec():
    s = sg3_schedule(64, channel_base=2048, channel_max=64)
    assert list(s['s']) == [16] * 4 + [32] * 4 + [64] * 7
    assert list(s['size']) == [36] * 4 + [52] * 4 + [84] * 5 + [64, 64]
    assert list(s['channels']) == [64] * 10 + [51, 40, 32, 32, 3]
    assert (np.diff(s.s) >= 0).all() and (s.s >= 2 * s.f_c - 1e-9).all()

# ---------------------------------------------------------------- filters (§16.2)
@pytest.mark.parametrize('R', [64, 256])
def test_layer_filters_taps_sum_stopband(R):
    G = Generator(z_dim=8, w_dim=8, img_resolution=R, channel_base=1024 if R == 256 else 2048, channel_max=4)
    atts = []
    for n in G.synthesis.layer_names:
        l = getattr(G.synthesis, n)
        for f, factor, taps, fc, fh in [(l.up_filter, l.up_factor, l.up_taps, l.in_cutoff, l.in_half_width),
                                        (l.down_filter, l.down_factor, l.down_taps, l.out_cutoff, l.out_half_width)]:
            if l.is_torgb or factor == 1: assert f is None and taps == 1; continue
            assert taps == 6 * factor and f.shape == (taps,)
            assert abs(float(f.sum()) - 1) < 1e-6
            est = scipy.signal.kaiser_atten(taps, 2 * fh / (l.tmp_sampling_rate / 2))
            att = stopband_atten(f, fc, fh, l.tmp_sampling_rate)
            # the Kaiser formula is an empirical fit: for 12-24 taps the measured stopband lies within 6 dB of it
            assert abs(att - est) <= 6.0, (n, att, est)
            # and the taps are exactly a Kaiser-windowed sinc with the beta the formula prescribes
            beta = scipy.signal.kaiser_beta(est)
            t = np.arange(taps) - (taps - 1) / 2
            h = np.sinc(2 * fc / l.tmp_sampling_rate * t) * np.kaiser(taps, beta); h /= h.sum()
            np.testing.assert_allclose(f.numpy(), h, atol=1e-6)
            atts.append(att)
    assert 60 < atts[0] < 65 and 24 < min(atts) < 30   # spec §16.2: ~62 dB in L0, 25-30 dB in the critically sampled layers

def test_radial_filter_symmetric_and_normalised():
    f = design_lowpass(12, cutoff=5, width=6, fs=32, radial=True)
    assert f.shape == (12, 12) and abs(float(f.sum()) - 1) < 1e-5
    torch.testing.assert_close(f, f.T); torch.testing.assert_close(f, f.rot90(1, (0, 1)))
    G = Generator(z_dim=8, w_dim=8, img_resolution=32, channel_base=1024, channel_max=4, cfg='stylegan3-r')
    radial = [getattr(G.synthesis, n).down_filter.ndim == 2 for n in G.synthesis.layer_names[:-1]]
    assert radial == [True] * 12 + [False] * 2    # the critically sampled L12, L13 (and ToRGB) keep separable filters

# ---------------------------------------------------------------- resampling (§16.3)
def test_upfirdn_matches_scipy_row():
    x = torch.randn(1, 1, 1, 11, dtype=torch.float64)
    f = design_lowpass(24, 3, 3, 64).double()
    ys = scipy.signal.upfirdn(f.numpy(), x[0, 0, 0].numpy(), up=4)
    y = upfirdn2d_ref(x, f[None], up=4, padding=(23, 23, 0, 0))        # a [1, 24] 2-D filter filters along W only
    np.testing.assert_allclose(y[0, 0, 0, :len(ys)].numpy(), ys, atol=1e-12)

def _layer_io(l, B=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, l.in_channels, int(l.in_size[1]), int(l.in_size[0]), generator=g)
    return x, torch.randn(B, l.affine.in_features, generator=g)

@pytest.mark.parametrize('R,cfg', [(32, 'stylegan3-t'), (64, 'stylegan3-t'), (256, 'stylegan3-t'), (64, 'stylegan3-r')])
def test_fast_equals_reference_on_every_layer(R, cfg, kernel):
    torch.manual_seed(0)
    G = Generator(z_dim=8, w_dim=8, img_resolution=R, cfg=cfg, channel_base=1024 if R == 256 else 256, channel_max=4 if R == 256 else 8).requires_grad_(False)
    for n in G.synthesis.layer_names:
        l = getattr(G.synthesis, n)
        x, w = _layer_io(l, B=1 if R == 256 else 2)
        yr, yf = l(x, w, impl='ref'), l(x, w, impl='fast')
        assert yf.shape == yr.shape == (x.shape[0], l.out_channels, int(l.out_size[1]), int(l.out_size[0]))
        err = float((yf - yr).abs().max()) / max(float(yr.abs().max()), 1e-6)
        assert err < 2e-5, (n, err)

@pytest.mark.parametrize('cfg', ['stylegan3-t', 'stylegan3-r'])
def test_fast_equals_reference_float64_filtered_lrelu(kernel, cfg):
    torch.manual_seed(1)
    G = Generator(z_dim=8, w_dim=8, img_resolution=32, channel_base=256, channel_max=2, cfg=cfg)
    for n in G.synthesis.layer_names:
        l = getattr(G.synthesis, n)
        x = torch.randn(1, l.out_channels, int(l.in_size[1]) + l.conv_kernel - 1, int(l.in_size[0]) + l.conv_kernel - 1, dtype=torch.float64) * 3
        kw = dict(fu=None if l.up_filter is None else l.up_filter.double(), fd=None if l.down_filter is None else l.down_filter.double(),
                  b=torch.randn(l.out_channels, dtype=torch.float64), up=l.up_factor, down=l.down_factor, padding=l.padding,
                  gain=1 if l.is_torgb else math.sqrt(2), slope=1 if l.is_torgb else 0.2, clamp=2.0)   # small clamp: exercises clamping
        torch.testing.assert_close(filtered_lrelu(x, impl='fast', **kw), filtered_lrelu(x, impl='ref', **kw), atol=1e-10, rtol=1e-10)

@pytest.mark.parametrize('tile', [1, 3, 5])
def test_fast_tiling_any_tile_size_equals_reference(monkeypatch, tile):
    import ssgnet_nb.stylegan3.filters as fl
    monkeypatch.setattr(fl, 'TILE_OUT', {k: tile for k in fl.TILE_OUT})   # tiles that do not divide the canvases
    monkeypatch.setattr(fl, 'FAST_KERNEL', 'gemm')                        # the tiles belong to the GEMM node
    torch.manual_seed(2)
    G = Generator(z_dim=8, w_dim=8, img_resolution=32, channel_base=256, channel_max=4).requires_grad_(False)
    for n in G.synthesis.layer_names:
        l = getattr(G.synthesis, n)
        x, w = _layer_io(l, B=2)
        yr, yf = l(x, w, impl='ref'), l(x, w, impl='fast')
        assert float((yf - yr).abs().max()) <= 2e-5 * max(float(yr.abs().max()), 1e-6), n

@pytest.mark.parametrize('cfg', ['stylegan3-t', 'stylegan3-r'])
def test_fast_gradients_equal_reference_every_layer(kernel, cfg):
    "fwd+bwd of every synthesis layer (fused autograd node, non-fused modulated conv, deferred demodulation; config R's radial filters) against the reference, in float64."
    torch.manual_seed(3)
    G = Generator(z_dim=8, w_dim=8, img_resolution=32, channel_base=256, channel_max=4, cfg=cfg).double()
    for n in G.synthesis.layer_names:
        l = getattr(G.synthesis, n)
        x, w = _layer_io(l, B=2)
        x, w = x.double().requires_grad_(True), w.double()
        gy = torch.randn(2, l.out_channels, int(l.out_size[1]), int(l.out_size[0]), dtype=torch.float64)
        grads = {}
        for impl in ('ref', 'fast'):
            l.zero_grad(set_to_none=True)
            y = l(x, w, impl=impl)
            grads[impl] = [y] + list(torch.autograd.grad(y, [x, l.weight, l.bias, l.affine.weight], gy))
        for a, b in zip(grads['fast'], grads['ref']): torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-9)

def test_scaled_filtered_lrelu_and_no_grad_forward():
    "The per-plane input scale (deferred demodulation) and its gradient equal the reference's; without gradients (no derivative bits kept) the output is the same."
    import ssgnet_nb.stylegan3.filters as fl
    if fl.flrelu_kernel(torch.float64) is None: pytest.skip('no C kernel here')
    g = torch.Generator().manual_seed(6)
    fu, fr = design_lowpass(12, 4, 4, 32).double(), design_lowpass(12, 5, 4, 32, radial=True).double()
    for fd in (fu, fr):
        kw = dict(fu=fu, fd=fd, up=2, down=2, padding=(9, 8, 9, 8), clamp=1.0)
        x, b, s = torch.randn(2, 3, 38, 38, dtype=torch.float64, generator=g), torch.randn(3, dtype=torch.float64, generator=g), torch.rand(2, 3, dtype=torch.float64, generator=g) + 0.5
        out = {}
        for impl in ('ref', 'fast'):
            xx, bb, ss = (t.clone().requires_grad_(True) for t in (x, b, s))
            y = filtered_lrelu(xx, b=bb, s=ss, impl=impl, **kw)
            out[impl] = [y.detach(), *torch.autograd.grad(y, (xx, bb, ss), torch.ones_like(y))]
        for a, r in zip(out['fast'], out['ref']): torch.testing.assert_close(a, r, atol=1e-10, rtol=1e-10)
        with torch.no_grad(): assert torch.equal(filtered_lrelu(x, b=b, s=s, **kw), out['fast'][0])

@pytest.mark.parametrize('cfg', ['stylegan3-t', 'stylegan3-r'])
def test_bfloat16_kernel_within_stated_tolerance(cfg):
    "The kernel's bfloat16 variant on every layer: output and gradients within 1e-2 of the largest value of the float64 reference on the same rounded input."
    import ssgnet_nb.stylegan3.filters as fl
    if fl.flrelu_kernel(torch.bfloat16) is None: pytest.skip('no C kernel here')
    torch.manual_seed(7)
    G = Generator(z_dim=8, w_dim=8, img_resolution=64, cfg=cfg, channel_base=256, channel_max=4)
    for n in G.synthesis.layer_names[:-1]:
        l = getattr(G.synthesis, n)
        x = (torch.randn(2, l.out_channels, int(l.in_size[1]) + l.conv_kernel - 1, int(l.in_size[0]) + l.conv_kernel - 1) * 3).bfloat16()
        b, s = torch.randn(l.out_channels), torch.rand(2, l.out_channels) + 0.5
        kw = dict(up=l.up_factor, down=l.down_factor, padding=l.padding, clamp=256)
        out = {}
        for name, xi, bi, si, f in (('bf16', x, b, s, torch.float32), ('ref', x.double(), b.double(), s.double(), torch.float64)):
            xx, bb, ss = (t.clone().requires_grad_(True) for t in (xi, bi, si))
            y = filtered_lrelu(xx, l.up_filter.to(f), l.down_filter.to(f), bb, s=ss, impl='fast' if name == 'bf16' else 'ref', **kw)
            if name == 'bf16': assert y.dtype == torch.bfloat16
            gy = torch.ones_like(y)
            out[name] = [t.double() for t in (y.detach(), *torch.autograd.grad(y, (xx, bb, ss), gy))]
        for a, r in zip(out['bf16'], out['ref']): assert float((a - r).abs().max()) <= 1e-2 * float(r.abs().max()), (n, float((a - r).abs().max() / r.abs().max()))

@pytest.mark.parametrize('cfg', ['stylegan3-t', 'stylegan3-r'])
def test_bfloat16_autocast_generator_close_to_float32(cfg):
    "G and a G step through D under CPU bfloat16 autocast: images within 5% rms of float32's, gradients with cosine similarity > 0.95, w in float32."
    torch.manual_seed(8)
    G, D = tiny(cfg=cfg).requires_grad_(True), Discriminator(img_resolution=64, img_channels=3, channel_base=2048, channel_max=64)
    z = torch.randn(4, 64)
    rms = lambda t: float(t.float().square().mean().sqrt())
    with torch.no_grad():
        a = G(z)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            assert G.mapping(z).dtype == torch.float32
            b = G(z, update_emas=True)   # w_avg and the magnitude EMAs update in float32
    assert rms(b.float() - a) <= 0.05 * rms(a), rms(b.float() - a) / rms(a)
    def grads(bf16):
        G.zero_grad(set_to_none=True)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16): loss = torch.nn.functional.softplus(-D(G(z)).float()).mean()
        loss.backward()
        return torch.cat([p.grad.flatten() for p in G.parameters()])
    g32, g16 = grads(False), grads(True)
    assert torch.isfinite(g16).all() and torch.nn.functional.cosine_similarity(g16, g32, dim=0) > 0.95

def test_r1_through_fast_discriminator_equals_reference():
    "R1 differentiates D twice; the fast resampling's backward is itself differentiable."
    from ssgnet_nb.stylegan3.training import r1_penalty
    torch.manual_seed(4)
    D = Discriminator(img_resolution=16, img_channels=3, channel_base=128, channel_max=8).double()
    x = torch.randn(4, 3, 16, 16, dtype=torch.float64)
    gs = {}
    for impl in ('ref', 'fast'):
        pen, _ = r1_penalty(lambda v: D(v, impl=impl), x)
        gs[impl] = [pen] + [torch.zeros(()) if g is None else g for g in torch.autograd.grad(pen.sum(), list(D.parameters()), allow_unused=True)]
    for a, b in zip(gs['fast'], gs['ref']): torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-9)

def test_identity_filter_up_down_returns_input():
    x = torch.randn(2, 3, 9, 9)
    assert torch.equal(upfirdn2d_ref(x, None, up=2, down=2), x) and torch.equal(upfirdn2d_fast(x, None, up=2, down=2), x)

# ---------------------------------------------------------------- shapes (§16.4)
@pytest.mark.parametrize('R', [32, 64])
def test_per_layer_shapes(R):
    G = tiny(img_resolution=R)
    sch = G.synthesis.schedule
    shp = layer_shapes(G)
    assert len(shp) == 16 and G.num_ws == 16 and G.mapping.num_ws == 16
    for i, (n, s) in enumerate(list(shp.items())[1:]):
        assert s == (1, int(sch.channels[i]), int(sch['size'][i]), int(sch['size'][i])), n
    assert shp['input'] == (1, 64, 36, 36)
    out = G(torch.randn(2, 64))
    assert out.shape == (2, 3, R, R) and torch.isfinite(out).all()

def test_summary_table_and_extra_repr():
    G = tiny()
    t = summary_table(G)
    assert int(t.loc['total', 'params']) == sum(p.numel() for p in G.parameters())
    assert list(t.loc['L8_84_64', ['canvas', 'channels', 's']]) == [84, 64, 64]
    r = repr(G.synthesis.L4_52_64)
    assert 'in_sampling_rate=16' in r and 'out_sampling_rate=32' in r and 'up=4x24 taps' in r and 'out_size=[52, 52]' in r

# ---------------------------------------------------------------- modulation (§16.5)
def test_demodulated_weights_unit_norm_and_style_scale_invariance():
    G = tiny()
    l = G.synthesis.L5_52_64
    s = torch.randn(4, l.in_channels)
    w = modulate_weights(l.weight, s)
    torch.testing.assert_close(w.square().sum([2, 3, 4]), torch.ones(4, l.out_channels), atol=1e-5, rtol=0)
    x = torch.randn(4, l.in_channels, 52, 52)
    torch.testing.assert_close(modulated_conv2d(x, l.weight, s * 5.7, padding=2), modulated_conv2d(x, l.weight, s, padding=2), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(modulated_conv2d(x, l.weight, s, padding=2, fused=False), modulated_conv2d(x, l.weight, s, padding=2), atol=1e-4, rtol=1e-4)
    # the same through a whole layer: scaling the style affine leaves the layer output unchanged
    xx, ww = _layer_io(l, B=2)
    y0 = l(xx, ww)
    l.affine.weight.mul_(3.0); l.affine.bias.mul_(3.0)
    torch.testing.assert_close(l(xx, ww), y0, atol=1e-4, rtol=1e-4)

# ---------------------------------------------------------------- Fourier input (§16.6)
def test_fourier_input_identity_at_init():
    G = tiny()
    inp = G.synthesis.input
    w = G.mapping(torch.randn(5, 64))[:, 0]
    torch.testing.assert_close(inp.affine(w), torch.tensor([[1., 0, 0, 0]]).expand(5, 4))
    assert (inp.freqs.norm(dim=1) <= inp.bandwidth + 1e-6).all()
    x = inp(w)
    # with the channel mixing set to the identity, the features are the raw sinusoids: amplitude exactly 1
    C, S, s = inp.channels, int(inp.size[0]), inp.sampling_rate
    g = (torch.arange(S) + 0.5 - S / 2) / s
    ref = torch.sin(2 * math.pi * (g[None, None, :] * inp.freqs[:, 0, None, None] + g[None, :, None] * inp.freqs[:, 1, None, None] + inp.phases[:, None, None]))
    wt = inp.weight.clone(); inp.weight.copy_(torch.eye(C) * math.sqrt(C))
    torch.testing.assert_close(inp(w[:1])[0], ref, atol=1e-5, rtol=0)
    inp.weight.copy_(wt)
    # a translation by the transform hook shifts the features exactly (phase shift), by 2 samples at rate 16
    inp.transform[0, 2] = -2 / 16
    x2 = inp(w); inp.transform.copy_(torch.eye(3))
    torch.testing.assert_close(x2[..., 2:], x[..., :-2], atol=1e-4, rtol=0)

def test_mapping_truncation_and_w_avg():
    m = MappingNetwork(z_dim=16, c_dim=0, w_dim=16, num_ws=16).requires_grad_(False)
    z = torch.randn(32, 16)
    ws = m(z, update_emas=True)
    torch.testing.assert_close(m.w_avg, ws[:, 0].mean(0) * (1 - 0.998))
    torch.testing.assert_close(m(z, truncation_psi=0), m.w_avg.expand(32, 16, 16))
    wt = m(z, truncation_psi=0.5, truncation_cutoff=4)
    torch.testing.assert_close(wt[:, 4:], ws[:, 4:]); torch.testing.assert_close(wt[:, :4], m.w_avg.lerp(ws[:, :4], 0.5))
    assert m.fc0.weight_gain == pytest.approx(0.01 / 4)

# ---------------------------------------------------------------- equivariance (§16.7, §16.8)
EQ = {}

def test_eqt_untrained_t_above_65db():
    EQ['t'] = r = eq_metrics(tiny(), num_samples=4, batch_size=2, eqr=True)
    print('EQ tiny stylegan3-t 64px:', r)
    assert r['eqt_int'] >= 65 and r['eqt_frac'] >= 65
    assert r['eqr'] < 40          # spec §16.8: config T is not rotation equivariant

@pytest.mark.parametrize('broken', [dict(lrelu_upsampling=1), dict(margin_size=0)])
def test_eqt_broken_variants_below_60db(broken):
    r = eq_metrics(tiny(**broken), num_samples=4, batch_size=2, eqt_frac=False)
    EQ[str(broken)] = r
    print('EQ-T broken', broken, r)
    assert r['eqt_int'] < 60

def test_eqr_untrained_r_above_60db():
    G = tiny(cfg='stylegan3-r', channel_max=32)   # doubled to channel_base 4096 / channel_max 64
    r = eq_metrics(G, num_samples=4, batch_size=2, eqt_int=False, eqt_frac=False, eqr=True)
    print('EQ-R tiny stylegan3-r 64px:', r)
    assert r['eqr'] >= 60

def test_translate_image_exact_integer_shift():
    x = torch.randn(1, 2, 8, 8)
    y, m = translate_image(x, 2 / 8, 1 / 8)
    assert torch.equal(y[:, :, 1:, 2:], x[:, :, :-1, :-2]) and m[0, 0].sum() == 7 * 6

# ---------------------------------------------------------------- gradients, conditioning, D (§16.12)
def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    G = Generator(z_dim=16, w_dim=16, img_resolution=32, channel_base=256, channel_max=8, c_dim=3)
    D = Discriminator(c_dim=3, img_resolution=32, img_channels=3, channel_base=256, channel_max=8)
    c = torch.eye(3)[[0, 1, 2, 0]]
    loss = torch.nn.functional.softplus(-D(G(torch.randn(4, 16), c), c)).mean()
    loss.backward()
    for net in (G, D):
        for n, p in net.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, n

def test_conditioning_changes_output():
    torch.manual_seed(0)
    G = Generator(z_dim=16, w_dim=16, img_resolution=32, channel_base=256, channel_max=8, c_dim=4).eval().requires_grad_(False)
    z = torch.randn(2, 16)
    a, b = G(z, torch.eye(4)[[0, 0]]), G(z, torch.eye(4)[[1, 1]])
    assert (a - b).abs().max() > 1e-3
    torch.testing.assert_close(G(z, torch.eye(4)[[0, 0]]), a)
    with pytest.raises(AssertionError, match='pass c'): G(z)
    G0 = tiny(img_resolution=32)
    assert G0(torch.randn(2, 64)).shape == (2, 3, 32, 32)        # c_dim = 0 needs no label

@pytest.mark.parametrize('R,C', [(8, 1), (16, 3), (32, 1), (64, 3)])
def test_discriminator_shapes_channels_resolutions(R, C):
    torch.manual_seed(0)
    D = Discriminator(img_resolution=R, img_channels=C, channel_base=512, channel_max=16)
    x = torch.randn(8, C, R, R)
    o = D(x)
    assert o.shape == (8, 1) and torch.isfinite(o).all()
    torch.testing.assert_close(D(x, impl='ref'), o, atol=1e-5, rtol=1e-4)
    assert [k for k in dict(D.named_children())] == [f'b{r}' for r in D.block_resolutions] + ['b4']
    with pytest.raises(AssertionError): D(torch.randn(8, 3 if C == 1 else 1, R, R))

def test_discriminator_projection_conditioning():
    torch.manual_seed(0)
    D = Discriminator(c_dim=5, img_resolution=16, img_channels=1, channel_base=256, channel_max=16)
    assert D.mapping.num_layers == 8 and D.b4.cmap_dim == 16
    x = torch.randn(4, 1, 16, 16)
    assert (D(x, torch.eye(5)[[0, 1, 2, 3]]) - D(x, torch.eye(5)[[4, 4, 4, 4]])).abs().max() > 1e-4
