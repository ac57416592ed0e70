//! Spec strings: parse(print(x)) == x, validation errors naming key and value, combinations.

use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use segloss::{Batch, Loss, LossError, LossSpec};

/// Valid terms of the cross-entropy family, with keys drawn from their ranges.
fn xent_term() -> impl Strategy<Value = String> {
    let num = |lo: f64, hi: f64| (lo..hi).prop_map(|x| format!("{x}"));
    prop_oneof![
        (num(0.0, 5.0), num(0.0, 1.0), any::<bool>())
            .prop_map(|(q, s, l)| format!("bce:pos_weight={q},label_smoothing={s},from_logits={l}")),
        num(0.01, 9.0).prop_map(|b| format!("wce:beta={b}")),
        prop_oneof![num(0.01, 0.99), Just("auto".to_string())].prop_map(|b| format!("balanced_ce:beta={b},reduction=sum")),
        (num(0.0, 5.0), prop_oneof![num(0.0, 1.0), Just("none".to_string())]).prop_map(|(g, a)| format!("focal:gamma={g},alpha={a}")),
        (num(0.0, 5.0), prop::collection::vec(0.0f64..3.0, 1..5), -300i64..300).prop_map(|(g, w, i)| {
            let w: Vec<String> = w.iter().map(|v| format!("{v}")).collect();
            format!("focal:mode=multiclass,gamma={g},class_weights=[{}],ignore_index={i}", w.join(","))
        }),
        num(0.01, 0.99).prop_map(|b| format!("distance_bce:beta={b}")),
        (prop::collection::vec(1e-6f64..1e3, 1..4), num(0.0, 1.0)).prop_map(|(w, s)| {
            let w: Vec<String> = w.iter().map(|v| format!("{v:e}")).collect();
            format!("ce:class_weights=[{}],label_smoothing={s},reduction=mean", w.join(","))
        }),
    ]
}

