//! The rules of `docs/LOSSES.md` (section Overlap family) checked one by one, thread independence on multi-block inputs, and
//! cases worked out by hand.

use ndarray::{ArrayD, IxDyn};
use segloss_core::rng::Rng;
use segloss_core::testing::assert_all_written;
use segloss_core::{Batch, Loss, LossConfig, Mode, Registry, Value};
use segloss_overlap::*;

fn arr(shape: &[usize], f: impl Fn(usize) -> f32) -> ArrayD<f32> {
    let n = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(f).collect()).unwrap()
}

fn labels(shape: &[usize], f: impl Fn(usize) -> i64) -> ArrayD<i64> {
    let n = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(f).collect()).unwrap()
}

/// A deterministic pseudo-random value in [0, 1) per index: the first value of core's generator
/// seeded with the salt and the index.
fn h(i: usize, salt: u64) -> f32 {
    Rng::new((salt << 40) ^ i as u64).next_f32()
}

fn spec(name: &str, pairs: &[(&str, Value)]) -> Box<dyn Loss> {
    Registry::new(LOSSES).build_one(name, pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()).expect("valid")
}

fn with_threads<T: Send>(n: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap().install(f)
}

fn assert_same_bits(loss: &dyn Loss, batch: &Batch<'_>) {
    let (v1, g1) = with_threads(1, || loss.forward_backward(batch).unwrap());
    let (v2, g2) = with_threads(2, || loss.forward_backward(batch).unwrap());
    assert_eq!(v1.to_bits(), v2.to_bits(), "{}: {v1} vs {v2}", loss.name());
    assert!(g1.iter().zip(&g2).all(|(a, b)| a.to_bits() == b.to_bits()), "{}: gradients differ", loss.name());
}

#[test]
fn one_and_two_threads_agree_bit_for_bit() {
    // binary rows longer than a block (3 blocks per row), with ignored elements
    let pred = arr(&[3, 1, 150, 150], |i| h(i, 1) * 10.0 - 5.0);
    let t = arr(&[3, 1, 150, 150], |i| if h(i, 2) < 0.05 { 255.0 } else { (h(i, 3) < 0.3) as u8 as f32 });
    for s in ["dice:ignore_index=255", "tversky:gamma=2,reduce=batch,ignore_index=255", "dice:pixelwise=true,ignore_index=255"] {
        let (name, rest) = s.split_once(':').unwrap();
        let pairs: Vec<(&str, Value)> = rest
            .split(',')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (
                    k,
                    v.parse::<f64>()
                        .map(Value::Num)
                        .unwrap_or_else(|_| if v == "true" { Value::Bool(true) } else { Value::Word(v.into()) }),
                )
            })
            .collect();
        assert_same_bits(spec(name, &pairs).as_ref(), &Batch::new(&pred, &t));
    }
    // many short rows grouped into blocks (multilabel)
    let pred = arr(&[300, 3, 7, 9], |i| h(i, 4) * 6.0 - 3.0);
    let t = arr(&[300, 3, 7, 9], |i| h(i, 5));
    assert_same_bits(spec("jaccard", &[("log", Value::Bool(true))]).as_ref(), &Batch::new(&pred, &t));
    assert_same_bits(spec("dice", &[("squared", Value::Bool(true))]).as_ref(), &Batch::new(&pred, &t));
    // multiclass labels, 10 blocks per image, ignored pixels
    let pred = arr(&[2, 5, 100, 100], |i| h(i, 6) * 8.0 - 4.0);
    let lab = labels(&[2, 100, 100], |i| if h(i, 7) < 0.1 { 255 } else { (h(i, 8) * 5.0) as i64 });
    assert_same_bits(
        spec("dice", &[("ignore_index", Value::Num(255.0)), ("squared", Value::Bool(true))]).as_ref(),
        &Batch::new(&pred, &lab),
    );
    assert_same_bits(spec("generalized_dice", &[("ignore_index", Value::Num(255.0))]).as_ref(), &Batch::new(&pred, &lab));
    // multiclass class probabilities
    let pred = arr(&[2, 3, 70, 70], |i| h(i, 9) * 8.0 - 4.0);
    let probs = arr(&[2, 3, 70, 70], |i| h(i, 10) / 3.0);
    assert_same_bits(spec("tversky", &[("mode", Value::Word("multiclass".into()))]).as_ref(), &Batch::new(&pred, &probs));
}

