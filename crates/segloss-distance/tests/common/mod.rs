//! Brute-force references written from the definitions (independent of the crate's algorithms),
//! and proptest strategies for small masks and label images.
#![allow(dead_code)]

use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;

/// Row-major multi-index of `flat` in `shape`.
pub fn coords(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut c = vec![0; shape.len()];
    for a in (0..shape.len()).rev() {
        c[a] = flat % shape[a];
        flat /= shape[a];
    }
    c
}

/// Squared distance between two pixels, `sum_a ((x_a - y_a) * s_a)^2` summed in axis order.
pub fn sq_dist(x: &[usize], y: &[usize], spacing: &[f64]) -> f64 {
    let mut acc = 0.0f64;
    for a in 0..x.len() {
        let t = (x[a] as f64 - y[a] as f64) * spacing[a];
        acc = if a == 0 { t * t } else { acc + t * t };
    }
    acc
}

/// O(n^2) squared EDT in f64: min over zero pixels (+inf without any).
pub fn brute_sq_edt(mask: &ArrayD<u8>, spacing: &[f64]) -> Vec<f64> {
    let shape = mask.shape().to_vec();
    let flat: Vec<u8> = mask.iter().copied().collect();
    let zeros: Vec<Vec<usize>> = (0..flat.len()).filter(|&i| flat[i] == 0).map(|i| coords(i, &shape)).collect();
    (0..flat.len())
        .map(|i| {
            if flat[i] == 0 {
                return 0.0;
            }
            let x = coords(i, &shape);
            zeros.iter().map(|z| sq_dist(&x, z, spacing)).fold(f64::INFINITY, f64::min)
        })
        .collect()
}

/// Brute-force EDT as the crate outputs it (f32 of sqrt in f64, or of the square).
pub fn brute_edt(mask: &ArrayD<u8>, spacing: &[f64], squared: bool) -> Vec<f32> {
    brute_sq_edt(mask, spacing).into_iter().map(|d| if squared { d as f32 } else { d.sqrt() as f32 }).collect()
}

/// Neighbour offsets of a connectivity, as scipy's generate_binary_structure(rank, 1 or rank):
/// every offset in {-1,0,1}^rank except 0 with at most `max_nonzero` nonzero entries.
pub fn neighbour_offsets(rank: usize, full: bool) -> Vec<Vec<isize>> {
    let mut out = vec![];
    let total = 3usize.pow(rank as u32);
    for t in 0..total {
        let mut o = vec![0isize; rank];
        let mut x = t;
        for v in o.iter_mut() {
            *v = (x % 3) as isize - 1;
            x /= 3;
        }
        let nz = o.iter().filter(|&&v| v != 0).count();
        if nz > 0 && (full || nz == 1) {
            out.push(o);
        }
    }
    out
}

/// Flood-fill labelling (breadth first), components numbered in order of discovery.
pub fn flood_label(mask: &ArrayD<u8>, full: bool) -> (Vec<u32>, usize) {
    let shape = mask.shape().to_vec();
    let flat: Vec<u8> = mask.iter().copied().collect();
    let offs = neighbour_offsets(shape.len(), full);
    let mut lab = vec![0u32; flat.len()];
    let mut n = 0u32;
    for s in 0..flat.len() {
        if flat[s] == 0 || lab[s] != 0 {
            continue;
        }
        n += 1;
        lab[s] = n;
        let mut queue = std::collections::VecDeque::from([s]);
        while let Some(p) = queue.pop_front() {
            let c = coords(p, &shape);
            'o: for o in &offs {
                let mut q = 0usize;
                for a in 0..shape.len() {
                    let v = c[a] as isize + o[a];
                    if v < 0 || v >= shape[a] as isize {
                        continue 'o;
                    }
                    q = q * shape[a] + v as usize;
                }
                if flat[q] != 0 && lab[q] == 0 {
                    lab[q] = n;
                    queue.push_back(q);
                }
            }
        }
    }
    (lab, n as usize)
}

/// Whether two labellings are equal up to a renumbering of the components (0 fixed).
pub fn same_partition(a: &[u32], b: &[u32]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut ab = std::collections::HashMap::new();
    let mut ba = std::collections::HashMap::new();
    for (&x, &y) in a.iter().zip(b) {
        if (x == 0) != (y == 0) {
            return false;
        }
        if *ab.entry(x).or_insert(y) != y || *ba.entry(y).or_insert(x) != x {
            return false;
        }
    }
    true
}

