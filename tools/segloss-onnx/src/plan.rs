//! From a spec and the options to a checked export: each term's loss is found in the registry
//! and built (so its family validates every key, with the mode of the export), and its typed
//! config is handed to the exporter of its type through [`EXPORTERS`].
//!
//! The plan decides only what the graph needs beyond the losses: the mode (the options', the
//! terms', the single mode of a loss that has one, or inferred from `classes`), the rank, the
//! channel count, and the inputs; whether a loss accepts the mode or takes a weight is asked of
//! its registry entry ([`LossDecl::accepts`], [`LossDecl::weight`]).

use crate::graph::{Graph, Io, TermOut};
use crate::{ExportError, Result};
use crate::{ExportOptions, MAX_OPSET, MIN_OPSET};
use segloss::core::{Value, WeightUse};
use segloss::{Loss, LossDecl, LossError, LossSpec, Mode, Reduction};
use std::any::Any;

/// What the exporter reads from one loss's validated typed config, and the graph it writes.
/// Implemented once per config type, in the family's module (`xent`, `overlap`, `lovasz`).
pub(crate) trait TermExport {
    /// The `mode` key of the config (`None`: not given).
    fn mode(&self) -> Option<Mode>;
    /// The per-class weights, whose length is the channel count.
    fn class_weights(&self) -> Option<&[f32]> {
        None
    }
    /// The reduction (`none` gives the `loss_map` output); losses without the key reduce to a
    /// scalar.
    fn reduction(&self) -> Reduction {
        Reduction::Mean
    }
    /// Graph inputs of `pred`'s shape (float) the term reads besides `pred`, `target` and
    /// `weight`, by name (`boundary`: its distance maps).
    fn extra_inputs(&self) -> &'static [&'static str] {
        &[]
    }
    /// Writes the graph of the term on the prepared inputs.
    fn body(&self, g: &mut Graph, io: &Io) -> Result<TermOut>;
}

/// The exporter of one loss: its registry name and the view of its typed config.
pub(crate) struct Exporter {
    /// The loss's name in the registry ([`LossDecl::name`]).
    pub name: &'static str,
    /// Downcasts the loss's config to its type (`None` for another type).
    pub view: fn(&dyn Any) -> Option<&dyn TermExport>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Exporter({})", self.name)
    }
}

/// The downcast of [`Exporter::view`].
fn view<T: TermExport + 'static>(config: &dyn Any) -> Option<&dyn TermExport> {
    config.downcast_ref::<T>().map(|c| c as &dyn TermExport)
}

/// One [`Exporter`] per config type, named by the type's registry entry.
macro_rules! exporters {
    ($($ty:ty),* $(,)?) => {
        &[$(Exporter { name: <$ty>::DECL.name, view: view::<$ty> }),*]
    };
}

/// Every loss the exporter writes, found by the registry name of the term's loss.
pub(crate) const EXPORTERS: &[Exporter] = {
    use segloss::distance::{BoundaryConfig, HausdorffDtConfig};
    use segloss::lovasz::{LovaszHingeConfig, LovaszSoftmaxConfig};
    use segloss::overlap::WassersteinDiceConfig;
    use segloss::overlap::{ClDiceConfig, DiceClDiceConfig};
    use segloss::overlap::{DiceConfig, GeneralizedDiceConfig, JaccardConfig, LogCoshDiceConfig, TverskyConfig};
    use segloss::overlap::{MccConfig, UnifiedFocalConfig};
    use segloss::xent::TopkCeConfig;
    use segloss::xent::{BalancedCeConfig, BceConfig, CeConfig, DistanceBceConfig, FocalConfig, WceConfig};
    exporters![
        BceConfig,
        WceConfig,
        BalancedCeConfig,
        FocalConfig,
        DistanceBceConfig,
        CeConfig,
        TopkCeConfig,
        DiceConfig,
        TverskyConfig,
        JaccardConfig,
        GeneralizedDiceConfig,
        LogCoshDiceConfig,
        WassersteinDiceConfig,
        ClDiceConfig,
        DiceClDiceConfig,
        MccConfig,
        UnifiedFocalConfig,
        LovaszHingeConfig,
        LovaszSoftmaxConfig,
        BoundaryConfig,
        HausdorffDtConfig,
    ]
};

/// The exporter of the loss `decl`, or an error naming it.
pub(crate) fn exporter(decl: &LossDecl) -> Result<&'static Exporter> {
    EXPORTERS
        .iter()
        .find(|e| e.name == decl.name)
        .ok_or_else(|| ExportError::unsupported(decl.name, "no ONNX exporter is registered for it"))
}

/// One term: its weight, registry entry, built loss and exporter.
#[derive(Debug)]
pub(crate) struct PlannedTerm {
    pub weight: f32,
    pub decl: &'static LossDecl,
    loss: Box<dyn Loss>,
    export: &'static Exporter,
}

