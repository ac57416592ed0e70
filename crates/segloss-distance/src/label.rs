//! Connected-component labelling of binary masks.

use crate::check_rank_and_size;
use crate::values::MaskValue;
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use segloss_core::{LossError, Result};

/// The connectivity of a rank, validated: `None` is the default (4 in 2D, 6 in 3D); 2D takes 4
/// or 8, 3D takes 6 or 26 (scipy's `generate_binary_structure(rank, 1)` and `(rank, rank)`).
pub(crate) fn resolve_connectivity(connectivity: Option<u32>, rank: usize) -> Result<u32> {
    let (default, full) = if rank == 2 { (4, 8) } else { (6, 26) };
    match connectivity {
        None => Ok(default),
        Some(c) if c == default || c == full => Ok(c),
        Some(c) => Err(LossError::config("connectivity", c, format!("expected {default} (default) or {full} for a {rank}D mask"))),
    }
}

/// Offsets `(dz, dy, dx)` of the neighbours that precede a pixel in raster order.
fn prior_neighbours(connectivity: u32) -> Vec<[isize; 3]> {
    match connectivity {
        4 => vec![[0, -1, 0], [0, 0, -1]],
        6 => vec![[-1, 0, 0], [0, -1, 0], [0, 0, -1]],
        8 => vec![[0, -1, -1], [0, -1, 0], [0, -1, 1], [0, 0, -1]],
        26 => {
            let mut v = Vec::with_capacity(13);
            for dy in -1..=1 {
                for dx in -1..=1 {
                    v.push([-1, dy, dx]);
                }
            }
            v.extend([[0, -1, -1], [0, -1, 0], [0, -1, 1], [0, 0, -1]]);
            v
        }
        _ => unreachable!("connectivity validated by resolve_connectivity"),
    }
}

fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        let p = parent[x as usize];
        parent[x as usize] = parent[p as usize];
        x = p;
    }
    x
}

/// Labels of a row-major mask of shape `[d, h, w]` (`d = 1` in 2D): 0 on background, components
/// numbered `1..=n` in the raster order of their first pixel. Returns the labels and `n`.
pub(crate) fn label_slice<T: MaskValue>(mask: &[T], dims: [usize; 3], connectivity: u32) -> Result<(Vec<u32>, usize)> {
    let [d, h, w] = dims;
    let offsets = prior_neighbours(connectivity);
    let mut lab = vec![0u32; mask.len()];
    // parent[0] is the background; provisional labels start at 1, parent[l] <= l.
    let mut parent: Vec<u32> = vec![0];
    let mut roots: Vec<u32> = Vec::with_capacity(offsets.len());
    for z in 0..d {
        for y in 0..h {
            for x in 0..w {
                let idx = (z * h + y) * w + x;
                if !mask[idx].is_foreground() {
                    continue;
                }
                roots.clear();
                for &[dz, dy, dx] in &offsets {
                    let (nz, ny, nx) = (z as isize + dz, y as isize + dy, x as isize + dx);
                    if nz < 0 || ny < 0 || nx < 0 || ny >= h as isize || nx >= w as isize {
                        continue;
                    }
                    let nl = lab[(nz as usize * h + ny as usize) * w + nx as usize];
                    if nl != 0 {
                        roots.push(find(&mut parent, nl));
                    }
                }
                let l = match roots.iter().min() {
                    None => {
                        let l = u32::try_from(parent.len()).ok().filter(|&l| l < u32::MAX).ok_or_else(|| LossError::InvalidShape {
                            name: "mask",
                            shape: dims.to_vec(),
                            reason: "more than 2^32 - 2 provisional components".into(),
                        })?;
                        parent.push(l);
                        l
                    }
                    Some(&m) => {
                        for &r in &roots {
                            parent[r as usize] = m;
                        }
                        m
                    }
                };
                lab[idx] = l;
            }
        }
    }
    // Final numbers in order of the roots' provisional labels, which is the raster order of each
    // component's first pixel (a root is the smallest provisional label of its component).
    let mut number = vec![0u32; parent.len()];
    let mut n = 0u32;
    for l in 1..parent.len() as u32 {
        let r = find(&mut parent, l);
        if r == l {
            n += 1;
            number[l as usize] = n;
        } else {
            number[l as usize] = number[r as usize];
        }
    }
    for v in lab.iter_mut() {
        *v = number[*v as usize];
    }
    Ok((lab, n as usize))
}

/// Connected components of a binary mask (nonzero = foreground, see [`MaskValue`]).
///
/// Returns the labels (0 on background, `1..=n` on the components, numbered in the raster order
/// of each component's first pixel) and the number `n` of components. `connectivity`: `None` is
/// 4 in 2D and 6 in 3D (faces only); 8 (2D) and 26 (3D) add the diagonal neighbours. Anchor:
/// scipy `ndimage.label(mask, generate_binary_structure(rank, 1 or rank))`, equal up to the
/// numbering of the components.
///
/// Algorithm: one raster pass of union-find over the neighbours that precede each pixel (union to
/// the smallest root), then one renumbering pass; linear up to the inverse Ackermann factor.
/// Sequential.
///
/// Errors: rank other than 2 or 3 ([`LossError::InvalidShape`]), an empty array
/// ([`LossError::Empty`]), a connectivity other than 4 or 8 in 2D or 6 or 26 in 3D
/// ([`LossError::InvalidConfig`] with key `connectivity`).
pub fn label<T: MaskValue>(mask: ArrayViewD<'_, T>, connectivity: Option<u32>) -> Result<(ArrayD<u32>, usize)> {
    let shape = mask.shape().to_vec();
    check_rank_and_size("mask", &shape)?;
    let conn = resolve_connectivity(connectivity, shape.len())?;
    let data = segloss_core::input::contiguous(&mask);
    let data: &[T] = &data;
    let (lab, n) = label_slice(data, dims3(&shape), conn)?;
    let arr = ArrayD::from_shape_vec(IxDyn(&shape), lab).map_err(|e| LossError::InvalidShape {
        name: "mask",
        shape: shape.clone(),
        reason: format!("internal shape error: {e}"),
    })?;
    Ok((arr, n))
}

/// `[d, h, w]` of a rank-2 (`d = 1`) or rank-3 shape.
pub(crate) fn dims3(shape: &[usize]) -> [usize; 3] {
    match *shape {
        [h, w] => [1, h, w],
        [d, h, w] => [d, h, w],
        _ => unreachable!("rank checked by the caller"),
    }
}
