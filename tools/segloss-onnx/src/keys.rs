//! Read access to the (already validated) keys of one spec term, with the defaults of `LOSSES.md`.

use segloss::core::params::Value;

/// The keys of one term.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Keys<'a>(pub &'a [(String, Value)]);

impl Keys<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    pub fn opt_num(&self, key: &str) -> Option<f64> {
        match self.get(key) {
            Some(Value::Num(x)) => Some(*x),
            _ => None,
        }
    }
    pub fn num(&self, key: &str, default: f64) -> f64 {
        self.opt_num(key).unwrap_or(default)
    }
    pub fn int(&self, key: &str) -> Option<i64> {
        self.opt_num(key).map(|x| x as i64)
    }
    pub fn bool(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            Some(Value::Bool(b)) => *b,
            _ => default,
        }
    }
    pub fn word(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(Value::Word(w)) => Some(w.as_str()),
            _ => None,
        }
    }
    pub fn list(&self, key: &str) -> Option<Vec<f32>> {
        match self.get(key) {
            Some(Value::List(v)) => Some(v.iter().map(|x| *x as f32).collect()),
            _ => None,
        }
    }
}