impl PlannedTerm {
    /// Builds the loss `decl` from `pairs` (its family validates them) and finds its exporter.
    fn build(weight: f32, decl: &'static LossDecl, pairs: Vec<(String, Value)>) -> Result<PlannedTerm> {
        let loss = decl.build_from(pairs)?;
        let export = exporter(decl)?;
        let t = PlannedTerm { weight, decl, loss, export };
        if t.try_view().is_none() {
            return Err(ExportError::unsupported(decl.name, "its ONNX exporter does not read its config type"));
        }
        Ok(t)
    }

    fn try_view(&self) -> Option<&dyn TermExport> {
        self.loss.config().and_then(self.export.view)
    }

    /// The typed config, seen by its exporter.
    pub fn view(&self) -> &dyn TermExport {
        self.try_view().expect("checked when the term was built")
    }
}

/// A checked export: the terms' built losses and everything the body needs.
#[derive(Debug)]
pub(crate) struct Plan {
    pub terms: Vec<PlannedTerm>,
    pub mode: Mode,
    pub rank: usize,
    pub channel: bool,
    pub classes: Option<usize>,
    pub with_weight: bool,
    pub pixel_weight: bool,
    pub opset: i64,
    pub map: bool,
    pub prefix: String,
    /// The terms' extra graph inputs ([`TermExport::extra_inputs`]), each once, of `pred`'s shape.
    pub extra: Vec<&'static str>,
}

pub(crate) fn plan(spec: &LossSpec, opts: &ExportOptions) -> Result<Plan> {
    if spec.terms.is_empty() {
        return Err(LossError::config("spec", "(empty)", "a spec needs at least one loss").into());
    }
    if !(MIN_OPSET..=MAX_OPSET).contains(&opts.opset) {
        return Err(ExportError::option("opset", opts.opset, format!("supported opsets: {MIN_OPSET} to {MAX_OPSET}")));
    }
    let registry = segloss::registry();
    let mut terms = Vec::with_capacity(spec.terms.len());
    for t in &spec.terms {
        let decl = registry.find(&t.name)?;
        terms.push(PlannedTerm::build(t.weight as f32, decl, t.params.clone())?);
        if !t.weight.is_finite() {
            return Err(LossError::config("weight", t.weight, "a term's weight must be finite").into());
        }
    }
    // the mode: the options', the terms' (all equal), a loss's only mode, or inferred
    let mut mode = opts.mode;
    for t in &terms {
        if let Some(m) = t.view().mode() {
            match mode {
                Some(prev) if prev != m && opts.mode.is_some() => {
                    return Err(ExportError::option("mode", prev, format!("conflicts with the spec's mode {m}")))
                }
                Some(prev) if prev != m => {
                    return Err(LossError::config("mode", m, format!("conflicts with mode {prev} of another term")).into())
                }
                _ => mode = Some(m),
            }
        }
    }
    let mode = mode.or_else(|| terms.iter().find_map(|t| t.decl.only_mode())).unwrap_or(if opts.classes.is_some_and(|c| c >= 2) {
        Mode::Multiclass
    } else {
        Mode::Binary
    });
    if !opts.channel && mode != Mode::Binary {
        return Err(ExportError::option("channel", false, format!("pred without a channel axis is binary only (mode {mode})")));
    }
    let (lo, hi) = if opts.channel { (3, 5) } else { (2, 4) };
    if !(lo..=hi).contains(&opts.rank) {
        let what = if opts.channel { "[N, C, *S]" } else { "[N, *S] (binary without channel)" };
        return Err(ExportError::option("rank", opts.rank, format!("pred {what} needs a rank in {lo}..={hi} (1 to 3 spatial axes)")));
    }
    let mut classes = opts.classes;
    match mode {
        Mode::Binary => {
            if let Some(c) = classes.filter(|&c| c != 1) {
                return Err(ExportError::option("classes", c, "binary pred has one channel"));
            }
            classes = Some(1);
        }
        Mode::Multiclass => {
            if let Some(c) = classes.filter(|&c| c < 2) {
                return Err(ExportError::option("classes", c, "multiclass needs C >= 2 channels"));
            }
        }
        Mode::Multilabel => {
            if let Some(c) = classes.filter(|&c| c < 1) {
                return Err(ExportError::option("classes", c, "needs at least one channel"));
            }
        }
    }
    for (t, src) in terms.iter_mut().zip(&spec.terms) {
        let name = t.decl.name;
        if !t.decl.accepts(mode) {
            let modes: Vec<&str> = t.decl.modes.iter().map(|m| m.name()).collect();
            return Err(ExportError::option(
                "mode",
                mode,
                format!("`{name}` does not support mode {mode} (its modes: {})", modes.join(", ")),
            ));
        }
        if t.view().mode().is_none() {
            // the mode comes from the options or the other terms: the family validates the
            // config with it (rules that depend on the mode)
            let mut pairs = src.params.clone();
            pairs.push(("mode".into(), Value::Word(mode.name().into())));
            *t = PlannedTerm::build(t.weight, t.decl, pairs)?;
        }
        if let Some(w) = t.view().class_weights() {
            match classes {
                Some(c) if c != w.len() && opts.classes == Some(c) => {
                    return Err(ExportError::option("classes", c, format!("the spec's class_weights has {} values", w.len())))
                }
                Some(c) if c != w.len() => {
                    return Err(LossError::config(
                        "class_weights",
                        Value::List(w.iter().map(|v| *v as f64).collect()),
                        format!("has {} values for {c} classes", w.len()),
                    )
                    .into())
                }
                _ => classes = Some(w.len()),
            }
        }
        match t.decl.weight {
            WeightUse::None if opts.with_weight => {
                return Err(ExportError::option("with_weight", true, format!("`{name}` takes no weight input")));
            }
            WeightUse::Required if !opts.with_weight => {
                return Err(ExportError::option("with_weight", false, format!("`{name}` needs the `weight` input (see docs/LOSSES.md)")));
            }
            _ => {}
        }
    }
    if opts.pixel_weight && !opts.with_weight {
        return Err(ExportError::option("pixel_weight", true, "a per-pixel weight needs with_weight"));
    }
    let map = matches!(terms.as_slice(), [t] if t.view().reduction() == Reduction::None);
    let mut extra: Vec<&'static str> = Vec::new();
    for t in &terms {
        for &name in t.view().extra_inputs() {
            if !extra.contains(&name) {
                extra.push(name);
            }
        }
    }
    Ok(Plan {
        terms,
        mode,
        rank: opts.rank,
        channel: opts.channel,
        classes,
        with_weight: opts.with_weight,
        pixel_weight: opts.pixel_weight && opts.channel && mode != Mode::Multiclass,
        opset: opts.opset,
        map,
        prefix: opts.prefix.clone(),
        extra,
    })
}

