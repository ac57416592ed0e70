//! Reference implementations, written from the definitions of `docs/LOSSES.md` and Berman et al.
//! (2018) Alg. 1 the way the reference code (bermanmaxim/LovaszSoftmax) states them: a comparator
//! sort, `g` as the first differences of the Jaccard loss along the sorted labels, the gradient
//! by the chain rule with `g` constant. Generic over `num_traits::Float`, so tests run them in
//! `f64` and finite-difference them. Slow (`O(P log P)` with allocation per problem) and
//! independent of the fast path ([`crate::sort`], [`crate::jaccard`], [`crate::driver`]).
//!
//! Layout: `pred` is `[n, c, s]` row-major; hinge targets are `pred`'s layout, softmax labels
//! `[n, s]`.

use num_traits::Float;

/// Descending argsort with ties by index and NaN first.
pub fn argsort_desc<T: Float>(e: &[T]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..e.len()).collect();
    idx.sort_by(|&a, &b| {
        let (x, y) = (e[a], e[b]);
        let ord = match (x.is_nan(), y.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Less,
            (false, true) => std::cmp::Ordering::Greater,
            _ => y.partial_cmp(&x).expect("not NaN"),
        };
        ord.then(a.cmp(&b))
    });
    idx
}

/// The reference's `lovasz_grad`: `jaccard_k = 1 - (G - cumsum(gt)_k) / (G + cumsum(1 - gt)_k)`,
/// then first differences.
pub fn lovasz_grad<T: Float>(gt_sorted: &[bool]) -> Vec<T> {
    let g = T::from(gt_sorted.iter().filter(|&&b| b).count()).expect("count");
    let (mut pos, mut neg) = (T::zero(), T::zero());
    let mut prev = T::zero();
    gt_sorted
        .iter()
        .map(|&b| {
            if b {
                pos = pos + T::one();
            } else {
                neg = neg + T::one();
            }
            let j = T::one() - (g - pos) / (g + neg);
            let d = j - prev;
            prev = j;
            d
        })
        .collect()
}

/// `lovasz_hinge_flat`: loss `sum relu(e_sorted) g` with `e = 1 - x (2y - 1)`, and its gradient
/// with respect to `x` (`-g (2y - 1)` where `e > 0`).
pub fn hinge_flat<T: Float>(x: &[T], y: &[bool]) -> (T, Vec<T>) {
    let mut grad = vec![T::zero(); x.len()];
    if x.is_empty() {
        return (T::zero(), grad);
    }
    let sign = |b: bool| if b { T::one() } else { -T::one() };
    let e: Vec<T> = x.iter().zip(y).map(|(&xv, &yv)| T::one() - xv * sign(yv)).collect();
    let order = argsort_desc(&e);
    let gt: Vec<bool> = order.iter().map(|&i| y[i]).collect();
    let g = lovasz_grad::<T>(&gt);
    let mut loss = T::zero();
    for (k, &i) in order.iter().enumerate() {
        if e[i] > T::zero() {
            loss = loss + e[i] * g[k];
            grad[i] = -g[k] * sign(y[i]);
        }
    }
    (loss, grad)
}

/// `lovasz_softmax_flat` for one class: loss `sum e_sorted g` with `e = |fg - p|`, and its
/// gradient with respect to `p` (`g sign(p - fg)`).
pub fn softmax_class_flat<T: Float>(p: &[T], fg: &[bool]) -> (T, Vec<T>) {
    let mut grad = vec![T::zero(); p.len()];
    let f = |b: bool| if b { T::one() } else { T::zero() };
    let e: Vec<T> = p.iter().zip(fg).map(|(&pv, &b)| (f(b) - pv).abs()).collect();
    let order = argsort_desc(&e);
    let gt: Vec<bool> = order.iter().map(|&i| fg[i]).collect();
    let g = lovasz_grad::<T>(&gt);
    let mut loss = T::zero();
    for (k, &i) in order.iter().enumerate() {
        loss = loss + e[i] * g[k];
        let d = p[i] - f(fg[i]);
        let sg = if d > T::zero() {
            T::one()
        } else if d < T::zero() {
            -T::one()
        } else {
            T::zero()
        };
        grad[i] = g[k] * sg;
    }
    (loss, grad)
}

