//! One line of the Felzenszwalb-Huttenlocher transform ([`fh_line`]): the lower envelope of the
//! parabolas rooted at a line of squared distances, cut at the sites that are final, with an
//! exhaustive search for short runs. Shared by the one-sided EDT ([`crate::engine`]) and the
//! two-sided transform of the distance losses ([`crate::two_sided`]); every function is
//! `#[inline(always)]`, so that each caller's level copy compiles it for its own level.

/// Runs of at most this many pixels are transformed by exhaustive search ([`exhaustive_run`]).
const SHORT_RUN: usize = 64;

/// Scratch of the lower envelope for lines up to `n` long: per parabola of the envelope, its
/// root `q` and value `f[q]` (as `f64`), `h = f[q] + s^2 q^2`, and the left end `zn / zd` of the
/// interval where it is the minimum.
pub(crate) struct Envelope {
    q: Vec<f64>,
    fq: Vec<f64>,
    h: Vec<f64>,
    zn: Vec<f64>,
    zd: Vec<f64>,
}

impl Envelope {
    /// Grows the scratch to lines of up to `n` pixels (no allocation when it is large enough).
    pub(crate) fn ensure(&mut self, n: usize) {
        if self.q.len() < n {
            *self = Envelope::new(n);
        }
    }

    pub(crate) fn new(n: usize) -> Self {
        Envelope { q: vec![0.0; n], fq: vec![0.0; n], h: vec![0.0; n], zn: vec![0.0; n], zd: vec![0.0; n] }
    }
}

/// One line of the Felzenszwalb-Huttenlocher transform: `d[p] = min_q f[q] + ((p - q) s)^2`
/// for every `p`, `+inf` where every `f[q]` is `+inf`. `f` holds squared distances: `+0` or
/// more, or `+inf`.
///
/// A site with `f[q] <= s^2` (a zero pixel, or a pixel whose nearest zero on the earlier axes is
/// within one step of this axis) is final and a barrier. Final: every other site gives
/// `f[q'] + ((q - q') s)^2 >= s^2 >= f[q]` (also after rounding, which is monotonic). Barrier:
/// for `p` on one side of `q`, a site `q'` beyond it has `|p - q'| >= |p - q| + 1`, so
/// `f[q'] + ((p - q') s)^2 >= ((p - q) s)^2 + (2 |p - q| + 1) s^2 > f[q] + ((p - q) s)^2` (the
/// margin, at least `2 s^2`, is far above rounding). The line is therefore cut at these sites,
/// which keep their value, and each run between them is transformed with the sites that bound
/// it as its only outside sites.
///
/// `PAIRED` picks the exhaustive search of the short runs: [`exhaustive_run_paired`] (two chains
/// of minimums) for the one-sided EDT, whose runs between final sites are mostly 1-24 pixels
/// long (EDT 128^3: 7.6 -> 6.7 ms), or [`exhaustive_run`] (one chain, `+inf` sites skipped) for
/// the two-sided transform, whose runs measured slower with two chains (`boundary` W1 +8%,
/// `hausdorff_dt` W1 +5%). Both give the same bits.
#[inline(always)]
pub(crate) fn fh_line<const PAIRED: bool>(f: &[f64], s: f64, env: &mut Envelope, d: &mut [f64]) {
    let n = f.len();
    let s2 = s * s;
    let mut i = 0;
    while i < n {
        if f[i] <= s2 {
            d[i] = f[i];
            i += 1;
            continue;
        }
        let a = i;
        while i < n && f[i] > s2 {
            i += 1;
        }
        let lo = a.saturating_sub(1);
        let hi = (i + 1).min(n);
        if i - a <= SHORT_RUN {
            if PAIRED {
                exhaustive_run_paired(&f[lo..hi], s, a - lo, &mut d[a..i]);
            } else {
                exhaustive_run(&f[lo..hi], s, a - lo, &mut d[a..i]);
            }
        } else {
            envelope_run(&f[lo..hi], s, env, a - lo, &mut d[a..i]);
        }
    }
}