/// Writes the body: from the names of `pred`, `target`, `weight` to the outputs `loss_out` (and
/// `map_out`).
pub(crate) fn body(
    g: &mut Graph,
    plan: &Plan,
    pred: &str,
    target: &str,
    weight: Option<&str>,
    loss_out: &str,
    map_out: Option<&str>,
) -> Result<()> {
    let (pred, target, weight) = if plan.channel {
        (pred.to_string(), target.to_string(), weight.map(str::to_string))
    } else {
        (g.unsqueeze(pred, &[1]), g.unsqueeze(target, &[1]), weight.map(|w| g.unsqueeze(w, &[1])))
    };
    let weight = match weight {
        Some(w) if plan.pixel_weight => Some(g.unsqueeze(&w, &[1])),
        w => w,
    };
    let rank = if plan.channel { plan.rank } else { plan.rank + 1 };
    let io = Io { pred, target, weight, rank, mode: plan.mode };
    let mut total: Option<String> = None;
    let mut map: Option<String> = None;
    for t in &plan.terms {
        let out = t.view().body(g, &io)?;
        let v = g.scale(&out.loss, t.weight);
        total = Some(match total {
            None => v,
            Some(s) => g.add(&s, &v),
        });
        if map.is_none() {
            map = out.map.map(|m| g.scale(&m, t.weight));
        }
    }
    let total = total.expect("at least one term");
    g.op_to("Identity", &[&total], loss_out);
    if let (Some(m), Some(out)) = (map, map_out) {
        let m = if plan.channel || plan.mode == Mode::Multiclass { m } else { g.squeeze(&m, &[1]) };
        g.op_to("Identity", &[&m], out);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loss of the registry without an exporter is an error naming it.
    #[test]
    fn a_loss_without_an_exporter_is_named() {
        let decl = LossDecl { name: "not_exported", ..segloss::catalogue()[0] };
        match exporter(&decl) {
            Err(ExportError::Unsupported { loss, reason }) => {
                assert_eq!(loss, "not_exported");
                assert_eq!(reason, "no ONNX exporter is registered for it");
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }

    /// Each exporter reads the config type of the loss it is named after.
    #[test]
    fn every_exporter_reads_its_config() {
        for e in EXPORTERS {
            let decl = segloss::registry().find(e.name).expect("an exporter names a loss of the registry");
            // the keys without a default (`required`) get a value
            let pairs = decl.keys().iter().filter(|k| k.default == "required").map(|k| (k.key.to_string(), Value::Num(0.5))).collect();
            let loss = decl.build_from(pairs).unwrap();
            assert!(loss.config().and_then(e.view).is_some(), "{}", e.name);
        }
    }
}