/// Multiclass logits: the value alone (class-major statistics over each thread's scratch rows)
/// is the value `forward_backward` gives (the same kernel over the gradient buffer), bit for
/// bit, on images of three blocks with full and partial sub-blocks, with labels and ignored
/// pixels or with class probabilities, with and without the kernels' extras.
#[test]
fn forward_alone_gives_the_value_of_forward_backward() {
    let pred = arr(&[2, 5, 45, 47], |i| h(i, 31) * 16.0 - 8.0);
    let lab = labels(&[2, 45, 47], |i| if h(i, 32) < 0.1 { 255 } else { (h(i, 33) * 5.0) as i64 });
    let probs = arr(&[2, 5, 45, 47], |i| h(i, 34) / 5.0);
    let ig = ("ignore_index", Value::Num(255.0));
    let multiclass = ("mode", Value::Word("multiclass".into()));
    let labelled = [
        ("dice", vec![ig.clone()]),
        ("dice", vec![ig.clone(), ("squared", Value::Bool(true))]),
        ("jaccard", vec![ig.clone(), ("log", Value::Bool(true))]),
    ];
    let soft = [("tversky", vec![multiclass.clone()]), ("dice", vec![multiclass.clone(), ("pixelwise", Value::Bool(true))])];
    let cases = labelled.iter().map(|c| (c, Batch::new(&pred, &lab))).chain(soft.iter().map(|c| (c, Batch::new(&pred, &probs))));
    for ((name, pairs), batch) in cases {
        let loss = spec(name, pairs);
        let v = loss.forward(&batch).unwrap();
        let (vg, _) = loss.forward_backward(&batch).unwrap();
        assert_eq!(v.to_bits(), vg.to_bits(), "{name} {pairs:?}: {v} vs {vg}");
    }
}

#[test]
fn no_pair_kept_gives_zero_with_zero_gradient() {
    let pred = arr(&[2, 1, 5, 5], |i| h(i, 11) * 4.0 - 2.0);
    let empty = arr(&[2, 1, 5, 5], |_| 0.0);
    for name in ["dice", "tversky", "jaccard", "generalized_dice"] {
        let loss = spec(name, &[("classes", Value::Word("present".into()))]);
        let mut g = ArrayD::from_elem(IxDyn(&[2, 1, 5, 5]), f32::NAN);
        let v = loss.forward_backward_into(&Batch::new(&pred, &empty), g.view_mut(), 1.0).unwrap();
        assert_eq!(v, 0.0, "{name}");
        assert_all_written(g.as_slice().unwrap());
        assert!(g.iter().all(|&x| x == 0.0), "{name}");
    }
    // every pixel ignored (multiclass)
    let pred = arr(&[1, 3, 4, 4], |i| h(i, 12));
    let lab = labels(&[1, 4, 4], |_| 255);
    let loss = spec("dice", &[("ignore_index", Value::Num(255.0)), ("classes", Value::Word("present".into()))]);
    let (v, g) = loss.forward_backward(&Batch::new(&pred, &lab)).unwrap();
    assert_eq!(v, 0.0);
    assert!(g.iter().all(|&x| x == 0.0));
}

