//! The window method of one line of the two-sided transform: for sparse or finely mixed masks,
//! where every pixel has a pixel of the other side a few steps away, a fixed window of sites
//! around each pixel gives the exact answer in a few branch-free passes, where the runs and the
//! envelope of [`super::line`] spend most of their time on bookkeeping.
//!
//! With `f` the signed squared distances of the earlier axes (`> 0` inside, `< 0` outside), the
//! squared distance of pixel `p` to the other side is `min_q v_p(q) + ((p - q) s)^2` over every
//! `q` of the line, with `v_p(q) = |f[q]|` where `q` lies on `p`'s side (the nearest pixel of the
//! other side within `q`'s column) and `0` where it lies on the other side. Each candidate is the
//! squared distance to a real pixel of the other side, so any subset of the sites gives an upper
//! bound, and the sites `|p - q| <= k` give the exact value wherever that bound is at most
//! `((k + 1) s)^2` (every site further away costs at least that much). The window takes the
//! offsets `0..=k` for every pixel at once, `k` the smallest that would have settled every pixel
//! of the previous line (at most [`K_MAX`]); the few pixels left above the bound continue one
//! offset at a time until the offset alone costs more than their value. A line whose leftover
//! work exceeds [`EXTRA_PER_PIXEL`] steps per pixel (large empty regions) is left to the runs.
//!
//! Each candidate is summed as `v + t * t` with `t = (p - q) s`, the order of the brute force,
//! of [`super::short_run`] and of the envelope, so the methods give the same bits wherever the
//! minimum is reached by one site (always at unit spacing, where every value is an integer).

/// The widest window: offsets `|p - q| <= K_MAX`.
const K_MAX: usize = 6;

/// Offsets past the window, per pixel of the line on average, that the leftover pixels may take
/// before the line goes to the runs.
const EXTRA_PER_PIXEL: usize = 2;

/// The window's scratch, and which method the previous line of the image needed.
#[derive(Default)]
pub(crate) struct Window {
    /// `a[K_MAX + q]`: the site value of `q` for a pixel inside (`f[q]` inside, 0 outside);
    /// `+inf` in the `K_MAX` pads at each end.
    a: Vec<f64>,
    /// The same for a pixel outside (`-f[q]` outside, 0 inside).
    b: Vec<f64>,
    /// The window of the next line; 0 after a line that the window could not finish, until a
    /// line done by the runs shows values that a window would have settled.
    k: usize,
}

impl Window {
    /// Grows the scratch to lines of `n` pixels and starts a new mask (with a window of 2).
    pub(crate) fn start(&mut self, n: usize) {
        let len = n + 2 * K_MAX + L;
        if self.a.len() < len {
            self.a.resize(len, f64::INFINITY);
            self.b.resize(len, f64::INFINITY);
        }
        self.k = 2;
    }

    /// Whether the next line should try the window.
    pub(crate) fn wanted(&self) -> bool {
        self.k > 0
    }

    /// Records the largest squared distance `max` of a line done by the runs, which sets the next
    /// line's window: none if it would have to be wider than [`K_MAX`].
    pub(crate) fn record_runs(&mut self, max: f64, s: f64) {
        self.k = (1..=K_MAX).find(|&k| settled(k, s) >= max).unwrap_or(0);
    }

    /// Records the largest squared distance `max` of a line the window finished: the next line
    /// takes the window that would have settled it, at most [`K_MAX`] (its few pixels past that
    /// continue on their own).
    fn record_window(&mut self, max: f64, s: f64) {
        self.k = (1..=K_MAX).find(|&k| settled(k, s) >= max).unwrap_or(K_MAX);
    }
}

/// The largest squared distance that the offsets `0..=k` settle without looking further.
fn settled(k: usize, s: f64) -> f64 {
    let t = (k + 1) as f64 * s;
    t * t
}

/// Lanes of one vector of the window.
const L: usize = 4;

/// One vector of the window: four `f64` lanes as a plain array, whose lane-by-lane loops the
/// compiler turns into one 256-bit instruction each in the AVX2 copy of the transform (see
/// [`super::two_sided`]) and into two 128-bit ones in the SSE2 copy. (`wide::f64x4` is two
/// 128-bit halves in a build without AVX whatever the function's target features.)
#[derive(Clone, Copy)]
struct F4([f64; L]);