/// `d[i] = min_q f[q] + ((out_lo + i - q) s)^2` by exhaustive search, for short runs: below
/// [`SHORT_RUN`] pixels it beats the envelope, whose pops and ranges are data-dependent branches.
/// Eight outputs at a time keep their minima in registers over every site (no branch per
/// output, no store of a partial minimum that the next site reads back: that masked store and
/// reload had taken a quarter of the EDT's time). Each candidate is summed as the envelope sums it, and a
/// minimum of the same candidates does not depend on the order they come in (none is NaN, and
/// none is -0), so both give the same bits. A site at `+inf` is skipped.
#[inline(always)]
fn exhaustive_run(f: &[f64], s: f64, out_lo: usize, d: &mut [f64]) {
    let x_lo = out_lo as i64 as f64;
    for (c, o) in d.chunks_mut(8).enumerate() {
        // the outputs' offsets from the run's start, as exact f64 integers
        let pos: [f64; 8] = std::array::from_fn(|k| (c * 8 + k) as f64);
        let mut acc = [f64::INFINITY; 8];
        let mut x0 = x_lo;
        for &fq in f {
            if fq != f64::INFINITY {
                acc = site_min(acc, fq, x0, &pos, s);
            }
            x0 -= 1.0;
        }
        o.copy_from_slice(&acc[..o.len()]);
    }
}

/// [`exhaustive_run`] with two minima per output, over the even and the odd sites, and the
/// smaller taken at the end: two chains of dependent minimums run at once, where one chain waits
/// on each minimum (4 cycles) in turn. No branch on `+inf` sites (their candidates are `+inf`,
/// never smaller). The same bits.
#[inline(always)]
fn exhaustive_run_paired(f: &[f64], s: f64, out_lo: usize, d: &mut [f64]) {
    let x_lo = out_lo as i64 as f64;
    for (c, o) in d.chunks_mut(8).enumerate() {
        // the outputs' offsets from the run's start, as exact f64 integers
        let pos: [f64; 8] = std::array::from_fn(|k| (c * 8 + k) as f64);
        let (mut even, mut odd) = ([f64::INFINITY; 8], [f64::INFINITY; 8]);
        let mut x0 = x_lo;
        let mut pairs = f.chunks_exact(2);
        for pair in &mut pairs {
            even = site_min(even, pair[0], x0, &pos, s);
            odd = site_min(odd, pair[1], x0 - 1.0, &pos, s);
            x0 -= 2.0;
        }
        if let [fq] = *pairs.remainder() {
            even = site_min(even, fq, x0, &pos, s);
        }
        let m: [f64; 8] = std::array::from_fn(|k| if odd[k] < even[k] { odd[k] } else { even[k] });
        store_prefix(o, &m);
    }
}

/// Writes the first `o.len()` (at most 8) values of `m` into `o`: one store of 8, or stores of
/// 4, 2 and 1 as the length's bits say. `o.copy_from_slice(&m[..o.len()])` compiled to a call to
/// `memcpy` per chunk (a `vzeroupper` before it, the search's constants reloaded after it); in the paired search this measured EDT
/// 128^3 6.16 -> 5.95 ms and 2048^2 9.41 -> 9.18 (interleaved, 5 rounds). The one-chain search
/// of the two-sided transform keeps `copy_from_slice`: with this store its callers measured
/// slower in the same run (`boundary` W1 8.3 -> 9.05 ms, `hausdorff_dt` W1 14.8 -> 16.6).
#[inline(always)]
fn store_prefix(o: &mut [f64], m: &[f64; 8]) {
    if let Ok(o8) = <&mut [f64; 8]>::try_from(&mut *o) {
        *o8 = *m;
        return;
    }
    let n = o.len();
    let mut at = 0;
    if n & 4 != 0 {
        o[..4].copy_from_slice(&m[..4]);
        at = 4;
    }
    if n & 2 != 0 {
        o[at..at + 2].copy_from_slice(&m[at..at + 2]);
        at += 2;
    }
    if n & 1 != 0 {
        o[at] = m[at];
    }
}

/// The minima `acc` of eight outputs at `x0 + pos[k]` steps from a site of value `fq`, with that
/// site's candidates `fq + ((x0 + pos[k]) s)^2` where smaller (a site at `+inf` changes none).
#[inline(always)]
fn site_min(acc: [f64; 8], fq: f64, x0: f64, pos: &[f64; 8], s: f64) -> [f64; 8] {
    std::array::from_fn(|k| {
        let t = (x0 + pos[k]) * s;
        let v = fq + t * t;
        if v < acc[k] {
            v
        } else {
            acc[k]
        }
    })
}