#[test]
fn tversky_gamma_below_one_at_perfect_prediction_has_zero_gradient() {
    // probabilities equal to the targets: TI = 1 exactly, (1 - TI)^0.5 has an infinite slope there
    let t = arr(&[2, 1, 4, 4], |i| (h(i, 13) < 0.4) as u8 as f32);
    let loss =
        TverskyConfig { gamma: 0.5, common: OverlapKeys { from_logits: false, ..OverlapKeys::default() }, ..TverskyConfig::default() }
            .build()
            .unwrap();
    let (v, g) = loss.forward_backward(&Batch::new(&t, &t)).unwrap();
    assert_eq!(v, 0.0);
    assert!(g.iter().all(|&x| x == 0.0), "{g:?}");
    // saturated logits: TI rounds to 1 in f64
    let x = t.mapv(|v| if v > 0.5 { 1e4 } else { -1e4 });
    let loss = TverskyConfig { gamma: 0.3, ..TverskyConfig::default() }.build().unwrap();
    let (v, g) = loss.forward_backward(&Batch::new(&x, &t)).unwrap();
    assert!(v.is_finite() && v.abs() < 1e-6, "{v}");
    assert!(g.iter().all(|x| x.is_finite()));
}

#[test]
fn ignore_index_inside_classes_drops_the_class_and_its_pixels() {
    let pred = arr(&[2, 4, 6, 5], |i| h(i, 14) * 6.0 - 3.0);
    let lab = labels(&[2, 6, 5], |i| (h(i, 15) * 4.0) as i64);
    let a = spec("dice", &[("ignore_index", Value::Num(2.0))]);
    // the same as: class-2 pixels relabelled 255 and ignored, class 2 weighted 0
    let lab255 = lab.mapv(|l| if l == 2 { 255 } else { l });
    let b = spec("dice", &[("ignore_index", Value::Num(255.0)), ("class_weights", Value::List(vec![1.0, 1.0, 0.0, 1.0]))]);
    let (va, ga) = a.forward_backward(&Batch::new(&pred, &lab)).unwrap();
    let (vb, gb) = b.forward_backward(&Batch::new(&pred, &lab255)).unwrap();
    assert!((va - vb).abs() <= 1e-6, "{va} vs {vb}");
    assert!(ga.iter().zip(&gb).all(|(x, y)| (x - y).abs() <= 1e-7));
    // ignored pixels receive no gradient
    for i in 0..2 {
        for j in 0..30 {
            if lab.as_slice().unwrap()[i * 30 + j] == 2 {
                assert!((0..4).all(|k| ga.as_slice().unwrap()[(i * 4 + k) * 30 + j] == 0.0));
            }
        }
    }
}

#[test]
fn smooth_sets_both() {
    let pred = arr(&[2, 3, 4, 4], |i| h(i, 16) * 4.0 - 2.0);
    let t = arr(&[2, 3, 4, 4], |i| h(i, 17));
    let a = spec("dice", &[("smooth", Value::Num(0.3))]).forward(&Batch::new(&pred, &t)).unwrap();
    let b = spec("dice", &[("smooth_nr", Value::Num(0.3)), ("smooth_dr", Value::Num(0.3))]).forward(&Batch::new(&pred, &t)).unwrap();
    let c = spec("dice", &[("smooth_nr", Value::Num(0.3))]).forward(&Batch::new(&pred, &t)).unwrap();
    assert_eq!(a.to_bits(), b.to_bits());
    assert_ne!(a.to_bits(), c.to_bits());
}

/// Upstream scaling: `grad(upstream = u)` against `u * grad(1)`, relative to the largest element.
/// The kernels fold `u` into the pair coefficients before the per-element affine combination
/// `a + b g + c p`, whose terms partly cancel, so the two differ by f32 rounding of those terms:
/// measured 8e-7 (x86-64-v3, FMA) and 1.2e-6 (SSE2, no FMA) of the largest element here; the bound
/// allows a few times that (about 60 ulps of the largest element).
const UPSTREAM_REL: f32 = 4e-6;

