"""The kit's Dice, IoU and HD95 (`ssgnet_nb.segmentation`) against MONAI's `DiceMetric`, `MeanIoU` and
`compute_hausdorff_distance(percentile=95)`: equal where the definitions coincide (random masks, seeded), and the
deliberate differences pinned to their known values (empty masks, pooled vs per image, how HD95 combines its two
directions and which pixels form a mask's surface). MONAI is a test-only dependency."""
import math, warnings
import numpy as np, pytest, torch
from scipy.ndimage import gaussian_filter
monai = pytest.importorskip('monai')
from monai.metrics import DiceMetric, MeanIoU, compute_hausdorff_distance
from monai.metrics.utils import get_edge_surface_distance
from ssgnet_nb.segmentation import seg_metrics, hd95

@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings(): warnings.simplefilter('ignore'); yield   # MONAI warns on empty masks, which some tests build on purpose

def _blobs(rng, n, size=32):
    "n random masks: thresholded smoothed noise, each with some foreground and some background."
    out = []
    while len(out) < n:
        m = gaussian_filter(rng.standard_normal((size, size)), rng.uniform(1, 3)) > rng.uniform(-0.2, 0.4)
        if 0 < m.sum() < m.size: out.append(m)
    return out

def _rects(rng, n, size=40):
    "n masks holding one random axis-aligned rectangle each."
    out = []
    for _ in range(n):
        m = np.zeros((size, size), bool); y, x = rng.integers(1, size - 12, 2); h, w = rng.integers(2, 12, 2)
        m[y:y+h, x:x+w] = True; out.append(m)
    return out

def _t(masks, two=False):
    "[B, 1, H, W] (or one-hot [B, 2, H, W]) float tensor, MONAI's layout."
    a = np.stack(masks)[:, None]
    return torch.from_numpy(np.concatenate([~a, a], 1) if two else a).float()

def _monai(metric, preds, gts, two=False, **kw):
    m = metric(include_background=True, reduction='none', **kw); m(_t(preds, two), _t(gts, two)); return m.aggregate().numpy()

# ---------------------------------------------------------------- where the definitions coincide
def test_dice_iou_per_image_equal_monai_on_random_masks():
    rng = np.random.default_rng(0); gts, preds = _blobs(rng, 16), _blobs(rng, 16)
    preds[:4] = [g ^ (rng.random(g.shape) < 0.05) for g in gts[:4]]             # some close predictions as well as unrelated ones
    kit = [seg_metrics([p], [g]) for p, g in zip(preds, gts)]
    np.testing.assert_allclose([k['DSC'] for k in kit], _monai(DiceMetric, preds, gts)[:, 0], rtol=1e-6)
    np.testing.assert_allclose([k['IoU'] for k in kit], _monai(MeanIoU, preds, gts)[:, 0], rtol=1e-6)
    d = DiceMetric(include_background=True, reduction='mean'); d(_t(preds), _t(gts))
    np.testing.assert_allclose(seg_metrics(preds, gts)['Dice_img'], d.aggregate().item(), rtol=1e-6)   # mean of per-image Dice

def test_pooled_metrics_equal_monai_on_the_concatenated_set():
    "Pooled = one confusion matrix over all pixels = MONAI on the images laid side by side as one image."
    rng = np.random.default_rng(1); gts, preds = _blobs(rng, 10), _blobs(rng, 10)
    k, P, G = seg_metrics(preds, gts), [np.concatenate(preds, 1)], [np.concatenate(gts, 1)]
    np.testing.assert_allclose([k['DSC'], k['IoU']], [_monai(DiceMetric, P, G)[0, 0], _monai(MeanIoU, P, G)[0, 0]], rtol=1e-6)
    both = [_monai(DiceMetric, P, G, two=True)[0].mean(), _monai(MeanIoU, P, G, two=True)[0].mean()]   # background and foreground
    np.testing.assert_allclose([k['mDice'], k['mIoU2']], both, rtol=1e-6)

def test_hd95_distances_equal_monai_on_random_rectangles():
    """Rectangles have the same surface under both libraries' definitions: the kit's HD95 is then exactly the 95th
    percentile of MONAI's own surface distances in both directions taken together, and never above MONAI's HD95."""
    rng = np.random.default_rng(2); gts, preds = _rects(rng, 24), _rects(rng, 24)
    for p, g in zip(preds, gts):
        _, (d_pg, d_gp), _ = get_edge_surface_distance(torch.from_numpy(p), torch.from_numpy(g), symmetric=True)
        d_pg, d_gp = d_pg.double().numpy(), d_gp.double().numpy()
        m = compute_hausdorff_distance(_t([p], True), _t([g], True), percentile=95).item()
        assert math.isclose(hd95(p, g), np.percentile(np.concatenate([d_pg, d_gp]), 95), rel_tol=1e-6, abs_tol=1e-5)
        assert math.isclose(m, max(np.percentile(d_pg, 95), np.percentile(d_gp, 95)), rel_tol=1e-5, abs_tol=1e-5)
        assert hd95(p, g) <= m + 1e-5

