//! The distance-map losses of `segloss-distance`: `boundary`, whose distance map is an input of
//! the graph, and `hausdorff_dt`, which has no ONNX form (a clear error).
//!
//! `boundary`: the graph takes one more input, [`BOUNDARY_MAP_INPUT`] (`boundary_map`, float, of
//! `pred`'s shape): the maps `phi` that `segloss_distance::boundary_map` (the `segloss
//! boundary-map` verb) writes for the target, with the same keys (0 on the channels the loss does
//! not keep). The graph is `sum(p * boundary_map) / (N |K| |S|)`, `p` the sigmoid or softmax of
//! `pred` (or `pred` itself with `from_logits=false`); `|K|` follows the keys: the length of a
//! `classes` list, 1 in binary, `C` or `C - 1` by `include_background` (its `auto` default read
//! with the export's mode). The `target` input stays in the graph's signature and is not read.
//!
//! `hausdorff_dt`: its map `d_P` is the exact distance transform of the prediction's own mask
//! `p > 0.5`, computed at run time; no ONNX operator computes a distance transform, so the export
//! is an error saying so ([`HAUSDORFF_DT_EXPORT_ERROR`]).

use crate::graph::{attr_i, Graph, Io, TermOut};
use crate::plan::TermExport;
use crate::{ExportError, Result};
use segloss::distance::{BoundaryConfig, Channels, HausdorffDtConfig};
use segloss::Mode;

/// The name of the graph input holding `boundary`'s distance maps.
pub const BOUNDARY_MAP_INPUT: &str = "boundary_map";

/// Why `hausdorff_dt` does not export (the reason of its [`ExportError::Unsupported`]).
pub const HAUSDORFF_DT_EXPORT_ERROR: &str = "its map d_P is the exact distance transform of the prediction's \
     own mask p > 0.5, computed at run time, and no ONNX operator computes a distance transform \
     (export `boundary`, whose map depends on the target only and is a graph input, or compute \
     hausdorff_dt natively)";

impl TermExport for BoundaryConfig {
    fn mode(&self) -> Option<Mode> {
        self.mode
    }
    fn extra_inputs(&self) -> &'static [&'static str] {
        &[BOUNDARY_MAP_INPUT]
    }
    fn body(&self, g: &mut Graph, io: &Io) -> Result<TermOut> {
        let p = match (self.from_logits, io.mode) {
            (false, _) => io.pred.clone(),
            (true, Mode::Multiclass) => g.op("Softmax", &[&io.pred], vec![attr_i("axis", 1)]),
            (true, _) => g.un("Sigmoid", &io.pred),
        };
        // the map has pred's declared shape; pred may have gained its channel axis here
        let shape = g.un("Shape", &io.pred);
        let map = g.op("Reshape", &[BOUNDARY_MAP_INPUT, &shape], vec![]);
        let prod = g.mul(&p, &map);
        let sum = g.rsum(&prod, None, false);
        let numel = g.count_f(&io.pred);
        let c = g.dim(&io.pred, 1);
        let c = g.cast_f(&c);
        let c = g.squeeze(&c, &[0]);
        // N |S|, then N |K| |S|
        let ns = g.div(&numel, &c);
        let den = match (&self.classes, io.mode) {
            (Channels::List(l), _) => g.scale(&ns, l.len() as f32),
            (Channels::All, Mode::Binary) => numel,
            (Channels::All, mode) if self.include_background.keeps_channel0(mode) => numel,
            (Channels::All, _) => g.sub(&numel, &ns),
        };
        Ok(TermOut::scalar(g.safe_div(&sum, &den)))
    }
}

impl TermExport for HausdorffDtConfig {
    fn mode(&self) -> Option<Mode> {
        self.mode
    }
    fn body(&self, _g: &mut Graph, _io: &Io) -> Result<TermOut> {
        Err(ExportError::unsupported("hausdorff_dt", HAUSDORFF_DT_EXPORT_ERROR))
    }
}
