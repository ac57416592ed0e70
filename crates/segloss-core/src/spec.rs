//! The text form of a loss or a weighted sum of losses, and the registry that builds it.
//!
//! ```text
//! name[:key=value[,key=value]...]          focal:gamma=2,alpha=0.25
//! [w*]term[+[w*]term...]                   bce+dice     0.5*ce+lovasz_softmax:classes=all
//! lists in brackets                        ce:class_weights=[1,2,0.5],ignore_index=255
//! matrices: a list of lists                wasserstein_dice:dist_matrix=[[0,1],[0.5,0]]
//! ```
//! Numbers are plain decimals or exponents without a sign after `e` (`+` separates terms). A
//! matrix's rows are non-empty and of equal length; commas inside brackets never separate keys.
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
    /// The value of `key`: a number, `true`/`false`, a word, a `[list]` of numbers or a
    /// `[[matrix],[...]]` (a list of equally long, non-empty lists of numbers).
    fn value(&mut self, key: &str) -> Result<Value> {
        self.skip_ws();
        if self.eat(b'[') {
            self.skip_ws();
            if self.peek() == Some(b'[') {
                return self.matrix(key);
            }
            return self.list(key).map(Value::List);
        }
        if let Some(x) = self.number() {
            if !x.is_finite() {
                return Err(self.err(format!("number out of range for `{key}`")));
            }
            return Ok(Value::Num(x));
        }
        match self.ident() {
            Some("true") => Ok(Value::Bool(true)),
            Some("false") => Ok(Value::Bool(false)),
            Some(w) => Ok(Value::Word(w.to_string())),
            None => Err(self.err(format!("expected a value for `{key}` (a number, true/false, a word, a [list] or a [[matrix]])"))),
        }
    }
    /// The numbers of a list after its `[`, up to and including its `]`.
    fn list(&mut self, key: &str) -> Result<Vec<f64>> {
        let mut v = Vec::new();
        if self.eat(b']') {
            return Ok(v);
        }
        loop {
            self.skip_ws();
            if self.peek() == Some(b'[') {
                return Err(self.err(format!("`{key}`: a list nested this deep (a matrix is a list of lists of numbers)")));
            }
            let x = self.number().ok_or_else(|| self.err(format!("expected a number in the list of `{key}`")))?;
            if !x.is_finite() {
                return Err(self.err(format!("number out of range in the list of `{key}`")));
            }
            v.push(x);
            if self.eat(b']') {
                return Ok(v);
            }
            if !self.eat(b',') {
                return Err(self.err(format!("expected `,` or `]` in the list of `{key}`")));
            }
        }
    }
    /// The rows of a matrix after its outer `[` (the next character is a row's `[`).
    fn matrix(&mut self, key: &str) -> Result<Value> {
        let mut rows: Vec<Vec<f64>> = Vec::new();
        loop {
            let start = self.pos;
            if !self.eat(b'[') {
                return Err(self.err(format!("expected a row `[...]` in the matrix of `{key}`")));
            }
            let row = self.list(key)?;
            if row.is_empty() {
                self.pos = start;
                return Err(self.err(format!("`{key}`: row {} of the matrix is empty", rows.len())));
            }
            if let Some(first) = rows.first() {
                if row.len() != first.len() {
                    self.pos = start;
                    return Err(self.err(format!(
                        "`{key}`: the matrix's rows differ in length (row 0 has {}, row {} has {})",
                        first.len(),
                        rows.len(),
                        row.len()
                    )));
                }
            }
            rows.push(row);
            if self.eat(b']') {
                return Ok(Value::Matrix(rows));
            }
            if !self.eat(b',') {
                return Err(self.err(format!("expected `,` or `]` in the matrix of `{key}`")));
            }
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
                let v = self.value(&key)?;
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

    /// A single term writes straight into `grad`; further terms write into one term buffer,
    /// which is added to `grad` in parallel blocks (elementwise: the same bits for any thread
    /// count). The buffer is the calling thread's, kept between calls while it holds at most
    /// [`KEEP_TERM_BUFFER`] elements, so that a training loop does not pay a fresh, zero-filled
    /// allocation per step (a term writes every element of it, so its old contents never show).
    fn eval_slice(&self, batch: &Batch<'_>, mut grad: Option<&mut [f32]>, upstream: f32) -> Result<f32> {
        let mut total = 0.0f64;
        let mut tmp: Option<Vec<f32>> = None;
        for (i, (w, loss)) in self.terms.iter().enumerate() {
            let v = match grad.as_deref_mut() {
                None => loss.eval_slice(batch, None, 0.0)?,
                Some(g) if i == 0 => loss.eval_slice(batch, Some(g), upstream * w)?,
                Some(g) => {
                    let t = tmp.get_or_insert_with(|| {
                        let mut t = TERM_BUFFER.with(|c| c.take());
                        if t.len() < g.len() {
                            t.resize(g.len(), 0.0);
                        }
                        t
                    });
                    let t = &mut t[..g.len()];
                    let v = loss.eval_slice(batch, Some(t), upstream * w)?;
                    add_into(g, t);
                    v
                }
            };
            total += *w as f64 * v as f64;
        }
        if let Some(t) = tmp {
            if t.len() <= KEEP_TERM_BUFFER {
                TERM_BUFFER.with(|c| c.set(t));
            }
        }
        Ok(total as f32)
    }
}

/// Largest term buffer (in `f32` elements) a thread keeps between calls of a [`Combination`] of
/// two or more terms: `2^23` (32 MiB: W1 `[8, 1, 512, 512]` and W2 `[4, 21, 256, 256]` batches
/// fit); a larger one is freed after the call.
pub const KEEP_TERM_BUFFER: usize = 1 << 23;

thread_local! {
    /// This thread's term buffer between calls of a combination.
    static TERM_BUFFER: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Elements per parallel block of [`add_into`].
const ADD_BLOCK: usize = 1 << 15;

/// `g += t`, elementwise, in parallel blocks of the current rayon pool.
fn add_into(g: &mut [f32], t: &[f32]) {
    use rayon::prelude::*;
    g.par_chunks_mut(ADD_BLOCK).zip(t.par_chunks(ADD_BLOCK)).for_each(|(a, b)| a.iter_mut().zip(b).for_each(|(x, y)| *x += y));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_value(src: &str) -> Value {
        parse_terms(src).unwrap().remove(0).params.remove(0).1
    }

    fn parse_err(src: &str) -> String {
        parse_terms(src).expect_err(src).to_string()
    }

    #[test]
    fn a_list_of_lists_is_a_matrix_and_prints_back() {
        let src = "w:dist_matrix=[[0,1,1],[1,0,0.5],[1,0.5,0]],smooth=1e-3+ce:class_weights=[1,2]";
        let terms = parse_terms(src).unwrap();
        assert_eq!(terms[0].params[0].1, Value::Matrix(vec![vec![0.0, 1.0, 1.0], vec![1.0, 0.0, 0.5], vec![1.0, 0.5, 0.0]]));
        // commas inside the brackets never separate keys
        assert_eq!(terms[0].params.len(), 2);
        assert_eq!(terms[0].params[1].0, "smooth");
        let printed = print_terms(&terms);
        assert_eq!(printed, "w:dist_matrix=[[0,1,1],[1,0,0.5],[1,0.5,0]],smooth=1e-3+ce:class_weights=[1,2]");
        assert_eq!(parse_terms(&printed).unwrap(), terms);
        // spaces, exponents, a 1 x 1 and a non-square matrix are grammar (the key decides)
        assert_eq!(one_value("w:m=[ [ 2.5e-1 , 3 ] , [4,5] ]"), Value::Matrix(vec![vec![0.25, 3.0], vec![4.0, 5.0]]));
        assert_eq!(one_value("w:m=[[7]]"), Value::Matrix(vec![vec![7.0]]));
        assert_eq!(one_value("w:m=[[1,2,3]]"), Value::Matrix(vec![vec![1.0, 2.0, 3.0]]));
        // flat lists are unchanged
        assert_eq!(one_value("w:m=[1,3]"), Value::List(vec![1.0, 3.0]));
        assert_eq!(one_value("w:m=[]"), Value::List(vec![]));
    }

    #[test]
    fn bad_matrices_are_errors_naming_the_key() {
        for (src, needle) in [
            ("w:dist_matrix=[[]]", "row 0 of the matrix is empty"),
            ("w:dist_matrix=[[1,2],[]]", "row 1 of the matrix is empty"),
            ("w:dist_matrix=[[1,2],[3]]", "rows differ in length (row 0 has 2, row 1 has 1)"),
            ("w:dist_matrix=[[[1]]]", "nested this deep"),
            ("w:dist_matrix=[[1,[2]]]", "nested this deep"),
            ("w:dist_matrix=[[1,2],3]", "expected a row"),
            ("w:dist_matrix=[1,[2]]", "nested this deep"),
            ("w:dist_matrix=[[1,2]", "expected `,` or `]` in the matrix"),
            ("w:dist_matrix=[[1,2],[3,4]", "expected `,` or `]` in the matrix"),
            ("w:dist_matrix=[[1,a]]", "expected a number in the list"),
            ("w:dist_matrix=[[1,2]],", "expected a key"),
        ] {
            let e = parse_err(src);
            assert!(e.contains(needle), "{src}: `{e}` lacks `{needle}`");
            if needle != "expected a key" {
                assert!(e.contains("`dist_matrix`"), "{src}: `{e}` does not name the key");
            }
        }
    }
}
