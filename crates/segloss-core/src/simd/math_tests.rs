//! The error bounds of the elementary functions, run on each level's instantiation (the parent
//! module's `supported()` says whether this CPU runs it).

use super::*;
use crate::simd::LANES;

/// Distance in units in the last place between an f32 result and the f64 truth.
fn ulps(got: f32, truth: f64) -> f64 {
    if got.is_nan() && truth.is_nan() {
        return 0.0;
    }
    let t = truth as f32;
    if got == t {
        return 0.0;
    }
    if !got.is_finite() || !t.is_finite() {
        return f64::INFINITY;
    }
    let ulp = {
        let a = t.abs();
        let next = f32::from_bits(a.to_bits() + 1);
        (next - a) as f64
    };
    ((got as f64) - truth).abs() / ulp
}

/// Samples: a dense grid over [lo, hi], plus random bit patterns restricted to that range.
fn samples(lo: f32, hi: f32, n: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..=n).map(|i| lo + (hi - lo) * (i as f32 / n as f32)).collect();
    let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..n {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let x = f32::from_bits(s as u32);
        if x.is_finite() && x >= lo && x <= hi {
            v.push(x);
        }
    }
    v
}

fn max_ulp(f: fn(f32x8) -> f32x8, truth: fn(f64) -> f64, xs: &[f32]) -> (f64, f32) {
    let mut worst = (0.0f64, 0.0f32);
    for chunk in xs.chunks(LANES) {
        let y = f(load_padded(chunk, 0.5)).to_array();
        for (i, &x) in chunk.iter().enumerate() {
            let t = truth(x as f64);
            if t.abs() < f32::MIN_POSITIVE as f64 && t != 0.0 {
                continue; // subnormal results are outside the bound
            }
            let u = ulps(y[i], t);
            if u > worst.0 {
                worst = (u, x);
            }
        }
    }
    worst
}

const EXP_MAX_ULP: f64 = 2.0;
const LN_MAX_ULP: f64 = 2.0;
const LN1P_MAX_ULP: f64 = 3.0;
const SIGMOID_MAX_ULP: f64 = 3.0;
const SOFTPLUS_MAX_ULP: f64 = 4.0;
const LN1P_UNIT_MAX_ULP: f64 = 3.0;

#[test]
fn exp_nonpos_error_bound() {
    if !super::supported() {
        return;
    }
    let xs = samples(-87.33, 0.0, 400_000);
    let (u, at) = max_ulp(exp_nonpos, f64::exp, &xs);
    assert!(u <= EXP_MAX_ULP, "exp_nonpos: {u} ulp at {at}");
    let sp = exp_nonpos(f32x8::new([-87.4, -100.0, f32::NEG_INFINITY, f32::NAN, 0.0, -0.0, -1e-30, -87.33])).to_array();
    assert_eq!(&sp[..3], &[0.0, 0.0, 0.0]);
    assert!(sp[3].is_nan());
    assert_eq!(&sp[4..7], &[1.0, 1.0, 1.0]);
    assert!(sp[7] >= f32::MIN_POSITIVE);
}

#[test]
fn ln_1p_unit_error_bound() {
    if !super::supported() {
        return;
    }
    let mut xs = samples(0.0, 1.0, 400_000);
    xs.extend(samples(0.0, 1e-6, 100_000));
    xs.extend([0.0, 1.0, f32::MIN_POSITIVE, 1e-30]);
    let (u, at) = max_ulp(ln_1p_unit, f64::ln_1p, &xs);
    assert!(u <= LN1P_UNIT_MAX_ULP, "ln_1p_unit: {u} ulp at {at}");
}

#[test]
fn exp_error_bound() {
    if !super::supported() {
        return;
    }
    let xs = samples(-104.0, 89.0, 400_000);
    let (u, at) = max_ulp(exp, f64::exp, &xs);
    assert!(u <= EXP_MAX_ULP, "exp: {u} ulp at {at}");
}

#[test]
fn ln_error_bound() {
    if !super::supported() {
        return;
    }
    let mut xs = samples(0.0, f32::MAX, 400_000);
    xs.extend(samples(0.0, 4.0, 200_000));
    xs.extend([f32::MIN_POSITIVE / 3.0, 1e-45, f32::MAX, 1.0, 0.999_999_94, 1.000_000_1]);
    let (u, at) = max_ulp(ln, f64::ln, &xs);
    assert!(u <= LN_MAX_ULP, "ln: {u} ulp at {at}");
}

#[test]
fn ln_1p_error_bound() {
    if !super::supported() {
        return;
    }
    let mut xs = samples(-0.5, 1e6, 400_000);
    xs.extend(samples(-1e-3, 1e-3, 200_000));
    xs.extend(samples(0.0, 1.0, 200_000));
    let (u, at) = max_ulp(ln_1p, f64::ln_1p, &xs);
    assert!(u <= LN1P_MAX_ULP, "ln_1p: {u} ulp at {at}");
}

#[test]
fn sigmoid_error_bound() {
    if !super::supported() {
        return;
    }
    let xs = samples(-110.0, 30.0, 400_000);
    let (u, at) = max_ulp(sigmoid, |x| 1.0 / (1.0 + (-x).exp()), &xs);
    assert!(u <= SIGMOID_MAX_ULP, "sigmoid: {u} ulp at {at}");
}

#[test]
fn softplus_error_bound() {
    if !super::supported() {
        return;
    }
    let xs = samples(-1e4, 1e4, 400_000);
    let mut xs2 = samples(-105.0, 30.0, 400_000);
    xs2.extend(xs);
    let (u, at) = max_ulp(softplus, |x| x.max(0.0) + (-x.abs()).exp().ln_1p(), &xs2);
    assert!(u <= SOFTPLUS_MAX_ULP, "softplus: {u} ulp at {at}");
}

#[test]
fn specials() {
    if !super::supported() {
        return;
    }
    let x = f32x8::new([f32::NEG_INFINITY, f32::INFINITY, f32::NAN, 0.0, -0.0, -1.0, 1e-45, 100.0]);
    let e = exp(x).to_array();
    assert_eq!(e[0], 0.0);
    assert_eq!(e[1], f32::INFINITY);
    assert!(e[2].is_nan());
    assert_eq!(e[3], 1.0);
    assert_eq!(e[7], f32::INFINITY);
    let l = ln(x).to_array();
    assert!(l[0].is_nan());
    assert_eq!(l[1], f32::INFINITY);
    assert!(l[2].is_nan());
    assert_eq!(l[3], f32::NEG_INFINITY);
    assert_eq!(l[4], f32::NEG_INFINITY);
    assert!(l[5].is_nan());
    assert!((l[6] as f64 - (1e-45f32 as f64).ln()).abs() < 1e-5);
    let p = ln_1p(x).to_array();
    assert!(p[0].is_nan());
    assert_eq!(p[1], f32::INFINITY);
    assert!(p[2].is_nan());
    assert_eq!(p[5], f32::NEG_INFINITY);
    let s = sigmoid(x).to_array();
    assert_eq!(s[0], 0.0);
    assert_eq!(s[1], 1.0);
    assert!(s[2].is_nan());
    assert_eq!(s[3], 0.5);
    let sp = softplus(x).to_array();
    assert_eq!(sp[0], 0.0);
    assert_eq!(sp[1], f32::INFINITY);
    assert!(sp[2].is_nan());
    let (sg, spn) = sigmoid_and_softplus_neg(x);
    assert_eq!(sg.to_array()[1], 1.0);
    assert_eq!(spn.to_array()[1], 0.0);
    assert_eq!(spn.to_array()[0], f32::INFINITY);
}