# ---------------------------------------------------------------- deliberate differences, with their known values
def test_empty_masks_differ_on_purpose():
    "Kit: an image with nothing to find scores Dice 1 if nothing is predicted, 0 otherwise; HD95 0 / the image diagonal. MONAI (defaults): NaN for Dice, IoU and HD95, left out of means."
    z, one, blk = np.zeros((20, 30), bool), np.zeros((20, 30), bool), np.zeros((20, 30), bool)
    one[3, 4] = True; blk[5:9, 5:9] = True
    preds, gts = [blk, blk, z, one], [blk, np.roll(blk, 2, 1), z, z]               # Dice 1, 0.5, both empty, false positive only
    kit = [seg_metrics([p], [g])['DSC'] for p, g in zip(preds, gts)]
    assert kit == [1.0, 0.5, 1.0, 0.0] and seg_metrics(preds, gts)['Dice_img'] == 0.625
    np.testing.assert_array_equal(np.isnan(_monai(DiceMetric, preds, gts)[:, 0]), [False, False, True, True])
    d = DiceMetric(include_background=True, reduction='mean'); d(_t(preds), _t(gts)); assert math.isclose(d.aggregate().item(), 0.75)  # (1 + 0.5) / 2
    np.testing.assert_allclose(_monai(DiceMetric, preds, gts, ignore_empty=False)[:, 0], kit)   # MONAI's ignore_empty=False is the kit's rule
    np.testing.assert_allclose(_monai(MeanIoU, preds, gts, ignore_empty=False)[:, 0], [1.0, 1/3, 1.0, 0.0], rtol=1e-6)
    assert hd95(z, z) == 0.0 and hd95(one, z) == hd95(z, one) == math.hypot(20, 30)
    m = [compute_hausdorff_distance(_t([p], True), _t([g], True), percentile=95).item() for p, g in [(z, z), (one, z), (z, one)]]
    assert all(math.isnan(v) for v in m)                                            # MONAI: no HD95 where a mask is empty

def test_pooled_vs_per_image_differ_on_purpose():
    "The paper's DSC/IoU pool pixels over the test set (a large object dominates); MONAI averages per image (every image weighs the same)."
    big, small, z = np.zeros((32, 32), bool), np.zeros((32, 32), bool), np.zeros((32, 32), bool)
    big[4:14, 4:14] = True; small[20:22, 20:22] = True
    preds, gts = [big, z], [big, small]                                             # the big object found, the small one missed
    k = seg_metrics(preds, gts)
    assert math.isclose(k['DSC'], 200/204) and math.isclose(k['IoU'], 100/104) and k['Dice_img'] == 0.5
    d = DiceMetric(include_background=True, reduction='mean'); d(_t(preds), _t(gts))
    i = MeanIoU(include_background=True, reduction='mean'); i(_t(preds), _t(gts))
    assert math.isclose(d.aggregate().item(), 0.5) and math.isclose(i.aggregate().item(), 0.5)

def test_hd95_combines_directions_differently():
    """Kit (as medpy's hd95, used by the TransUNet and VM-UNet evaluations): the 95th percentile of both directions'
    distances pooled. MONAI: the larger of the two directions' 95th percentiles. Single pixels are their own surface."""
    g, p = np.zeros((16, 24), bool), np.zeros((16, 24), bool)
    g[5, 5] = True; p[5, 8] = p[5, 15] = True                                       # p -> g: 3, 10; g -> p: 3
    assert math.isclose(hd95(p, g), 9.3)                                            # percentile 95 of [3, 3, 10]
    assert math.isclose(compute_hausdorff_distance(_t([p], True), _t([g], True), percentile=95).item(), 9.65, rel_tol=1e-6)  # max(p95 [3, 10], 3)

def test_hd95_surface_connectivity_differs():
    """Kit: a pixel is on the surface when any of its 8 neighbours is background (3x3 erosion). MONAI (and medpy's
    default): when any of its 4 edge neighbours is. A pixel whose only background neighbour is diagonal counts for the kit only."""
    g = np.zeros((12, 12), bool); g[2:6, 2:6] = True; g[2, 5] = False            # a 4x4 block without its top-right corner
    p = np.zeros_like(g); p[3, 4] = True                                            # the pixel diagonal to the missing corner
    inner4 = {(3, 3), (3, 4), (4, 3), (4, 4)}
    block = {(y, x) for y in range(2, 6) for x in range(2, 6)} - {(2, 5)}
    kit_surface, monai_edge = block - (inner4 - {(3, 4)}), block - inner4           # 12 and 11 pixels
    dist = lambda s: [math.dist(q, (3, 4)) for q in sorted(s)]
    assert math.isclose(hd95(p, g), np.percentile([0.0] + dist(kit_surface), 95))  # (3, 4) lies on the kit's surface: distance 0
    want = max(1.0, np.percentile(dist(monai_edge), 95))                            # for MONAI the nearest surface pixel is (2, 4), 1 away
    assert math.isclose(compute_hausdorff_distance(_t([p], True), _t([g], True), percentile=95).item(), want, rel_tol=1e-6)
    assert hd95(p, g) != pytest.approx(want)