#[test]
fn upstream_scales_the_gradient() {
    let pred = arr(&[2, 3, 5, 5], |i| h(i, 18) * 4.0 - 2.0);
    let lab = labels(&[2, 5, 5], |i| (h(i, 19) * 3.0) as i64);
    let loss = GeneralizedDiceConfig::default().build().unwrap();
    let (_, g1) = loss.forward_backward(&Batch::new(&pred, &lab)).unwrap();
    let mut g2 = ArrayD::zeros(IxDyn(&[2, 3, 5, 5]));
    loss.forward_backward_into(&Batch::new(&pred, &lab), g2.view_mut(), -2.5).unwrap();
    let scale = g1.iter().fold(0.0f32, |m, a| m.max(a.abs()));
    assert!(scale > 0.0);
    assert!(g1.iter().zip(&g2).all(|(a, b)| (a * -2.5 - b).abs() <= UPSTREAM_REL * scale), "not scaled by the upstream gradient");
}

#[test]
fn dice_by_hand() {
    // one image, one channel, probabilities p = [0.9, 0.2, 0.6, 0.1], g = [1, 0, 1, 0]:
    // I = 1.5, P = 1.8, G = 2; dice = 1 - 3/3.8; log dice = -ln(3/3.8); squared: 1 - 3/(1.22 + 2)
    let p = arr(&[1, 1, 2, 2], |i| [0.9, 0.2, 0.6, 0.1][i]);
    let g = arr(&[1, 1, 2, 2], |i| [1.0, 0.0, 1.0, 0.0][i]);
    let b = Batch::new(&p, &g);
    let probs = [("from_logits", Value::Bool(false)), ("smooth", Value::Num(0.0))];
    let v = spec("dice", &probs).forward(&b).unwrap();
    assert!((v as f64 - (1.0 - 3.0 / 3.8)).abs() < 1e-6, "{v}");
    let mut with_log = probs.to_vec();
    with_log.push(("log", Value::Bool(true)));
    let v = spec("dice", &with_log).forward(&b).unwrap();
    assert!((v as f64 + (3.0f64 / 3.8).ln()).abs() < 1e-6, "{v}");
    let mut sq = probs.to_vec();
    sq.push(("squared", Value::Bool(true)));
    let v = spec("dice", &sq).forward(&b).unwrap();
    assert!((v as f64 - (1.0 - 3.0 / 3.22)).abs() < 1e-6, "{v}");
    // jaccard: 1 - 1.5/(1.8 + 2 - 1.5); tversky alpha=0.2, beta=0.8: FP = 0.3, FN = 0.5
    let v = spec("jaccard", &probs).forward(&b).unwrap();
    assert!((v as f64 - (1.0 - 1.5 / 2.3)).abs() < 1e-6, "{v}");
    let mut tv = probs.to_vec();
    tv.extend([("alpha", Value::Num(0.2)), ("beta", Value::Num(0.8)), ("gamma", Value::Num(2.0))]);
    let v = spec("tversky", &tv).forward(&b).unwrap();
    let ti = 1.5 / (1.5 + 0.2 * 0.3 + 0.8 * 0.5);
    assert!((v as f64 - (1.0 - ti) * (1.0 - ti)).abs() < 1e-6, "{v}");
    // per-pixel: mean of 1 - (2pg + 1)/(p + g + 1)
    let v = spec("dice", &[("from_logits", Value::Bool(false)), ("pixelwise", Value::Bool(true))]).forward(&b).unwrap();
    let want: f64 = [(0.9, 1.0), (0.2, 0.0), (0.6, 1.0), (0.1, 0.0)]
        .iter()
        .map(|&(p, g): &(f64, f64)| 1.0 - (2.0 * p * g + 1.0) / (p + g + 1.0))
        .sum::<f64>()
        / 4.0;
    assert!((v as f64 - want).abs() < 1e-6, "{v} vs {want}");
}

