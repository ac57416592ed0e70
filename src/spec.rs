//! `LossSpec`: the text form of a loss or a weighted sum of losses (`docs/LOSSES.md`, "Spec
//! strings"), parsed and built through the [registry](mod@crate::registry).
//!
//! ```text
//! name[:key=value[,key=value]...]          focal:gamma=2,alpha=0.25
//! [w*]term[+[w*]term...]                   bce+dice     0.5*ce+lovasz_softmax:classes=all
//! lists in brackets                        ce:class_weights=[1,2,0.5],ignore_index=255
//! ```
//! Numbers are plain decimals or exponents without a sign after `e` (`+` separates terms).
//! Parsing also validates every name, key and value by building the loss, so an accepted spec
//! always builds. Old key names (`per_image=true`) are accepted and replaced by their new ones
//! (`reduce=image`); printing gives a string that parses to the same spec.

use crate::registry::registry;
use segloss_core::spec::print_terms;
pub use segloss_core::spec::{Combination, Term};
use segloss_core::{LossDecl, LossError, Result};
use std::fmt;

/// A parsed, validated spec: one loss or a weighted sum of losses.
#[derive(Debug, Clone, PartialEq)]
pub struct LossSpec {
    /// The terms, with canonical keys.
    pub terms: Vec<Term>,
}

impl fmt::Display for LossSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&print_terms(&self.terms))
    }
}

impl std::str::FromStr for LossSpec {
    type Err = LossError;
    fn from_str(s: &str) -> Result<Self> {
        LossSpec::parse(s)
    }
}

impl LossSpec {
    /// Parses and validates a spec string.
    pub fn parse(src: &str) -> Result<LossSpec> {
        Ok(LossSpec { terms: registry().parse(src)? })
    }

    /// A spec of a single loss with no keys.
    pub fn single(name: &str) -> Result<LossSpec> {
        LossSpec::parse(name)
    }

    /// Builds the loss (a [`Combination`] of its terms).
    pub fn build(&self) -> Result<Combination> {
        registry().build(&self.terms)
    }

    /// The registry entry of each term, in order.
    pub fn decls(&self) -> Result<Vec<&'static LossDecl>> {
        self.terms.iter().map(|t| registry().find(&t.name)).collect()
    }
}