impl F4 {
    #[inline(always)]
    fn splat(v: f64) -> F4 {
        F4([v; L])
    }

    #[inline(always)]
    fn load(v: &[f64], at: usize) -> F4 {
        F4(*v[at..].first_chunk::<L>().expect("padded"))
    }

    #[inline(always)]
    fn add(self, o: F4) -> F4 {
        F4(std::array::from_fn(|i| self.0[i] + o.0[i]))
    }

    /// The lane-wise minimum (no NaN reaches the window: its values are `>= 0` or `+inf`).
    #[inline(always)]
    fn min(self, o: F4) -> F4 {
        F4(std::array::from_fn(|i| if self.0[i] < o.0[i] { self.0[i] } else { o.0[i] }))
    }

    /// `a` where `self > 0`, `b` elsewhere, lane by lane.
    #[inline(always)]
    fn positive_select(self, a: F4, b: F4) -> F4 {
        F4(std::array::from_fn(|i| if self.0[i] > 0.0 { a.0[i] } else { b.0[i] }))
    }
}

/// The window method on one line: `f` signed squared distances in, signed squared distances
/// out in `d` (the same signs); false (with `d` unspecified) if the line needs more offsets than
/// the budget allows. The window's width comes from the line before ([`Window::record_runs`],
/// [`Window::record_window`]).
#[inline(always)]
pub(crate) fn window_line(f: &[f64], s: f64, w: &mut Window, d: &mut [f64]) -> bool {
    const K: usize = K_MAX;
    let n = f.len();
    let kw = w.k.clamp(1, K_MAX);
    // the pads: K on the left, K plus a partial vector on the right
    let len = n + 2 * K + L;
    let (a, b) = (&mut w.a[..len], &mut w.b[..len]);
    a[..K].fill(f64::INFINITY);
    b[..K].fill(f64::INFINITY);
    a[K + n..].fill(f64::INFINITY);
    b[K + n..].fill(f64::INFINITY);
    for ((x, y), &v) in a[K..K + n].iter_mut().zip(&mut b[K..K + n]).zip(f) {
        *x = if v > 0.0 { v } else { 0.0 };
        *y = if v < 0.0 { -v } else { 0.0 };
    }
    let (a, b) = (&*a, &*b);
    let tts: [f64; K_MAX + 1] = std::array::from_fn(|k| {
        let t = k as f64 * s;
        t * t
    });
    let done = settled(kw, s);
    let mut budget = EXTRA_PER_PIXEL * n;
    let mut max = 0.0f64;
    for p0 in (0..n).step_by(L) {
        let (ap, bp) = (F4::load(a, K + p0), F4::load(b, K + p0));
        // offset 0: the pixel's own column
        let mut o = ap.add(bp);
        for (k, &tt) in tts.iter().enumerate().take(kw + 1) {
            if k == 0 {
                continue;
            }
            let tt = F4::splat(tt);
            for at in [K + p0 - k, K + p0 + k] {
                // the pixel is inside where ap > 0 (then its sites are a, else b)
                let c = ap.positive_select(F4::load(a, at), F4::load(b, at)).add(tt);
                o = c.min(o);
            }
        }
        let mut out = o.0;
        let lanes = L.min(n - p0);
        for (j, best) in out.iter_mut().enumerate().take(lanes) {
            if *best > done {
                let p = p0 + j;
                let Some(rest) = budget.checked_sub(1) else { return false };
                budget = rest;
                match extend(f, s, p, kw + 1, *best, &mut budget) {
                    Some(v) => *best = v,
                    None => return false,
                }
            }
            max = max.max(*best);
            if f[p0 + j] < 0.0 {
                *best = -*best;
            }
        }
        // a whole vector as one fixed-size store; the line's last partial vector out of line
        // (merged into one copy of variable length, both became a call to memcpy)
        match d[p0..].first_chunk_mut::<L>() {
            Some(whole) => *whole = out,
            None => store_tail(&out[..lanes], &mut d[p0..]),
        }
    }
    w.record_window(max, s);
    true
}

