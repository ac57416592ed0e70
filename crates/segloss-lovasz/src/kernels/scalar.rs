//! Scalar reference kernels (see [`super`]): one pixel at a time, written from the formulas.

/// `p_c = exp(z_c - m) / sum_k exp(z_k - m)` per pixel of the range, `m = max_k z_k`.
pub fn softmax(z: &[&[f32]], p: &mut [&mut [f32]]) {
    let len = z.first().map_or(0, |s| s.len());
    for j in 0..len {
        let m = z.iter().fold(f32::NEG_INFINITY, |m, zc| m.max(zc[j]));
        let sum: f32 = z.iter().map(|zc| (zc[j] - m).exp()).sum();
        for (pc, zc) in p.iter_mut().zip(z) {
            pc[j] = (zc[j] - m).exp() / sum;
        }
    }
}

/// `g_c <- p_c (g_c - sum_k p_k g_k)` per pixel of the range, with `p = softmax(z)`.
pub fn softmax_backward(z: &[&[f32]], g: &mut [&mut [f32]]) {
    let len = z.first().map_or(0, |s| s.len());
    let mut p = vec![0.0f32; z.len()];
    for j in 0..len {
        let m = z.iter().fold(f32::NEG_INFINITY, |m, zc| m.max(zc[j]));
        let sum: f32 = z.iter().map(|zc| (zc[j] - m).exp()).sum();
        for (pk, zc) in p.iter_mut().zip(z) {
            *pk = (zc[j] - m).exp() / sum;
        }
        let dot: f32 = p.iter().zip(g.iter()).map(|(pk, gk)| pk * gk[j]).sum();
        for (pk, gk) in p.iter().zip(g.iter_mut()) {
            gk[j] = pk * (gk[j] - dot);
        }
    }
}