/// The lower envelope of the parabolas rooted at the finite `f[q]`, evaluated at
/// `out_lo..out_lo + d.len()` into `d`.
///
/// The envelope keeps parabolas `0..k`; parabola `j` is the minimum on `[z[j], z[j + 1]]`,
/// `z[j] = zn[j] / zd[j]` with `zd[j] > 0` (`z[0] = -inf`). The intersection of the parabolas
/// rooted at `q > v` is `((f[q] + s^2 q^2) - (f[v] + s^2 v^2)) / (2 s^2 (q - v))`, kept as that
/// fraction and compared by cross-multiplication. With unit spacing and integer `f`, numerators
/// and denominators are integers and every product is an integer below 2^53 (for lines up to
/// 2^16 pixels), so every comparison is exact (see [`crate::edt`]).
///
/// Parabola `j` serves the pixels `p` with `p zd[j + 1] <= zn[j + 1]`: the last one is
/// `floor(zn / zd)`, taken from one division and corrected by the exact product test, so each
/// parabola fills a contiguous range without a per-pixel branch. The value at `p` is summed as
/// `f[v] + ((p - v) s)^2`, the order a brute force uses.
#[inline(always)]
fn envelope_run(f: &[f64], s: f64, env: &mut Envelope, out_lo: usize, d: &mut [f64]) {
    let n = f.len();
    let s2 = s * s;
    let two_s2 = 2.0 * s2;
    let (rq, rf, h, zn, zd) = (&mut env.q[..n], &mut env.fq[..n], &mut env.h[..n], &mut env.zn[..n], &mut env.zd[..n]);
    // Positions are carried as f64 counters (exact integers): `usize as f64` is a multi-instruction
    // sequence on x86-64 without AVX-512. The top of the envelope lives in locals (`t*`), the
    // parabolas below it in the arrays, so the common case (no pop) reads no memory just written.
    let mut k = 0usize;
    let (mut tq, mut tf, mut th, mut tzn, mut tzd) = (0.0f64, 0.0f64, 0.0f64, f64::NEG_INFINITY, 1.0f64);
    let mut qf = -1.0f64;
    for &fq in f.iter() {
        qf += 1.0;
        if fq == f64::INFINITY {
            continue;
        }
        let hq = fq + s2 * (qf * qf);
        if k == 0 {
            (tq, tf, th, tzn, tzd) = (qf, fq, hq, f64::NEG_INFINITY, 1.0);
            k = 1;
            continue;
        }
        let (num, den) = loop {
            let num = hq - th;
            let den = two_s2 * (qf - tq);
            if k > 1 && num * tzd <= tzn * den {
                k -= 1;
                let b = k - 1;
                (tq, tf, th, tzn, tzd) = (rq[b], rf[b], h[b], zn[b], zd[b]);
            } else {
                break (num, den);
            }
        };
        let b = k - 1;
        (rq[b], rf[b], h[b], zn[b], zd[b]) = (tq, tf, th, tzn, tzd);
        (tq, tf, th, tzn, tzd) = (qf, fq, hq, num, den);
        k += 1;
    }
    if k > 0 {
        let b = k - 1;
        (rq[b], rf[b], h[b], zn[b], zd[b]) = (tq, tf, th, tzn, tzd);
    }
    if k == 0 {
        d.fill(f64::INFINITY);
        return;
    }
    // Output positions out_lo..end, as f64 counters too.
    let len = d.len();
    let end = (out_lo + len) as i64 as f64;
    let mut p = 0usize; // next output index into d
    let mut pf = out_lo as i64 as f64; // its position
    for j in 0..k {
        let stop = if j + 1 == k {
            len
        } else {
            let (num, den) = (zn[j + 1], zd[j + 1]);
            let mut e = (num / den).floor();
            if e * den > num {
                e -= 1.0;
            } else if (e + 1.0) * den <= num {
                e += 1.0;
            }
            // Parabola j serves positions pf..=e (possibly none).
            if e < pf {
                continue;
            }
            if e >= end - 1.0 {
                len
            } else {
                p + (e - pf) as usize + 1
            }
        };
        let (qv, fv) = (rq[j], rf[j]);
        let mut x = pf - qv;
        for o in d[p..stop].iter_mut() {
            let t = x * s;
            *o = fv + t * t;
            x += 1.0;
        }
        pf += (stop - p) as f64;
        p = stop;
        if p >= len {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// With spacing, the envelope may settle a near tie on the other site: the two sums differ by
    /// a few units in the last place of the f64.
    const SPACING_REL: f64 = 1e-13;

    /// A line of squared distances as the passes see them: zeros, +inf (no zero on the earlier
    /// axes) and integers (unit spacing) or arbitrary values (spacing), long enough to take the
    /// envelope path.
    fn line() -> impl Strategy<Value = Vec<f64>> {
        prop::collection::vec(
            prop_oneof![
                1 => Just(0.0f64),
                1 => Just(f64::INFINITY),
                6 => (0u32..2000).prop_map(|v| v as f64),
                2 => (0u32..40).prop_map(|v| (v * v) as f64),
            ],
            1..400,
        )
    }

    fn check(f: &[f64], s: f64) -> Result<(), TestCaseError> {
        let n = f.len();
        let mut env = Envelope::new(n);
        let mut by_envelope = vec![0.0; n];
        let mut by_search = vec![0.0; n];
        envelope_run(f, s, &mut env, 0, &mut by_envelope);
        exhaustive_run(f, s, 0, &mut by_search);
        let (mut by_line, mut by_line_paired) = (vec![0.0; n], vec![0.0; n]);
        fh_line::<false>(f, s, &mut env, &mut by_line);
        fh_line::<true>(f, s, &mut env, &mut by_line_paired);
        for p in 0..n {
            let (a, b) = (by_envelope[p], by_search[p]);
            if s == 1.0 {
                prop_assert_eq!(a.to_bits(), b.to_bits(), "envelope at {}", p);
            } else {
                prop_assert!(a == b || (a - b).abs() <= SPACING_REL * b, "envelope at {}: {} vs {}", p, a, b);
            }
            for (what, c) in [("fh_line", by_line[p]), ("fh_line paired", by_line_paired[p])] {
                if s == 1.0 {
                    prop_assert_eq!(c.to_bits(), b.to_bits(), "{} at {}", what, p);
                } else {
                    prop_assert!(c == b || (c - b).abs() <= SPACING_REL * b, "{} at {}: {} vs {}", what, p, c, b);
                }
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// The envelope (long runs) and the exhaustive search (short runs) agree on whole lines of
        /// any length, and so does the line driver that cuts at barriers and picks between them.
        #[test]
        fn envelope_equals_exhaustive_search(f in line()) {
            check(&f, 1.0)?;
        }

        #[test]
        fn envelope_equals_exhaustive_search_with_spacing(f in line(), s in 0.1f64..7.0) {
            check(&f, s)?;
        }
    }

    /// `min_q f[q] + ((p - q) s)^2` over every site of the line, one site after the other.
    fn brute(f: &[f64], s: f64, p: usize) -> f64 {
        let mut m = f64::INFINITY;
        for (q, &fq) in f.iter().enumerate() {
            let t = (p as f64 - q as f64) * s;
            let v = fq + t * t;
            if v < m {
                m = v;
            }
        }
        m
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Both exhaustive searches (one chain of minimums, and two interleaved ones) give the
        /// bits of a search over the sites one after the other, for any range of outputs of the
        /// line (as a run inside a longer line is transformed), with and without spacing.
        #[test]
        fn exhaustive_search_equals_a_search_in_site_order(
            f in line(),
            cut in (0.0f64..1.0, 0.0f64..1.0),
            s in prop_oneof![Just(1.0f64), 0.1f64..7.0],
        ) {
            let n = f.len();
            let a = ((cut.0 * n as f64) as usize).min(n - 1);
            let b = a + 1 + ((cut.1 * (n - a - 1) as f64) as usize);
            let (mut d, mut dp) = (vec![f64::NAN; b - a], vec![f64::NAN; b - a]);
            exhaustive_run(&f, s, a, &mut d);
            exhaustive_run_paired(&f, s, a, &mut dp);
            for (i, (&got, &got_paired)) in d.iter().zip(&dp).enumerate() {
                let want = brute(&f, s, a + i);
                prop_assert_eq!(got.to_bits(), want.to_bits(), "output {} of {}..{}: {} vs {}", a + i, a, b, got, want);
                prop_assert_eq!(got_paired.to_bits(), want.to_bits(), "paired: output {} of {}..{}: {} vs {}", a + i, a, b, got_paired, want);
            }
        }
    }

    #[test]
    fn all_infinite_line_stays_infinite() {
        let f = vec![f64::INFINITY; 100];
        let mut env = Envelope::new(100);
        let mut d = vec![0.0; 100];
        fh_line::<false>(&f, 1.0, &mut env, &mut d);
        assert!(d.iter().all(|&v| v == f64::INFINITY));
        fh_line::<true>(&f, 1.0, &mut env, &mut d);
        assert!(d.iter().all(|&v| v == f64::INFINITY));
    }
}