/// Brute-force U-Net weights from instance labels (0 background), written from eq. 2:
/// d_k(x) = min over pixels y of object k of |x - y|, d1 <= d2 the two smallest over k.
pub fn brute_unet(labels: &ArrayD<i64>, w0: f64, sigma: f64, fixed: Option<(f64, f64)>) -> Vec<f64> {
    let shape = labels.shape().to_vec();
    let flat: Vec<i64> = labels.iter().copied().collect();
    let n = flat.len();
    let mut objects: Vec<i64> = flat.iter().copied().filter(|&v| v != 0).collect();
    objects.sort();
    objects.dedup();
    let pixels: Vec<Vec<Vec<usize>>> =
        objects.iter().map(|&k| (0..n).filter(|&i| flat[i] == k).map(|i| coords(i, &shape)).collect()).collect();
    let n_obj = flat.iter().filter(|&&v| v != 0).count();
    let n_bg = n - n_obj;
    let (wb, wo) = fixed.unwrap_or_else(|| {
        let h = |c: usize| if c == 0 { 0.0 } else { n as f64 / (2.0 * c as f64) };
        (h(n_bg), h(n_obj))
    });
    let ones = vec![1.0; shape.len()];
    (0..n)
        .map(|i| {
            if flat[i] != 0 {
                return wo;
            }
            if objects.len() < 2 {
                return wb;
            }
            let x = coords(i, &shape);
            let mut d: Vec<f64> =
                pixels.iter().map(|px| px.iter().map(|y| sq_dist(&x, y, &ones)).fold(f64::INFINITY, f64::min).sqrt()).collect();
            d.sort_by(|a, b| a.partial_cmp(b).unwrap());
            wb + w0 * (-(d[0] + d[1]).powi(2) / (2.0 * sigma * sigma)).exp()
        })
        .collect()
}

/// A shape of rank 2 (sides 1..=max2) or 3 (sides 1..=max3).
pub fn small_shape(max2: usize, max3: usize) -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![prop::collection::vec(1..=max2, 2), prop::collection::vec(1..=max3, 3)]
}

/// A binary mask of the given shape whose density is itself random (sparse to dense, plus the
/// all-zero and all-one masks).
pub fn mask_of(shape: Vec<usize>) -> impl Strategy<Value = ArrayD<u8>> {
    let n: usize = shape.iter().product();
    prop_oneof![
        1 => Just(vec![0u8; n]),
        1 => Just(vec![1u8; n]),
        8 => (0.02f64..0.98).prop_flat_map(move |p| prop::collection::vec(prop::bool::weighted(p).prop_map(|b| b as u8), n)),
    ]
    .prop_map(move |v| ArrayD::from_shape_vec(IxDyn(&shape), v).unwrap())
}

/// Spacing per axis in [0.2, 5].
pub fn spacing_of(rank: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(0.2f64..5.0, rank)
}

/// An instance-label image: up to `k` objects as small random blobs (rectangles and single
/// pixels, later ones overwriting earlier ones), labels drawn from sparse positive values.
pub fn instances_of(shape: Vec<usize>, k: usize) -> impl Strategy<Value = ArrayD<i64>> {
    let rank = shape.len();
    let sh = shape.clone();
    prop::collection::vec((prop::collection::vec(0.0f64..1.0, rank), prop::collection::vec(1usize..4, rank), 1i64..1000), 0..=k).prop_map(
        move |blobs| {
            let mut a = ArrayD::<i64>::zeros(IxDyn(&sh));
            for (pos, ext, lab) in blobs {
                let lo: Vec<usize> = pos.iter().zip(&sh).map(|(p, &s)| ((p * s as f64) as usize).min(s - 1)).collect();
                for (idx, v) in a.indexed_iter_mut() {
                    if (0..rank).all(|ax| idx[ax] >= lo[ax] && idx[ax] < lo[ax] + ext[ax]) {
                        *v = lab;
                    }
                }
            }
            a
        },
    )
}

/// Units in the last place between two finite f32 of the same sign (or both infinite and equal).
pub fn ulps(a: f32, b: f32) -> u32 {
    if a == b {
        return 0;
    }
    if !a.is_finite() || !b.is_finite() || a.is_sign_negative() != b.is_sign_negative() {
        return u32::MAX;
    }
    a.to_bits().abs_diff(b.to_bits())
}

/// Two rayon pools of 1 and 2 threads.
pub fn pools() -> (rayon::ThreadPool, rayon::ThreadPool) {
    (rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap(), rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap())
}

/// A deterministic mask of random discs (foreground inside), seeded.
pub fn disc_mask(shape: &[usize], discs: usize, seed: u64) -> ArrayD<u8> {
    let mut rng = segloss_core::rng::Rng::new(seed);
    let mut next = || rng.next_u64();
    let rank = shape.len();
    let mut a = ArrayD::<u8>::zeros(IxDyn(shape));
    let centres: Vec<(Vec<f64>, f64)> = (0..discs)
        .map(|_| {
            let c: Vec<f64> = shape.iter().map(|&d| (next() % d as u64) as f64).collect();
            let r = 2.0 + (next() % 12) as f64;
            (c, r)
        })
        .collect();
    for (idx, v) in a.indexed_iter_mut() {
        for (c, r) in &centres {
            let d2: f64 = (0..rank).map(|ax| (idx[ax] as f64 - c[ax]).powi(2)).sum();
            if d2 <= r * r {
                *v = 1;
            }
        }
    }
    a
}
