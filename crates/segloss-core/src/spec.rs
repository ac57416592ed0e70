//! The text form of a loss or a weighted sum of losses, and the registry that builds it.
//!
//! ```text
//! name[:key=value[,key=value]...]          focal:gamma=2,alpha=0.25
//! [w*]term[+[w*]term...]                   bce+dice     0.5*ce+lovasz_softmax:classes=all
//! lists in brackets                        ce:class_weights=[1,2,0.5],ignore_index=255
//! ```
//! Numbers are plain decimals or exponents without a sign after `e` (`+` separates terms).
//! [`Registry::parse`] also validates every name, key and value by building the loss, so an
//! accepted spec always builds; its terms hold the canonical keys (old key names replaced by
//! their new ones), and printing them gives a string that parses to the same terms.
//!
//! The facade crate `segloss` holds the registry of every family (`segloss::registry()`); a
//! family crate's tests can build a [`Registry`] of their own losses.

use crate::declare::LossDecl;
use crate::params::fmt_num;
use crate::{Batch, Loss, LossError, Params, Result, Value};
use std::fmt;

/// One weighted term of a spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    /// The weight (1 when not written).
    pub weight: f64,
    /// The loss name.
    pub name: String,
    /// The parameters, in the order written.
    pub params: Vec<(String, Value)>,
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.weight != 1.0 {
            write!(f, "{}*", fmt_num(self.weight))?;
        }
        f.write_str(&self.name)?;
        for (i, (k, v)) in self.params.iter().enumerate() {
            write!(f, "{}{k}={v}", if i == 0 { ":" } else { "," })?;
        }
        Ok(())
    }
}

/// Prints terms joined by `+`.
pub fn print_terms(terms: &[Term]) -> String {
    terms.iter().map(|t| t.to_string()).collect::<Vec<_>>().join("+")
}

/// Parses the syntax of a spec string (no name or key is checked).
pub fn parse_terms(src: &str) -> Result<Vec<Term>> {
    let mut p = Parser { src, pos: 0 };
    let mut terms = vec![p.term()?];
    while p.eat(b'+') {
        terms.push(p.term()?);
    }
    p.skip_ws();
    if p.pos != src.len() {
        return Err(p.err("unexpected character"));
    }
    Ok(terms)
}

/// A set of declared losses, found by name.
#[derive(Debug, Clone, Copy)]
pub struct Registry<'r> {
    decls: &'r [LossDecl],
}

impl<'r> Registry<'r> {
    /// The registry of `decls`.
    pub const fn new(decls: &'r [LossDecl]) -> Self {
        Registry { decls }
    }

    /// Every loss, in order.
    pub fn decls(&self) -> &'r [LossDecl] {
        self.decls
    }

    /// The loss `name`.
    pub fn get(&self, name: &str) -> Option<&'r LossDecl> {
        self.decls.iter().find(|d| d.name == name)
    }

    /// The loss `name`, or an error listing the known names.
    pub fn find(&self, name: &str) -> Result<&'r LossDecl> {
        self.get(name).ok_or_else(|| {
            let names: Vec<&str> = self.decls.iter().map(|d| d.name).collect();
            LossError::config("name", name, format!("unknown loss (known: {})", names.join(", ")))
        })
    }

    /// Builds one loss from its name and `(key, value)` pairs (old key names accepted).
    pub fn build_one(&self, name: &str, pairs: Vec<(String, Value)>) -> Result<Box<dyn Loss>> {
        self.find(name)?.build_from(pairs)
    }

    /// Parses and validates a spec string; the terms hold the canonical keys.
    pub fn parse(&self, src: &str) -> Result<Vec<Term>> {
        let mut terms = parse_terms(src)?;
        for t in &mut terms {
            let d = self.find(&t.name)?;
            let pairs = d.resolve_aliases(std::mem::take(&mut t.params))?;
            let p = Params::new(d.name, pairs)?;
            t.params = (d.canonical)(&p)?;
        }
        self.build(&terms)?;
        Ok(terms)
    }

    /// Builds the weighted sum of the terms.
    pub fn build(&self, terms: &[Term]) -> Result<Combination> {
        if terms.is_empty() {
            return Err(LossError::config("spec", "(empty)", "a spec needs at least one loss"));
        }
        let mut built = Vec::with_capacity(terms.len());
        for t in terms {
            if !t.weight.is_finite() {
                return Err(LossError::config("weight", fmt_num(t.weight), "a term's weight must be finite"));
            }
            built.push((t.weight as f32, self.build_one(&t.name, t.params.clone())?));
        }
        Ok(Combination { spec: print_terms(terms), terms: built })
    }

    /// Parses and builds a spec string.
    pub fn build_str(&self, src: &str) -> Result<Combination> {
        self.build(&self.parse(src)?)
    }
}

struct Parser<'s> {
    src: &'s str,
    pos: usize,
}