/// `lovasz_hinge` on `[n, c, s]` logits `x` and targets `y` (values 0, 1 or `ignore`): one problem
/// per `(image, channel)` pair with `per_image`, else one per channel over the batch; the mean over
/// problems (a problem without valid pixel contributes 0). Returns the loss and `d loss / d x`.
pub fn lovasz_hinge<T: Float>(x: &[T], y: &[T], n: usize, c: usize, s: usize, per_image: bool, ignore: Option<T>) -> (T, Vec<T>) {
    let problems: Vec<Vec<usize>> = if per_image {
        (0..n * c).map(|nc| ((nc * s)..(nc + 1) * s).collect()).collect()
    } else {
        (0..c).map(|k| (0..n).flat_map(|m| ((m * c + k) * s)..((m * c + k + 1) * s)).collect()).collect()
    };
    let w = T::one() / T::from(problems.len()).expect("count");
    let mut grad = vec![T::zero(); x.len()];
    let mut loss = T::zero();
    for idx in problems {
        let valid: Vec<usize> = idx.into_iter().filter(|&i| Some(y[i]) != ignore).collect();
        let xs: Vec<T> = valid.iter().map(|&i| x[i]).collect();
        let ys: Vec<bool> = valid.iter().map(|&i| y[i] == T::one()).collect();
        let (l, g) = hinge_flat(&xs, &ys);
        loss = loss + l * w;
        for (&i, gv) in valid.iter().zip(g) {
            grad[i] = gv * w;
        }
    }
    (loss, grad)
}

/// `lovasz_softmax` on `[n, c, s]` logits (or probabilities when `!from_logits`) and `[n, s]`
/// labels: per class `c` (all classes, or those with a valid pixel when `!classes_all`) the
/// class problem over the batch (or per image with `per_image`, then the mean over images; an
/// image without valid pixel contributes 0). Returns the loss and its gradient with respect to
/// `pred` (through the softmax Jacobian when `from_logits`).
#[allow(clippy::too_many_arguments)]
pub fn lovasz_softmax<T: Float>(
    z: &[T],
    labels: &[i64],
    n: usize,
    c: usize,
    s: usize,
    classes_all: bool,
    per_image: bool,
    ignore: Option<i64>,
    from_logits: bool,
) -> (T, Vec<T>) {
    let mut p = z.to_vec();
    if from_logits {
        for m in 0..n {
            for j in 0..s {
                let at = |k: usize| (m * c + k) * s + j;
                let mx = (0..c).fold(T::neg_infinity(), |a, k| a.max(z[at(k)]));
                let sum = (0..c).fold(T::zero(), |a, k| a + (z[at(k)] - mx).exp());
                for k in 0..c {
                    p[at(k)] = (z[at(k)] - mx).exp() / sum;
                }
            }
        }
    }
    let groups: Vec<Vec<usize>> = if per_image { (0..n).map(|m| vec![m]).collect() } else { vec![(0..n).collect()] };
    let wg = T::one() / T::from(groups.len()).expect("count");
    let mut dp = vec![T::zero(); z.len()];
    let mut loss = T::zero();
    for imgs in groups {
        // valid pixels (image, offset)
        let px: Vec<(usize, usize)> =
            imgs.iter().flat_map(|&m| (0..s).map(move |j| (m, j))).filter(|&(m, j)| Some(labels[m * s + j]) != ignore).collect();
        if px.is_empty() {
            continue;
        }
        let counted: Vec<usize> = (0..c).filter(|&k| classes_all || px.iter().any(|&(m, j)| labels[m * s + j] == k as i64)).collect();
        if counted.is_empty() {
            continue;
        }
        let w = wg / T::from(counted.len()).expect("count");
        for k in counted {
            let ps: Vec<T> = px.iter().map(|&(m, j)| p[(m * c + k) * s + j]).collect();
            let fg: Vec<bool> = px.iter().map(|&(m, j)| labels[m * s + j] == k as i64).collect();
            let (l, g) = softmax_class_flat(&ps, &fg);
            loss = loss + l * w;
            for (&(m, j), gv) in px.iter().zip(g) {
                dp[(m * c + k) * s + j] = gv * w;
            }
        }
    }
    if !from_logits {
        return (loss, dp);
    }
    let mut dz = vec![T::zero(); z.len()];
    for m in 0..n {
        for j in 0..s {
            let at = |k: usize| (m * c + k) * s + j;
            let dot = (0..c).fold(T::zero(), |a, k| a + p[at(k)] * dp[at(k)]);
            for k in 0..c {
                dz[at(k)] = p[at(k)] * (dp[at(k)] - dot);
            }
        }
    }
    (loss, dz)
}