#[test]
fn generalized_dice_by_hand() {
    // two channels of one image (multilabel probabilities): G = [2, 1], w = [1/4, 1]
    let p = arr(&[1, 2, 1, 3], |i| [0.5, 0.5, 0.0, 1.0, 0.0, 0.5][i]);
    let g = arr(&[1, 2, 1, 3], |i| [1.0, 1.0, 0.0, 1.0, 0.0, 0.0][i]);
    let v =
        spec("generalized_dice", &[("from_logits", Value::Bool(false)), ("smooth", Value::Num(0.0))]).forward(&Batch::new(&p, &g)).unwrap();
    // I = [1, 1], P + G = [3, 2.5]
    let want = 1.0 - 2.0 * (0.25 * 1.0 + 1.0) / (0.25 * 3.0 + 2.5);
    assert!((v as f64 - want).abs() < 1e-6, "{v} vs {want}");
}

#[test]
fn layouts_of_binary_and_multiclass_targets_agree() {
    let pred = arr(&[2, 1, 4, 5], |i| h(i, 20) * 4.0 - 2.0);
    let t = arr(&[2, 1, 4, 5], |i| (h(i, 21) < 0.5) as u8 as f32);
    let loss = DiceConfig { mode: Some(Mode::Binary), ..DiceConfig::default() }.build().unwrap();
    let (v, g) = loss.forward_backward(&Batch::new(&pred, &t)).unwrap();
    // pred [N, *S] without channel axis, targets [N, *S]; integer u8 targets
    let pred2 = pred.clone().into_shape_with_order(IxDyn(&[2, 4, 5])).unwrap();
    let t2 = t.clone().into_shape_with_order(IxDyn(&[2, 4, 5])).unwrap();
    let (v2, g2) = loss.forward_backward(&Batch::new(&pred2, &t2)).unwrap();
    let tu8 = t.mapv(|v| v as u8);
    let (v3, g3) = loss.forward_backward(&Batch::new(&pred, &tu8)).unwrap();
    assert_eq!((v.to_bits(), v2.to_bits(), v3.to_bits()), (v.to_bits(), v.to_bits(), v.to_bits()));
    assert_eq!(g.as_slice().unwrap(), g2.as_slice().unwrap());
    assert_eq!(g, g3);
    // multiclass labels [N, *S] and [N, 1, *S]
    let pred = arr(&[2, 3, 4, 5], |i| h(i, 22) * 4.0 - 2.0);
    let lab = labels(&[2, 4, 5], |i| (h(i, 23) * 3.0) as i64);
    let lab1 = lab.clone().into_shape_with_order(IxDyn(&[2, 1, 4, 5])).unwrap();
    let loss = JaccardConfig::default().build().unwrap();
    assert_eq!(loss.forward_backward(&Batch::new(&pred, &lab)).unwrap(), loss.forward_backward(&Batch::new(&pred, &lab1)).unwrap());
    // one-hot class probabilities equal labels
    let onehot = arr(&[2, 3, 4, 5], |e| {
        let (i, k, j) = (e / 60, (e / 20) % 3, e % 20);
        (lab.as_slice().unwrap()[i * 20 + j] == k as i64) as u8 as f32
    });
    let mc = JaccardConfig { mode: Some(Mode::Multiclass), ..JaccardConfig::default() }.build().unwrap();
    let (va, ga) = mc.forward_backward(&Batch::new(&pred, &onehot)).unwrap();
    let (vb, gb) = loss.forward_backward(&Batch::new(&pred, &lab)).unwrap();
    assert!((va - vb).abs() < 1e-6);
    assert!(ga.iter().zip(&gb).all(|(a, b)| (a - b).abs() < 1e-6));
}

