//! The sort the Lovász losses are made of: a descending argsort of `f32` errors, ties broken by
//! pixel index, so that results are deterministic.
//!
//! Each pixel becomes one `u64` key, `(order bits of the error) << 32 | payload`, whose ascending
//! order is the descending order of the errors with ties in ascending payload order (the payload
//! is the pixel index, possibly shifted left to carry a label bit, see [`make_key`]):
//! - the order bits ([`desc_bits`]) map an `f32` to a `u32` whose ascending order is the descending
//!   order of the floats: `+0.0` and `-0.0` are one value (a tie); **every NaN sorts first**
//!   (before `+inf`, as `torch.sort(descending=True)` places NaN), all NaN payloads being one
//!   value, so NaN pixels come first in index order;
//! - [`radix_sort_hi32`]: a stable LSD radix sort on the high 32 bits only (three passes of 11
//!   bits below 2^20 keys, four of 8 bits from there on; one histogram pass for all, a pass
//!   skipped when every key has the same digit). Keys built in ascending payload order (as every
//!   key builder here does) come out fully sorted by the whole `u64`, since a stable sort keeps
//!   the payload order inside a tie.
//! - [`unstable_sort`]: `slice::sort_unstable` on the whole `u64` (pattern-defeating quicksort).
//!
//! Measured with `cargo bench --bench lovasz` (criterion medians, release, keys of uniformly
//! random errors, on the project's 2-core machine): first with the workspace built for x86-64-v3
//! at load average about 2 (in brackets a run at load 4.5), then in the default build on
//! 2026-11-28 (git c59da30, nothing else running; these calls are outside the Lovász problems' AVX2 copies,
//! so they run the build's own code):
//!
//! | keys | radix | `sort_unstable` | radix, 2026-11-28 | `sort_unstable`, 2026-11-28 |
//! |---|---|---|---|---|
//! | 64 K | 0.18 ms (0.29) | 0.54 ms (0.87) | 0.35 ms | 0.73 ms |
//! | 1 M | 4.3 ms (10.4) | 11.1 ms (19.2) | 7.7 ms | 14.9 ms |
//! | 4 M | 27.6 ms (46) | 47.0 ms (96) | 79.6 ms | 76.2 ms |
//!
//! The radix sort wins at 64 K and 1 M keys and ties at 4 M (the Lovász problems of the standard
//! workloads have 64 K to 256 K keys), so it is the default ([`SortAlgo::default`]); both give the
//! same order (keys are distinct). Memory: the radix sort needs a scratch buffer as long as the
//! keys (8 bytes per key).

/// Which sort orders the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortAlgo {
    /// Stable LSD radix sort on the high 32 bits ([`radix_sort_hi32`]); the default (faster at
    /// 64 K and 1 M keys, even at 4 M).
    #[default]
    Radix,
    /// `sort_unstable` on the whole `u64` ([`unstable_sort`]).
    Unstable,
}

/// Order bits of an error: ascending `u32` order is descending `f32` order. `-0.0` maps like
/// `+0.0`; every NaN maps to 0 (first).
#[inline(always)]
pub fn desc_bits(e: f32) -> u32 {
    if e.is_nan() {
        return 0;
    }
    let b = if e == 0.0 { 0u32 } else { e.to_bits() };
    // ascending order bits: flip all bits of negatives, the sign bit of positives
    let asc = if b & 0x8000_0000 != 0 { !b } else { b | 0x8000_0000 };
    // descending: complement; +inf -> 0x007F_FFFF > 0, so NaN (0) stays first
    !asc
}

/// The error encoded by [`desc_bits`] (NaN for 0; `+0.0` for zero).
#[inline(always)]
pub fn error_of_bits(d: u32) -> f32 {
    if d == 0 {
        return f32::NAN;
    }
    let asc = !d;
    let b = if asc & 0x8000_0000 != 0 { asc & 0x7FFF_FFFF } else { !asc };
    f32::from_bits(b)
}

/// [`desc_bits`] for an error known to be positive or NaN (branch-free; other inputs give
/// meaningless bits).
#[inline(always)]
pub fn desc_bits_positive(e: f32) -> u32 {
    let d = !e.to_bits() & 0x7FFF_FFFF;
    if e.is_nan() {
        0
    } else {
        d
    }
}

/// [`error_of_bits`] for bits made by [`desc_bits_positive`] (branch-free).
#[inline(always)]
pub fn positive_error_of_bits(d: u32) -> f32 {
    let e = f32::from_bits(0x7FFF_FFFF - d);
    if d == 0 {
        f32::NAN
    } else {
        e
    }
}

/// A key: `desc_bits(e) << 32 | payload`.
#[inline(always)]
pub fn make_key(e: f32, payload: u32) -> u64 {
    ((desc_bits(e) as u64) << 32) | payload as u64
}

/// The error of a key.
#[inline(always)]
pub fn key_error(k: u64) -> f32 {
    error_of_bits((k >> 32) as u32)
}

/// The payload (low 32 bits) of a key.
#[inline(always)]
pub fn key_payload(k: u64) -> u32 {
    k as u32
}

