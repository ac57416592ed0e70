//! `balanced_ce`: class-balanced cross-entropy.

use crate::engine::{Engine, Kind};
use crate::kernels::ElemKind;
use crate::keys::XentKeys;
use ndarray::ArrayD;
use segloss_core::declare::{checks, KeyValue, WeightUse};
use segloss_core::{Batch, Loss, LossError, Reduction, Result, Value};
use std::any::Any;

/// `balanced_ce`'s `beta`: a number in (0, 1), or the word `auto`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Beta {
    /// A fixed beta in (0, 1).
    Fixed(f32),
    /// `auto`: `sum(1 - y) / count` over the whole batch (HED), clamped to `[eps, 1 - eps]`.
    Auto,
}

impl KeyValue for Beta {
    fn from_value(key: &str, v: &Value) -> Result<Self> {
        match v {
            Value::Num(x) => Ok(Beta::Fixed(*x as f32)),
            Value::Word(w) if w == "auto" => Ok(Beta::Auto),
            _ => Err(LossError::config(key, v, "expected a number in (0, 1) or auto")),
        }
    }

    fn to_value(&self) -> Value {
        match self {
            Beta::Fixed(b) => b.to_value(),
            Beta::Auto => Value::Word("auto".into()),
        }
    }
}

/// A fixed beta lies in the open interval (0, 1).
fn check_beta(key: &str, b: &Beta) -> Result<()> {
    match b {
        Beta::Fixed(v) => checks::open_unit(key, v),
        Beta::Auto => Ok(()),
    }
}

segloss_core::declare_loss! {
    /// `balanced_ce`: `-(beta y log p + (1-beta)(1-y) log(1-p))` = `(1-beta) wce(q = beta/(1-beta))`
    /// (the origin write-up); see `docs/LOSSES.md`, section Cross-entropy.
    ///
    /// `beta=auto` is HED's `sum(1-y)/count` over the batch, a constant for the gradient, clamped
    /// to `[1e-7, 1 - 1e-7]`.
    pub struct BalancedCeConfig {
        name: "balanced_ce",
        family: "segloss-xent",
        modes: [Binary, Multilabel],
        weight: WeightUse::Optional,
        formula: "-(beta y log p + (1-beta)(1-y) log(1-p)); auto: beta = sum(1-y)/count over the batch",
        anchor: "the origin write-up",
        aliases: [],
        keys: {
            /// in (0, 1), or auto = sum(1-y)/count over the batch
            beta: Beta = Beta::Fixed(0.5), check check_beta;
            ..common: XentKeys;
        }
    }
}

impl BalancedCeConfig {
    /// Validates and builds.
    pub fn build(&self) -> Result<BalancedCe> {
        self.check_keys()?;
        let kind = match self.beta {
            Beta::Fixed(b) => Kind::Elem(ElemKind::Bce { q: b / (1.0 - b), factor: 1.0 - b }),
            Beta::Auto => Kind::BalancedAuto,
        };
        let engine = Engine {
            name: BalancedCeConfig::DECL.name,
            kind,
            from_logits: self.common.from_logits,
            smoothing: 0.0,
            reduction: self.common.reduction,
            mode: self.mode,
        };
        Ok(BalancedCe { config: self.clone(), engine })
    }
}

/// A built `balanced_ce` ([`BalancedCeConfig::build`]).
#[derive(Debug, Clone, PartialEq)]
pub struct BalancedCe {
    config: BalancedCeConfig,
    engine: Engine,
}

impl BalancedCe {
    /// The reduction.
    pub fn reduction(&self) -> Reduction {
        self.engine.reduction
    }

    /// The per-element loss map (`reduction=none`), `pred`'s shape. Computed with the scalar
    /// reference kernels.
    pub fn forward_map(&self, batch: &Batch<'_>) -> Result<ArrayD<f32>> {
        self.engine.forward_map(batch)
    }
}

impl Loss for BalancedCe {
    fn name(&self) -> &'static str {
        BalancedCeConfig::DECL.name
    }

    fn config(&self) -> Option<&dyn Any> {
        Some(&self.config)
    }

    fn eval_slice(&self, batch: &Batch<'_>, grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        self.engine.eval(batch, grad, upstream)
    }
}