#[test]
fn reduce_batch_with_one_image_equals_reduce_image() {
    let pred = arr(&[1, 3, 6, 6], |i| h(i, 24) * 4.0 - 2.0);
    let lab = labels(&[1, 6, 6], |i| (h(i, 25) * 3.0) as i64);
    for name in ["dice", "tversky", "jaccard", "generalized_dice"] {
        let a = spec(name, &[("reduce", Value::Word("batch".into()))]).forward_backward(&Batch::new(&pred, &lab)).unwrap();
        let b = spec(name, &[]).forward_backward(&Batch::new(&pred, &lab)).unwrap();
        assert_eq!(a, b, "{name}");
    }
}

#[test]
fn classes_present_and_background() {
    // class 2 absent from image 0: with classes=present image 0 averages classes 0 and 1 only
    let pred = arr(&[2, 3, 2, 2], |i| h(i, 26) * 4.0 - 2.0);
    let lab = labels(&[2, 2, 2], |i| [0, 1, 1, 0, 2, 1, 0, 2][i]);
    let rows = reference::row_stats(&DiceConfig::default().build().unwrap(), &Batch::new(&pred, &lab)).unwrap();
    let pair = |r: usize| 1.0 - (2.0 * rows[r].i + 1e-5) / (rows[r].p + rows[r].g + 1e-5);
    let present = spec("dice", &[("classes", Value::Word("present".into()))]).forward(&Batch::new(&pred, &lab)).unwrap();
    let want = (pair(0) + pair(1) + pair(3) + pair(4) + pair(5)) / 5.0;
    assert!((present as f64 - want).abs() < 1e-6, "{present} vs {want}");
    let no_bg = spec("dice", &[("include_background", Value::Bool(false))]).forward(&Batch::new(&pred, &lab)).unwrap();
    let want = (pair(1) + pair(2) + pair(4) + pair(5)) / 4.0;
    assert!((no_bg as f64 - want).abs() < 1e-6, "{no_bg} vs {want}");
    let weighted = spec("dice", &[("class_weights", Value::List(vec![1.0, 2.0, 3.0]))]).forward(&Batch::new(&pred, &lab)).unwrap();
    let want = (pair(0) + 2.0 * pair(1) + 3.0 * pair(2) + pair(3) + 2.0 * pair(4) + 3.0 * pair(5)) / 12.0;
    assert!((weighted as f64 - want).abs() < 1e-6, "{weighted} vs {want}");
}

#[test]
fn catalogue_and_build() {
    let names: Vec<&str> = LOSSES.iter().map(|d| d.name).collect();
    // the origin's overlap losses first, in this order
    assert_eq!(names[..5], ["dice", "tversky", "jaccard", "generalized_dice", "log_cosh_dice"]);
    assert!(LOSSES.iter().all(|d| d.family == "segloss-overlap" && d.keys().iter().any(|k| k.key == "mode")));
    assert!(Registry::new(LOSSES).find("ce").is_err());
    for name in names {
        let loss = spec(name, &[]);
        assert_eq!(loss.name(), name);
    }
}

/// `classes=all` with `reduce=image` runs image by image; `classes=present` (the same loss when
/// every pair is present) runs the two global passes: both must agree.
#[test]
fn image_by_image_equals_two_passes() {
    let close = |a: &(f32, ArrayD<f32>), b: &(f32, ArrayD<f32>)| {
        let scale = b.1.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!((a.0 - b.0).abs() <= 1e-6 * b.0.abs().max(1e-3), "{} vs {}", a.0, b.0);
        assert!(a.1.iter().zip(&b.1).all(|(x, y)| (x - y).abs() <= 1e-5 * scale), "gradients differ");
    };
    // multiclass labels, every class in every image
    let pred = arr(&[3, 4, 40, 50], |i| h(i, 30) * 8.0 - 4.0);
    let lab = labels(&[3, 40, 50], |i| (h(i, 31) * 4.0) as i64);
    // sigmoid rows longer than a block (multilabel, soft targets, every channel non-empty)
    let pred2 = arr(&[2, 3, 100, 100], |i| h(i, 32) * 8.0 - 4.0);
    let soft = arr(&[2, 3, 100, 100], |i| h(i, 33));
    for name in ["dice", "tversky", "jaccard", "generalized_dice"] {
        for (b, extra) in [(Batch::new(&pred, &lab), vec![]), (Batch::new(&pred2, &soft), vec![("squared", Value::Bool(true))])] {
            let extra = if name == "dice" { extra } else { vec![] };
            let mut all = extra.clone();
            all.push(("classes", Value::Word("all".into())));
            let mut present = extra;
            present.push(("classes", Value::Word("present".into())));
            let a = spec(name, &all).forward_backward(&b).unwrap();
            let p = spec(name, &present).forward_backward(&b).unwrap();
            close(&a, &p);
            // and the value alone is the same bits as with the gradient
            assert_eq!(spec(name, &all).forward(&b).unwrap().to_bits(), a.0.to_bits(), "{name}");
        }
    }
}