/// Stable LSD radix sort of `keys` by their high 32 bits.
///
/// Inside a group of equal high halves the input order is kept, so keys whose low halves ascend in
/// input order (keys built in payload order) end up sorted by the whole `u64`. `scratch` is
/// grown to `keys.len()` if shorter (its contents are overwritten); the result is in `keys`.
///
/// Digits: below 2^20 keys, three passes of 11 bits (2048 buckets); from 2^20 keys on, four passes
/// of 8 bits, whose 256 write streams per scatter pass stay within the TLB and L1 reach once the
/// buffers outgrow the L2 cache. Measured crossover (CPU time, one thread): 11-bit digits 0.09 ms
/// vs 0.20 ms at 64 K keys and 2.1 ms vs 2.7 ms at 512 K; 8-bit digits 6.8 ms vs 8.2 ms at 1 M and
/// 30 ms vs 38 ms at 4 M.
pub fn radix_sort_hi32(keys: &mut [u64], scratch: &mut Vec<u64>) {
    if keys.len() < RADIX_BYTE_DIGITS_FROM {
        radix_sort_hi32_digits::<11>(keys, scratch)
    } else {
        radix_sort_hi32_digits::<8>(keys, scratch)
    }
}

/// Key count from which [`radix_sort_hi32`] uses 8-bit digits instead of 11-bit ones.
pub const RADIX_BYTE_DIGITS_FROM: usize = 1 << 20;

/// [`radix_sort_hi32`] with `BITS`-bit digits (8 or 11; for measurements).
pub fn radix_sort_hi32_digits<const BITS: u32>(keys: &mut [u64], scratch: &mut Vec<u64>) {
    let n = keys.len();
    if scratch.len() < n {
        scratch.resize(n, 0);
    }
    if radix_core::<BITS>(keys, &mut scratch[..n]) {
        keys.copy_from_slice(&scratch[..n]);
    }
}

/// The radix passes; returns whether the sorted keys ended in `scratch` (same length as `keys`).
#[inline(always)]
fn radix_core<const BITS: u32>(keys: &mut [u64], scratch: &mut [u64]) -> bool {
    let n = keys.len();
    if n < 2 {
        return false;
    }
    if n <= 64 {
        // insertion sort by the high half: stable, and fastest for a handful of keys
        for i in 1..n {
            let k = keys[i];
            let mut j = i;
            while j > 0 && (keys[j - 1] >> 32) > (k >> 32) {
                keys[j] = keys[j - 1];
                j -= 1;
            }
            keys[j] = k;
        }
        return false;
    }
    let passes = 32u32.div_ceil(BITS) as usize;
    let radix = 1usize << BITS;
    let mask = (radix - 1) as u64;
    let mut hist = vec![0u32; passes * radix];
    for &k in keys.iter() {
        let hi = k >> 32;
        for p in 0..passes {
            hist[p * radix + ((hi >> (p as u32 * BITS)) & mask) as usize] += 1;
        }
    }
    let mut in_keys = true; // whether the current data lives in `keys`
    for p in 0..passes {
        let h = &mut hist[p * radix..(p + 1) * radix];
        if h.iter().any(|&c| c as usize == n) {
            continue; // every key has the same digit: the pass would not move anything
        }
        let mut sum = 0u32;
        for c in h.iter_mut() {
            let t = *c;
            *c = sum;
            sum += t;
        }
        let shift = 32 + p as u32 * BITS;
        let (src, dst): (&[u64], &mut [u64]) = if in_keys { (&*keys, &mut *scratch) } else { (&*scratch, &mut *keys) };
        for &k in src {
            let d = ((k >> shift) & mask) as usize;
            let at = h[d] as usize;
            dst[at] = k;
            h[d] += 1;
        }
        in_keys = !in_keys;
    }
    !in_keys
}

/// [`sort_keys`] on owned buffers: when the radix passes end in `scratch`, the two vectors are
/// swapped instead of copying the keys back.
#[inline(always)]
pub fn sort_keys_vec(keys: &mut Vec<u64>, scratch: &mut Vec<u64>, algo: SortAlgo) {
    match algo {
        SortAlgo::Unstable => unstable_sort(keys),
        SortAlgo::Radix => {
            let n = keys.len();
            if scratch.len() < n {
                scratch.resize(n, 0);
            }
            let in_scratch = if n < RADIX_BYTE_DIGITS_FROM {
                radix_core::<11>(keys, &mut scratch[..n])
            } else {
                radix_core::<8>(keys, &mut scratch[..n])
            };
            if in_scratch {
                scratch.truncate(n);
                std::mem::swap(keys, scratch);
            }
        }
    }
}

/// `sort_unstable` of the whole `u64` keys (keys are distinct when payloads are, so the result is
/// the same as [`radix_sort_hi32`]'s for keys built in payload order).
pub fn unstable_sort(keys: &mut [u64]) {
    keys.sort_unstable();
}

/// Sorts keys built in ascending payload order with `algo`.
pub fn sort_keys(keys: &mut [u64], scratch: &mut Vec<u64>, algo: SortAlgo) {
    match algo {
        SortAlgo::Radix => radix_sort_hi32(keys, scratch),
        SortAlgo::Unstable => unstable_sort(keys),
    }
}