fn spec() -> impl Strategy<Value = String> {
    prop::collection::vec((prop::option::of(0.001f64..100.0), xent_term()), 1..4).prop_map(|terms| {
        terms
            .into_iter()
            .map(|(w, t)| match w {
                Some(w) => format!("{w}*{t}"),
                None => t,
            })
            .collect::<Vec<_>>()
            .join("+")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn print_then_parse_is_identity(s in spec()) {
        let a = LossSpec::parse(&s).unwrap();
        let printed = a.to_string();
        let b = LossSpec::parse(&printed).unwrap();
        prop_assert_eq!(&a, &b, "{} -> {}", s, printed);
        prop_assert_eq!(b.to_string(), printed);
    }

    /// Arbitrary text never panics the parser.
    #[test]
    fn arbitrary_text_never_panics(s in ".{0,40}", t in "[a-z_:=,\\[\\]0-9.e+*-]{0,40}") {
        let _ = LossSpec::parse(&s);
        let _ = LossSpec::parse(&t);
    }
}

#[test]
fn printing_is_canonical() {
    let s = LossSpec::parse("0.5*ce:class_weights=[1,2,0.5],ignore_index=255 + 2*focal:gamma=2.0,alpha=none").unwrap();
    assert_eq!(s.to_string(), "0.5*ce:class_weights=[1,2,0.5],ignore_index=255+2*focal:gamma=2,alpha=none");
    let s = LossSpec::parse("bce:pos_weight=1e3,label_smoothing=2.5e-4").unwrap();
    assert_eq!(s.to_string(), "bce:pos_weight=1e3,label_smoothing=2.5e-4");
}

fn expect_err(spec: &str, needle: &str) {
    match LossSpec::parse(spec) {
        Ok(s) => panic!("{spec} parsed as {s}"),
        Err(e) => assert!(e.to_string().contains(needle), "{spec}: `{e}` lacks `{needle}`"),
    }
}

#[test]
fn errors_name_what_is_wrong() {
    expect_err("dice_typo", "unknown loss");
    expect_err("bce:gamma=2", "`bce` has no key `gamma`");
    expect_err("bce:pos_weight=1,pos_weight=2", "given twice");
    expect_err("focal:gamma=-1", "gamma");
    expect_err("focal:gamma=abc", "expected a number");
    expect_err("bce:pos_weight=1e+3", "");
    expect_err("bce:", "expected a key");
    expect_err("bce:pos_weight", "expected `=`");
    expect_err("ce:class_weights=[1,2", "list");
    expect_err("bce+", "expected a loss name");
    expect_err("2*", "expected a loss name");
    expect_err("bce)", "unexpected character");
    expect_err("wce", "beta");
    expect_err("balanced_ce:beta=1.5", "(0, 1)");
    match LossSpec::parse("bce:pos_weight=1e+3").unwrap_err() {
        LossError::Parse { position, .. } => assert!(position > 0),
        e => panic!("{e}"),
    }
}

#[test]
fn weighted_sums_add_values_and_gradients() {
    let x = ArrayD::from_shape_fn(IxDyn(&[2, 1, 3, 4]), |ix| (ix[2] as f32 - 1.0) * 1.5 + ix[3] as f32 * 0.25 - ix[0] as f32);
    let y = ArrayD::from_shape_fn(IxDyn(&[2, 1, 3, 4]), |ix| ((ix[2] + ix[3]) % 2) as f32);
    let b = Batch::new(&x, &y);
    let a = LossSpec::parse("bce").unwrap().build().unwrap().forward_backward(&b).unwrap();
    let f = LossSpec::parse("focal:gamma=1").unwrap().build().unwrap().forward_backward(&b).unwrap();
    let c = LossSpec::parse("0.5*bce+2*focal:gamma=1").unwrap().build().unwrap().forward_backward(&b).unwrap();
    assert!((c.0 - (0.5 * a.0 + 2.0 * f.0)).abs() <= 1e-6);
    for i in 0..x.len() {
        let want = 0.5 * a.1.as_slice().unwrap()[i] + 2.0 * f.1.as_slice().unwrap()[i];
        assert!((c.1.as_slice().unwrap()[i] - want).abs() <= 1e-7, "{i}");
    }
}

#[test]
fn the_catalogue_lists_every_family_loss_with_its_keys() {
    let names: Vec<&str> = segloss::catalogue().iter().map(|i| i.name).collect();
    for n in ["bce", "wce", "balanced_ce", "focal", "distance_bce", "ce"] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
        let info = segloss::info(n).unwrap();
        assert!(info.keys().iter().any(|k| k.key == "mode"), "{n}");
        for k in info.keys() {
            assert!(!k.doc.is_empty() && !k.default.is_empty(), "{n}.{}", k.key);
        }
    }
}

#[test]
fn every_key_at_its_default_builds_and_prints_back() {
    // each key given at its default parses, prints as given, and builds the default loss
    for d in segloss::catalogue() {
        for k in d.keys().iter().filter(|k| k.key != "mode" && k.default != "required") {
            // wce's beta has no default: give it
            let req: String = d.keys().iter().filter(|r| r.default == "required").map(|r| format!(",{}=2", r.key)).collect();
            let spec = format!("{}:{}={}{req}", d.name, k.key, k.value);
            let s = LossSpec::parse(&spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
            assert_eq!(s.to_string(), spec);
        }
    }
}

#[test]
fn old_key_names_parse_and_print_as_the_new_ones() {
    for d in segloss::catalogue() {
        for a in d.aliases {
            let k = d.key(a.new).unwrap_or_else(|| panic!("{}: alias {} names no key {}", d.name, a.old, a.new));
            let _ = k;
        }
    }
    let s = LossSpec::parse("lovasz_hinge:per_image=false+0.5*lovasz_softmax:per_image=true").unwrap();
    assert_eq!(s.to_string(), "lovasz_hinge:reduce=batch+0.5*lovasz_softmax:reduce=image");
    assert_eq!(s, LossSpec::parse(&s.to_string()).unwrap());
    expect_err("lovasz_hinge:per_image=true,reduce=image", "given twice");
    expect_err("lovasz_hinge:per_image=2", "per_image");
}

#[test]
fn combinations_across_families() {
    // the origin write-up's CE + DL: CE's per-pixel mean plus Dice's per-image scalar
    let x = ArrayD::from_shape_fn(IxDyn(&[2, 1, 4, 5]), |ix| (ix[2] as f32 - 1.5) * 1.2 - ix[3] as f32 * 0.3 + ix[0] as f32);
    let y = ArrayD::from_shape_fn(IxDyn(&[2, 1, 4, 5]), |ix| ((ix[2] * 3 + ix[3]) % 4 == 0) as u8 as f32);
    let b = Batch::new(&x, &y);
    let ce = LossSpec::parse("bce").unwrap().build().unwrap().forward_backward(&b).unwrap();
    let dl = LossSpec::parse("dice").unwrap().build().unwrap().forward_backward(&b).unwrap();
    let both = LossSpec::parse("bce+dice").unwrap().build().unwrap().forward_backward(&b).unwrap();
    assert!((both.0 - (ce.0 + dl.0)).abs() <= 1e-6);
    for i in 0..x.len() {
        let want = ce.1.as_slice().unwrap()[i] + dl.1.as_slice().unwrap()[i];
        assert!((both.1.as_slice().unwrap()[i] - want).abs() <= 1e-7, "{i}");
    }
    // 0.5*ce+2*dice on multiclass labels
    let xm = ArrayD::from_shape_fn(IxDyn(&[2, 3, 4, 5]), |ix| ((ix[1] * 7 + ix[2] * 3 + ix[3]) % 5) as f32 - 2.0);
    let l = ArrayD::from_shape_fn(IxDyn(&[2, 4, 5]), |ix| ((ix[1] + ix[2]) % 3) as i64);
    let bm = Batch::new(&xm, &l);
    let c = LossSpec::parse("0.5*ce+2*dice").unwrap().build().unwrap().forward(&bm).unwrap();
    let a = LossSpec::parse("ce").unwrap().build().unwrap().forward(&bm).unwrap();
    let d = LossSpec::parse("dice").unwrap().build().unwrap().forward(&bm).unwrap();
    assert!((c - (0.5 * a + 2.0 * d)).abs() <= 1e-6, "{c} vs {a} {d}");
}

/// A combination of three terms adds its terms' gradients into `grad` through the calling
/// thread's term buffer, kept between calls: evaluated on a large batch, then a small one, then
/// the large one again (so the buffer holds stale values each time), into NaN-filled gradients
/// and in pools of 1 and 3 threads, its gradient is bit for bit `(g_bce + g_dice) + g_focal` of
/// the terms evaluated alone.
#[test]
fn the_term_buffer_is_reused_without_leaking_old_values() {
    let batch = |n: usize, h: usize| {
        let x = ArrayD::from_shape_fn(IxDyn(&[n, 1, h, h]), |ix| ((ix[0] * 31 + ix[2] * 7 + ix[3] * 3) % 11) as f32 * 0.4 - 2.0);
        let y = ArrayD::from_shape_fn(IxDyn(&[n, 1, h, h]), |ix| ((ix[2] * 5 + ix[3] + ix[0]) % 3 == 0) as u8 as f32);
        (x, y)
    };
    let combo = LossSpec::parse("bce+dice+focal").unwrap().build().unwrap();
    let alone: Vec<_> = ["bce", "dice", "focal"].iter().map(|s| LossSpec::parse(s).unwrap().build().unwrap()).collect();
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        for (n, h) in [(3usize, 160usize), (1, 9), (3, 160)] {
            let (x, y) = batch(n, h);
            let b = Batch::new(&x, &y);
            let mut g = ArrayD::from_elem(IxDyn(&[n, 1, h, h]), f32::NAN);
            let v = pool.install(|| combo.forward_backward_into(&b, g.view_mut(), 1.0)).unwrap();
            let parts: Vec<(f32, ArrayD<f32>)> = alone.iter().map(|l| l.forward_backward(&b).unwrap()).collect();
            let want_v = parts.iter().map(|p| p.0 as f64).sum::<f64>() as f32;
            assert_eq!(v.to_bits(), want_v.to_bits(), "value, {threads} threads, [{n}, 1, {h}, {h}]");
            for (i, gi) in g.iter().enumerate() {
                let want = (parts[0].1.as_slice().unwrap()[i] + parts[1].1.as_slice().unwrap()[i]) + parts[2].1.as_slice().unwrap()[i];
                assert_eq!(gi.to_bits(), want.to_bits(), "element {i}, {threads} threads, [{n}, 1, {h}, {h}]");
            }
        }
    }
}

/// Matrices (lists of lists, `dist_matrix`): printed back in the same form, the printed spec
/// parses to the same spec, commas inside the brackets never separate keys, and every malformed
/// matrix is an error naming the key.
#[test]
fn matrix_values_round_trip_and_errors_name_the_key() {
    for (src, printed) in [
        (
            "wasserstein_dice:dist_matrix=[[0,1,1],[1,0,0.5],[1,0.5,0]],weighting_mode=gdl",
            "wasserstein_dice:dist_matrix=[[0,1,1],[1,0,0.5],[1,0.5,0]],weighting_mode=gdl",
        ),
        (
            "0.5*wasserstein_dice:dist_matrix=[ [0, 2.50e-1], [1e3, 0] ],smooth=1e-3+ce:class_weights=[1,2]",
            "0.5*wasserstein_dice:dist_matrix=[[0,0.25],[1e3,0]],smooth=1e-3+ce:class_weights=[1,2]",
        ),
        ("wasserstein_dice:dist_matrix=uniform", "wasserstein_dice:dist_matrix=uniform"),
    ] {
        let a = LossSpec::parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert_eq!(a.to_string(), printed);
        let b = LossSpec::parse(&a.to_string()).unwrap();
        assert_eq!(a, b);
        assert_eq!(b.to_string(), printed);
    }
    // random matrices: print then parse is the identity
    let mut seed = 7u64;
    for _ in 0..200 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let c = 2 + (seed >> 60) as usize % 4;
        let rows: Vec<String> = (0..c)
            .map(|i| {
                let r: Vec<String> = (0..c)
                    .map(|j| {
                        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        let v = (seed >> 11) as f64 / (1u64 << 53) as f64 * 10f64.powi((i + j) as i32 - 3);
                        format!("{v}")
                    })
                    .collect();
                format!("[{}]", r.join(","))
            })
            .collect();
        let src = format!("wasserstein_dice:dist_matrix=[{}],smooth_nr=0.5", rows.join(","));
        let a = LossSpec::parse(&src).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert_eq!(a, LossSpec::parse(&a.to_string()).unwrap(), "{src} -> {a}");
    }
    for (src, needle) in [
        ("wasserstein_dice:dist_matrix=[[]]", "row 0 of the matrix is empty"),
        ("wasserstein_dice:dist_matrix=[[0,1],[1]]", "rows differ in length"),
        ("wasserstein_dice:dist_matrix=[[[0]]]", "nested this deep"),
        ("wasserstein_dice:dist_matrix=[[0,1],[1,0]", "expected `,` or `]` in the matrix"),
        ("wasserstein_dice:dist_matrix=[[0,1,2],[1,0,1]]", "square"),
        ("wasserstein_dice:dist_matrix=[[0,-1],[1,0]]", ">= 0"),
        ("wasserstein_dice:dist_matrix=[[0,0],[0,0]]", "largest entry must be > 0"),
        ("wasserstein_dice:dist_matrix=[0,1]", "uniform or a square matrix"),
        ("ce:class_weights=[[1,2]]", "class_weights"),
    ] {
        expect_err(src, needle);
        expect_err(src, if src.starts_with("ce") { "class_weights" } else { "dist_matrix" });
    }
}