/// The image-by-image path on rows longer than a block, against the f64 reference.
#[test]
fn long_rows_match_the_f64_reference() {
    let pred = arr(&[2, 1, 120, 90], |i| h(i, 34) * 10.0 - 5.0);
    let t = arr(&[2, 1, 120, 90], |i| if h(i, 35) < 0.05 { 255.0 } else { (h(i, 36) < 0.3) as u8 as f32 });
    let x64: Vec<f64> = pred.iter().map(|&v| v as f64).collect();
    let t64: Vec<f64> = t.iter().map(|&v| v as f64).collect();
    let common = OverlapKeys { ignore_index: Some(255), ..OverlapKeys::default() };
    let losses = [
        ("dice", DiceConfig { common: common.clone(), ..DiceConfig::default() }.build_boxed().unwrap()),
        ("tversky", TverskyConfig { gamma: 1.5, common: common.clone(), ..TverskyConfig::default() }.build_boxed().unwrap()),
        ("jaccard", JaccardConfig { log: true, common, ..JaccardConfig::default() }.build_boxed().unwrap()),
    ];
    for (name, loss) in losses {
        let b = Batch::new(&pred, &t);
        let (v, g) = loss.forward_backward(&b).unwrap();
        let (v_ref, g_ref) = reference::eval(loss.as_ref(), &b, &x64, reference::RefTarget::Dense(&t64)).unwrap();
        assert!((v as f64 - v_ref).abs() <= 1e-5 * v_ref.abs() + 1e-7, "{name}: {v} vs {v_ref}");
        let scale = g_ref.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let worst = g.iter().zip(&g_ref).fold(0.0f64, |m, (a, b)| m.max((*a as f64 - b).abs()));
        assert!(worst <= 1e-4 * scale, "{name}: gradient error {worst:e} vs max {scale:e}");
    }
}

/// Integer binary targets may hold the ignore_index too (not only 0 and 1), as float ones do.
#[test]
fn integer_binary_targets_with_ignore_index_equal_float_ones() {
    let x = ArrayD::from_shape_fn(IxDyn(&[2, 1, 3, 4]), |ix| (ix[2] as f32 - 1.0) * 0.8 + ix[3] as f32 * 0.3 - ix[0] as f32);
    let yi = ArrayD::from_shape_fn(IxDyn(&[2, 1, 3, 4]), |ix| [0u8, 1, 255][(ix[2] + 2 * ix[3] + ix[0]) % 3]);
    let yf = yi.mapv(|v| v as f32);
    let loss = spec("dice", &[("ignore_index", Value::Num(255.0))]);
    let a = loss.forward_backward(&Batch::new(&x, &yi)).unwrap();
    let b = loss.forward_backward(&Batch::new(&x, &yf)).unwrap();
    assert_eq!(a.0, b.0);
    assert_eq!(a.1, b.1);
    // without the key, 255 is out of range
    let plain = spec("dice", &[]);
    assert!(plain.forward(&Batch::new(&x, &yi)).is_err());
}
