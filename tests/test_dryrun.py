"""Dry run (ssgnet_nb.dryrun): every network of the paper profile builds and trains a step, here at a reduced size;
the full paper size runs when SSGNET_DRYRUN_PAPER=1 (minutes on a CPU, a few GB); the CUDA paths only on a GPU."""
import json, os, subprocess, sys
import pytest, torch
from ssgnet_nb.core import ConfigError, SSGNetError
from ssgnet_nb.dryrun import DRYRUN_MODELS, compile_generator, dry_one, dry_run, gpu_policy

SMALL = {'gan.resolution': 32, 'gan.cbase': 1024, 'gan.cmax': 32, 'gan.z_dim': 32, 'gan.w_dim': 32, 'classification.size': 32,
         'classification.arch': 'resnet18', 'segmentation.size': 32, 'segmentation.encoder': 'resnet18', 'segmentation.transunet': 'tiny',
         'segmentation.transunet_size': 32}
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')

@pytest.fixture(autouse=True, scope='module')
def _one_thread():
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

def test_every_network_reduced_size():
    "Every network of the paper profile (channels and sizes reduced) builds, trains 2 steps and reports its shapes."
    df = dry_run('paper', steps=2, batch=2, overrides=SMALL, device='cpu', precision='fp32', isolate=False)
    models = ['gan', 'classifier', 'unet', 'transunet'] + (['vmunet'] if 'vmunet' in ''.join(df.model) else [])
    assert len(df) == len(models) and len(df) >= 4
    r = df.set_index('model')
    assert r.loc['stylegan3-t G + D', 'output'] == 'G 2x3x32x32, D 2x1'
    assert r.loc['classifier resnet18', 'output'] == '2x2' and r.loc['classifier resnet18', 'input'] == '2x3x32x32'
    assert r.loc['segmentation unet', 'output'] == '2x1x32x32' and r.loc['segmentation transunet-tiny', 'output'] == '2x1x32x32'
    for s in df.s_per_step: assert len(s.split(' / ')) == 2 and all(float(v) > 0 for v in s.split(' / '))
    assert (df.peak_rss_mb > 0).all() and (df.precision == 'fp32').all() and (df.device == 'cpu').all()

def test_paper_gan_params_without_training():
    "The paper generator's size as the official StyleGAN3-T at 256 px: built only (no step), parameters from the profile."
    from ssgnet_nb.core import resolve_config
    from ssgnet_nb.stylegan3.training import build_networks, gan_config
    g = gan_config(resolve_config('paper')['gan'])
    assert (g['resolution'], g['cbase'], g['cmax'], g['z_dim']) == (256, 32768, 512, 512)
    G, D = build_networks(g)
    nG = sum(p.numel() for p in G.parameters())
    assert 15e6 < nG < 30e6 and G.synthesis.L0_36_512.weight.shape == (512, 512, 3, 3)

def test_bf16_and_isolated_process():
    "bf16 precision through autocast; isolate=True runs the network in its own process (peak memory its own) with the same row."
    df = dry_run('paper', steps=1, batch=2, models=['classifier'], overrides=SMALL, device='cpu', precision='bf16')
    assert list(df.model) == ['classifier resnet18'] and df.precision[0] == 'bf16' and df.output[0] == '2x2'

def test_errors_name_the_network():
    with pytest.raises(ConfigError, match="dry-run model 'resnet' unknown"): dry_one('resnet')
    with pytest.raises(SSGNetError, match="dry run of 'gan'"): dry_run('paper', steps=1, models=['gan'], overrides={'gan.resolution': 30})

def test_command_line():
    p = subprocess.run([sys.executable, '-m', 'ssgnet_nb.dryrun', '--models', 'unet', '--steps', '1', '--device', 'cpu', '--precision', 'fp32',
                        '--overrides', json.dumps(SMALL)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert 'segmentation unet' in p.stdout and '2x1x32x32' in p.stdout and 's_per_step' in p.stdout

def test_gpu_settings_do_nothing_on_cpu():
    assert gpu_policy('cpu') == dict(device='cpu', tf32=False, cudnn_benchmark=False, bf16=False)
    m = torch.nn.Linear(2, 2)
    assert compile_generator(m, 'cpu') is m

@pytest.mark.skipif(os.environ.get('SSGNET_DRYRUN_PAPER') != '1', reason='full paper size: set SSGNET_DRYRUN_PAPER=1 (minutes on a CPU, a few GB)')
def test_paper_size_dry_run():
    "Every network at the paper profile's full size, 2 steps each in its own process."
    df = dry_run('paper', steps=2, batch=2)
    r = df.set_index('model')
    assert r.loc['stylegan3-t G + D', 'output'] == 'G 2x3x256x256, D 2x1'
    assert r.loc['classifier resnet50', 'input'] == '2x3x224x224'
    assert r.loc['segmentation unet', 'output'] == '2x1x256x256'
    assert r.loc['segmentation transunet-R50-ViT-B_16', 'output'] == '2x1x224x224'
    assert set(df.model) >= {'stylegan3-t G + D', 'classifier resnet50', 'segmentation unet', 'segmentation transunet-R50-ViT-B_16'}

@cuda
def test_gpu_policy_and_compiled_generator_match_eager():
    "On CUDA: TF32 and cuDNN autotuning on; the compiled synthesis network gives the eager one's images (TF32 tolerance)."
    from ssgnet_nb.stylegan3.networks import Generator
    pol = gpu_policy('cuda')
    assert pol['tf32'] and torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.benchmark
    torch.manual_seed(0)
    G = Generator(z_dim=64, w_dim=64, img_resolution=64, channel_base=2048, channel_max=64).cuda().eval()
    z = torch.randn(4, 64, device='cuda')
    with torch.no_grad():
        a = G(z)
        b = compile_generator(G, 'cuda')(z)
    assert (a - b).abs().max() <= 1e-2 * a.abs().max()

@cuda
def test_paper_gan_step_on_gpu():
    "One paper-size StyleGAN3 training step on the GPU in bf16 (the policy a paper run uses)."
    r = dry_one('gan', 'paper', steps=1, batch=4, device='cuda', precision='bf16')
    assert r['output'] == 'G 4x3x256x256, D 4x1' and r['peak_cuda_mb'] > 0