impl<'s> Parser<'s> {
    fn err(&self, reason: impl Into<String>) -> LossError {
        LossError::Parse { spec: self.src.to_string(), position: self.pos, reason: reason.into() }
    }
    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }
    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c == b' ' || c == b'\t') {
            self.pos += 1;
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn ident(&mut self) -> Option<&'s str> {
        self.skip_ws();
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') {
            self.pos += 1;
        }
        (self.pos > start && !self.src.as_bytes()[start].is_ascii_digit()).then(|| &self.src[start..self.pos])
    }
    /// A number: `-?digits[.digits][e[-]digits]` (also `.5`).
    fn number(&mut self) -> Option<f64> {
        self.skip_ws();
        let b = self.src.as_bytes();
        let start = self.pos;
        let mut p = self.pos;
        if b.get(p) == Some(&b'-') {
            p += 1;
        }
        let digits = |p: &mut usize| {
            let s = *p;
            while b.get(*p).is_some_and(|c| c.is_ascii_digit()) {
                *p += 1;
            }
            *p > s
        };
        let int = digits(&mut p);
        let mut frac = false;
        if b.get(p) == Some(&b'.') {
            p += 1;
            frac = digits(&mut p);
        }
        if !int && !frac {
            return None;
        }
        if matches!(b.get(p), Some(b'e') | Some(b'E')) {
            let mut q = p + 1;
            if b.get(q) == Some(&b'-') {
                q += 1;
            }
            if digits(&mut q) {
                p = q;
            } else {
                return None;
            }
        }
        let x: f64 = self.src[start..p].parse().ok()?;
        self.pos = p;
        Some(x)
    }
    fn value(&mut self) -> Result<Value> {
        self.skip_ws();
        if self.eat(b'[') {
            let mut v = Vec::new();
            if !self.eat(b']') {
                loop {
                    let x = self.number().ok_or_else(|| self.err("expected a number in the list"))?;
                    v.push(x);
                    if self.eat(b']') {
                        break;
                    }
                    if !self.eat(b',') {
                        return Err(self.err("expected `,` or `]` in the list"));
                    }
                }
            }
            return Ok(Value::List(v));
        }
        if let Some(x) = self.number() {
            if !x.is_finite() {
                return Err(self.err("number out of range"));
            }
            return Ok(Value::Num(x));
        }
        match self.ident() {
            Some("true") => Ok(Value::Bool(true)),
            Some("false") => Ok(Value::Bool(false)),
            Some(w) => Ok(Value::Word(w.to_string())),
            None => Err(self.err("expected a value (a number, true/false, a word or a [list])")),
        }
    }
    fn term(&mut self) -> Result<Term> {
        let save = self.pos;
        let mut weight = 1.0;
        if let Some(w) = self.number() {
            if self.eat(b'*') {
                if !(w.is_finite()) {
                    return Err(self.err("the weight must be finite"));
                }
                weight = w;
            } else {
                self.pos = save;
            }
        }
        let name = self.ident().ok_or_else(|| self.err("expected a loss name"))?.to_string();
        let mut params = Vec::new();
        if self.eat(b':') {
            loop {
                let key = self.ident().ok_or_else(|| self.err("expected a key"))?.to_string();
                if !self.eat(b'=') {
                    return Err(self.err(format!("expected `=` after the key `{key}`")));
                }
                let v = self.value()?;
                if params.iter().any(|(k, _): &(String, Value)| *k == key) {
                    return Err(LossError::config(&key, &v, format!("the key `{key}` is given twice")));
                }
                params.push((key, v));
                if !self.eat(b',') {
                    break;
                }
            }
        }
        Ok(Term { weight, name, params })
    }
}

/// A weighted sum of losses: the weighted sum of their values and of their gradients.
#[derive(Debug)]
pub struct Combination {
    spec: String,
    terms: Vec<(f32, Box<dyn Loss>)>,
}

impl Combination {
    /// The spec this was built from.
    pub fn spec(&self) -> &str {
        &self.spec
    }

    /// The weighted terms.
    pub fn terms(&self) -> impl Iterator<Item = (f32, &dyn Loss)> {
        self.terms.iter().map(|(w, l)| (*w, l.as_ref()))
    }
}

impl Loss for Combination {
    fn name(&self) -> &'static str {
        match self.terms.as_slice() {
            [(_, l)] => l.name(),
            _ => "combination",
        }
    }

    /// A single term writes straight into `grad`; further terms go through one temporary buffer.
    fn eval_slice(&self, batch: &Batch<'_>, mut grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        let mut total = 0.0f64;
        let mut tmp: Vec<f32> = Vec::new();
        for (i, (w, loss)) in self.terms.iter().enumerate() {
            let v = match grad.as_deref_mut() {
                None => loss.eval_slice(batch, None, 0.0)?,
                Some(g) if i == 0 => loss.eval_slice(batch, Some(g), upstream * w)?,
                Some(g) => {
                    tmp.resize(g.len(), 0.0);
                    let v = loss.eval_slice(batch, Some(&mut tmp), upstream * w)?;
                    g.iter_mut().zip(&tmp).for_each(|(a, b)| *a += b);
                    v
                }
            };
            total += *w as f64 * v as f64;
        }
        Ok(total as f32)
    }
}