/// The descending argsort of `errors`: indices in order of decreasing error, ties (including
/// `+0.0` and `-0.0`) in increasing index, NaN first. `2^32` errors or more (indices are 32-bit)
/// are a [`LossError::InvalidShape`](segloss_core::LossError::InvalidShape).
pub fn argsort_desc(errors: &[f32], algo: SortAlgo) -> segloss_core::Result<Vec<u32>> {
    if errors.len() > u32::MAX as usize {
        return Err(segloss_core::LossError::InvalidShape {
            name: "errors",
            shape: vec![errors.len()],
            reason: "argsort_desc returns 32-bit indices: at most 2^32 - 1 errors".into(),
        });
    }
    let mut keys: Vec<u64> = errors.iter().enumerate().map(|(i, &e)| make_key(e, i as u32)).collect();
    let mut scratch = Vec::new();
    sort_keys_vec(&mut keys, &mut scratch, algo);
    Ok(keys.into_iter().map(key_payload).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The order the keys must produce, written with a comparator.
    fn reference(errors: &[f32]) -> Vec<u32> {
        let mut idx: Vec<u32> = (0..errors.len() as u32).collect();
        idx.sort_by(|&a, &b| {
            let (x, y) = (errors[a as usize], errors[b as usize]);
            let ord = match (x.is_nan(), y.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Less,
                (false, true) => std::cmp::Ordering::Greater,
                _ => y.partial_cmp(&x).unwrap(),
            };
            ord.then(a.cmp(&b))
        });
        idx
    }

    #[test]
    fn positive_bits_agree() {
        for v in [f32::NAN, -f32::NAN, f32::INFINITY, 3.5, 1.0, 1e-40, f32::MIN_POSITIVE, f32::MAX] {
            assert_eq!(desc_bits_positive(v), desc_bits(v), "{v}");
            let back = positive_error_of_bits(desc_bits_positive(v));
            assert!(back.to_bits() == v.to_bits() || (back.is_nan() && v.is_nan()), "{v}");
        }
    }

    #[test]
    fn bits_round_trip_and_order() {
        let vals = [f32::NAN, f32::INFINITY, 3.5, 1.0, 1e-40, 0.0, -1e-40, -1.0, -f32::MAX, f32::NEG_INFINITY];
        for w in vals.windows(2) {
            assert!(desc_bits(w[0]) < desc_bits(w[1]), "{} should sort before {}", w[0], w[1]);
        }
        for &v in &vals[1..] {
            assert_eq!(error_of_bits(desc_bits(v)).to_bits(), v.to_bits());
        }
        assert!(error_of_bits(desc_bits(f32::NAN)).is_nan());
        assert_eq!(desc_bits(-0.0), desc_bits(0.0));
        assert_eq!(desc_bits(-f32::NAN), 0);
    }

    #[test]
    fn ties_by_index_and_nan_first() {
        let e = [0.5, f32::NAN, 0.5, -0.0, 2.0, 0.0, -f32::NAN, 0.5];
        let want = vec![1, 6, 4, 0, 2, 7, 3, 5];
        assert_eq!(argsort_desc(&e, SortAlgo::Radix).unwrap(), want);
        assert_eq!(argsort_desc(&e, SortAlgo::Unstable).unwrap(), want);
        assert_eq!(with_digits::<8>(&e), want);
        assert_eq!(with_digits::<11>(&e), want);
    }

    proptest! {
        #[test]
        fn radix_and_unstable_match_reference(
            e in prop::collection::vec(prop_oneof![4 => -10.0f32..10.0, 1 => prop::sample::select(vec![0.0f32, -0.0, 1.0, f32::NAN, f32::INFINITY, -f32::INFINITY])], 0..400)
        ) {
            let want = reference(&e);
            prop_assert_eq!(argsort_desc(&e, SortAlgo::Radix).unwrap(), want.clone());
            prop_assert_eq!(argsort_desc(&e, SortAlgo::Unstable).unwrap(), want.clone());
            prop_assert_eq!(with_digits::<8>(&e), want.clone());
            prop_assert_eq!(with_digits::<11>(&e), want);
        }
    }

    fn with_digits<const B: u32>(e: &[f32]) -> Vec<u32> {
        let mut keys: Vec<u64> = e.iter().enumerate().map(|(i, &v)| make_key(v, i as u32)).collect();
        radix_sort_hi32_digits::<B>(&mut keys, &mut Vec::new());
        keys.into_iter().map(key_payload).collect()
    }

    #[test]
    fn large_random_matches() {
        let mut s = 0x1234_5678_9abc_def0u64;
        let e: Vec<f32> = (0..200_000)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.3) * if s & 1 == 0 { 1.0 } else { 1e-3 }
            })
            .collect();
        let want = reference(&e);
        assert_eq!(argsort_desc(&e, SortAlgo::Radix).unwrap(), want);
        assert_eq!(argsort_desc(&e, SortAlgo::Unstable).unwrap(), want);
        assert_eq!(with_digits::<8>(&e), want);
        assert_eq!(with_digits::<11>(&e), want);
    }
}