/// Writes the last, partial vector of a line.
#[cold]
#[inline(never)]
fn store_tail(v: &[f64], d: &mut [f64]) {
    d[..v.len()].copy_from_slice(v);
}

/// The search of pixel `p` past the window, from offset `k0`, starting from its value `best`,
/// one offset at a time until the offset alone costs `best`; `None` when the budget runs out.
fn extend(f: &[f64], s: f64, p: usize, k0: usize, mut best: f64, budget: &mut usize) -> Option<f64> {
    let n = f.len();
    let inside = f[p] > 0.0;
    let mut k = k0;
    loop {
        let t = k as f64 * s;
        let tt = t * t;
        if tt >= best {
            return Some(best);
        }
        *budget = budget.checked_sub(1)?;
        for q in [p.checked_sub(k), Some(p + k).filter(|&q| q < n)].into_iter().flatten() {
            let v = if (f[q] > 0.0) == inside { f[q].abs() } else { 0.0 };
            let c = v + tt;
            best = if c < best { c } else { best };
        }
        k += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::Envelope;
    use proptest::prelude::*;

    /// Lines of signed squared distances as the first axis leaves them: `+-(g s0)^2` with `g >= 1`
    /// steps, `+-inf` for a column without the other side; short gaps (the window finishes) and
    /// long ones (it gives up).
    fn signed_lines() -> impl Strategy<Value = (Vec<f64>, f64)> {
        let site = (any::<bool>(), prop_oneof![4 => 1u32..4, 2 => 1u32..40, 1 => Just(u32::MAX)]);
        (prop::collection::vec(site, 1..120), prop_oneof![Just(1.0f64), 0.3f64..3.0]).prop_map(|(sites, s0)| {
            let f = sites
                .into_iter()
                .map(|(inside, g)| {
                    let v = if g == u32::MAX { f64::INFINITY } else { (g as f64 * s0).powi(2) };
                    if inside {
                        v
                    } else {
                        -v
                    }
                })
                .collect();
            (f, s0)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Where the window finishes, it equals the runs bit for bit (both sum each candidate in
        /// the same order; the lines hold integers at unit spacing and distinct sums otherwise
        /// tie only by accident, so allow 1e-12 relative there).
        #[test]
        fn window_equals_runs((f, s) in signed_lines(), k in 1..=K_MAX) {
            let n = f.len();
            let mut w = Window::default();
            w.start(n);
            w.k = k;
            let mut got = vec![0.0; n];
            let finished = window_line(&f, s, &mut w, &mut got);
            let (mut runf, mut rund) = (vec![0.0; n + 2], vec![0.0; n + 2]);
            let mut env = Envelope::new(n + 2);
            let mut want = vec![0.0; n];
            super::super::runs(&f, s, &mut runf, &mut rund, &mut env, &mut want);
            if finished {
                for (p, (&g, &e)) in got.iter().zip(&want).enumerate() {
                    if s == 1.0 {
                        prop_assert_eq!(g.to_bits(), e.to_bits(), "pixel {} of {:?}", p, f);
                    } else {
                        prop_assert!((g - e).abs() <= 1e-12 * e.abs() && g.signum() == e.signum(), "pixel {}: {} vs {}", p, g, e);
                    }
                }
            } else {
                // it gives up only where a value lies beyond the window
                prop_assert!(want.iter().any(|v| v.abs() > settled(k, s)));
            }
        }
    }

    /// A line without the other side anywhere (every value +inf) is left to the runs, and a
    /// finely mixed one is finished by the window.
    #[test]
    fn gives_up_only_when_it_must() {
        let mut w = Window::default();
        w.start(50);
        let mut d = vec![0.0; 50];
        assert!(!window_line(&[f64::INFINITY; 50], 1.0, &mut w, &mut d));
        let mixed: Vec<f64> = (0..50).map(|i| if i % 3 == 0 { 1.0 } else { -4.0 }).collect();
        assert!(window_line(&mixed, 1.0, &mut w, &mut d));
        assert_eq!(&d[..4], &[1.0, -1.0, -1.0, 1.0]);
    }
}
