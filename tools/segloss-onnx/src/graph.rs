//! A small builder of ONNX nodes: every constant is a `Constant` node (so the same body serves a
//! graph and a local function, which cannot hold initializers), every value gets a fresh
//! prefixed name, and the reductions follow the opset (`axes` an attribute before 18 for
//! `ReduceMax`/`ReduceMean`, an input for `ReduceSum` from 13 on).

use crate::pb::attribute_proto::AttributeType;
use crate::pb::tensor_proto::DataType;
use crate::pb::{AttributeProto, NodeProto, TensorProto};
use segloss::{Mode, Reduction};

/// ONNX `FLOAT`.
pub(crate) const FLOAT: i64 = DataType::Float as i64;
/// ONNX `DOUBLE`.
pub(crate) const DOUBLE: i64 = DataType::Double as i64;

/// The prepared inputs of a loss body.
#[derive(Debug, Clone)]
pub(crate) struct Io {
    /// `[N, C, *S]` float.
    pub pred: String,
    /// Float `[N, C, *S]` (binary, multilabel) or int64 `[N, *S]` (multiclass).
    pub target: String,
    /// The target's shape (or broadcastable to it), float.
    pub weight: Option<String>,
    /// Rank of `pred` (with the channel axis).
    pub rank: usize,
    /// The mode.
    pub mode: Mode,
}

impl Io {
    /// The spatial axes of `pred`.
    pub fn spatial(&self) -> Vec<i64> {
        (2..self.rank as i64).collect()
    }
}

/// What a term produces: the name of its scalar loss, and of its per-element map with
/// `reduction=none`.
#[derive(Debug, Clone)]
pub(crate) struct TermOut {
    pub loss: String,
    pub map: Option<String>,
}

impl TermOut {
    /// A scalar loss without a map.
    pub fn scalar(loss: String) -> Self {
        TermOut { loss, map: None }
    }
}

/// Nodes under construction.
#[derive(Debug, Clone)]
pub(crate) struct Graph {
    prefix: String,
    counter: usize,
    /// The default-domain opset the nodes are written for.
    pub opset: i64,
    /// The nodes, in topological order.
    pub nodes: Vec<NodeProto>,
}

pub(crate) fn attr_i(name: &str, v: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Int as i32, i: v, ..Default::default() }
}

pub(crate) fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Ints as i32, ints: v.to_vec(), ..Default::default() }
}

fn attr_t(name: &str, t: TensorProto) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Tensor as i32, t: Some(t), ..Default::default() }
}

impl Graph {
    pub fn new(prefix: &str, opset: i64) -> Self {
        Graph { prefix: prefix.to_string(), counter: 0, opset, nodes: Vec::new() }
    }

    /// A fresh value name.
    pub fn fresh(&mut self, hint: &str) -> String {
        self.counter += 1;
        format!("{}v{}_{}", self.prefix, self.counter, hint)
    }

    /// A node with one output; returns the output's name.
    pub fn op(&mut self, op: &str, inputs: &[&str], attrs: Vec<AttributeProto>) -> String {
        self.op_n(op, inputs, attrs, 1).remove(0)
    }

    /// A node with `n` outputs.
    pub fn op_n(&mut self, op: &str, inputs: &[&str], attrs: Vec<AttributeProto>, n: usize) -> Vec<String> {
        let outs: Vec<String> = (0..n).map(|_| self.fresh(&op.to_ascii_lowercase())).collect();
        self.counter += 1;
        self.nodes.push(NodeProto {
            name: format!("{}n{}_{}", self.prefix, self.counter, op),
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outs.clone(),
            attribute: attrs,
            ..Default::default()
        });
        outs
    }

    /// A node writing to a given output name.
    pub fn op_to(&mut self, op: &str, inputs: &[&str], out: &str) {
        self.counter += 1;
        self.nodes.push(NodeProto {
            name: format!("{}n{}_{}", self.prefix, self.counter, op),
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.to_string()],
            ..Default::default()
        });
    }

    /// A float constant of the given dims.
    pub fn cf_dims(&mut self, dims: &[i64], v: &[f32]) -> String {
        let t = TensorProto { dims: dims.to_vec(), data_type: DataType::Float as i32, float_data: v.to_vec(), ..Default::default() };
        self.op("Constant", &[], vec![attr_t("value", t)])
    }

    /// A float scalar constant.
    pub fn cf(&mut self, v: f32) -> String {
        self.cf_dims(&[], &[v])
    }

    /// A double scalar constant.
    pub fn cd(&mut self, v: f64) -> String {
        let t = TensorProto { dims: vec![], data_type: DataType::Double as i32, double_data: vec![v], ..Default::default() };
        self.op("Constant", &[], vec![attr_t("value", t)])
    }

    /// An int64 constant of the given dims.
    pub fn ci_dims(&mut self, dims: &[i64], v: &[i64]) -> String {
        let t = TensorProto { dims: dims.to_vec(), data_type: DataType::Int64 as i32, int64_data: v.to_vec(), ..Default::default() };
        self.op("Constant", &[], vec![attr_t("value", t)])
    }

    /// A 1-D int64 constant.
    pub fn ci(&mut self, v: &[i64]) -> String {
        self.ci_dims(&[v.len() as i64], v)
    }

    /// An int64 scalar constant.
    pub fn ci0(&mut self, v: i64) -> String {
        self.ci_dims(&[], &[v])
    }

    pub fn bin(&mut self, op: &str, a: &str, b: &str) -> String {
        self.op(op, &[a, b], vec![])
    }
    pub fn un(&mut self, op: &str, a: &str) -> String {
        self.op(op, &[a], vec![])
    }
    pub fn add(&mut self, a: &str, b: &str) -> String {
        self.bin("Add", a, b)
    }
    pub fn sub(&mut self, a: &str, b: &str) -> String {
        self.bin("Sub", a, b)
    }
    pub fn mul(&mut self, a: &str, b: &str) -> String {
        self.bin("Mul", a, b)
    }
    pub fn div(&mut self, a: &str, b: &str) -> String {
        self.bin("Div", a, b)
    }
    /// `a * k` for a float constant `k` (no node when `k == 1`).
    pub fn scale(&mut self, a: &str, k: f32) -> String {
        if k == 1.0 {
            return a.to_string();
        }
        let c = self.cf(k);
        self.mul(a, &c)
    }
    /// `k - a` for a float constant `k`.
    pub fn rsub(&mut self, k: f32, a: &str) -> String {
        let c = self.cf(k);
        self.sub(&c, a)
    }
    /// `a + k`.
    pub fn add_k(&mut self, a: &str, k: f32) -> String {
        if k == 0.0 {
            return a.to_string();
        }
        let c = self.cf(k);
        self.add(a, &c)
    }
    /// `max(a, k)`.
    pub fn max_k(&mut self, a: &str, k: f32) -> String {
        let c = self.cf(k);
        self.bin("Max", a, &c)
    }
    /// `a^k` (no node for k = 1, `a * a` for k = 2, 1 for k = 0 by `Pow`).
    pub fn pow_k(&mut self, a: &str, k: f32) -> String {
        if k == 1.0 {
            return a.to_string();
        }
        if k == 2.0 {
            return self.mul(a, a);
        }
        let c = self.cf(k);
        self.bin("Pow", a, &c)
    }
    pub fn cast_f(&mut self, a: &str) -> String {
        self.op("Cast", &[a], vec![attr_i("to", FLOAT)])
    }
    pub fn cast_d(&mut self, a: &str) -> String {
        self.op("Cast", &[a], vec![attr_i("to", DOUBLE)])
    }
    pub fn where_(&mut self, c: &str, a: &str, b: &str) -> String {
        self.op("Where", &[c, a, b], vec![])
    }
    /// `ReduceSum` over `axes` (all axes when `None`).
    pub fn rsum(&mut self, a: &str, axes: Option<&[i64]>, keepdims: bool) -> String {
        let kd = vec![attr_i("keepdims", keepdims as i64)];
        match axes {
            None => self.op("ReduceSum", &[a], kd),
            Some(ax) => {
                let c = self.ci(ax);
                self.op("ReduceSum", &[a, &c], kd)
            }
        }
    }
    /// `ReduceMax` over `axes`, written for the opset.
    pub fn rmax(&mut self, a: &str, axes: &[i64], keepdims: bool) -> String {
        if self.opset >= 18 {
            let c = self.ci(axes);
            self.op("ReduceMax", &[a, &c], vec![attr_i("keepdims", keepdims as i64)])
        } else {
            self.op("ReduceMax", &[a], vec![attr_ints("axes", axes), attr_i("keepdims", keepdims as i64)])
        }
    }
    pub fn unsqueeze(&mut self, a: &str, axes: &[i64]) -> String {
        let c = self.ci(axes);
        self.op("Unsqueeze", &[a, &c], vec![])
    }
    pub fn squeeze(&mut self, a: &str, axes: &[i64]) -> String {
        let c = self.ci(axes);
        self.op("Squeeze", &[a, &c], vec![])
    }
    /// The size of axis `axis` of `a` as a 1-D int64 tensor of one element.
    pub fn dim(&mut self, a: &str, axis: i64) -> String {
        let s = self.un("Shape", a);
        let i = self.ci(&[axis]);
        self.op("Gather", &[&s, &i], vec![attr_i("axis", 0)])
    }
    /// The element count of `a` as a float scalar.
    pub fn count_f(&mut self, a: &str) -> String {
        let s = self.un("Size", a);
        self.cast_f(&s)
    }
    /// `num / den` where `den > 0`, else 0.
    pub fn safe_div(&mut self, num: &str, den: &str) -> String {
        let zero = self.cf(0.0);
        let pos = self.bin("Greater", den, &zero);
        let one = self.cf(1.0);
        let d = self.where_(&pos, den, &one);
        let q = self.div(num, &d);
        self.where_(&pos, &q, &zero)
    }
    /// Reduces a per-element loss `map` by `reduction`: the sum, the sum with the map kept
    /// (`none`), or the mean: the sum over `norm` (when given) or over the element count, 0 when
    /// that is 0.
    pub fn reduction(&mut self, map: &str, reduction: Reduction, norm: Option<&str>) -> TermOut {
        let sum = self.rsum(map, None, false);
        match reduction {
            Reduction::Sum => TermOut::scalar(sum),
            Reduction::None => TermOut { loss: sum, map: Some(map.to_string()) },
            Reduction::Mean => {
                let n = match norm {
                    Some(n) => n.to_string(),
                    None => self.count_f(map),
                };
                TermOut::scalar(self.safe_div(&sum, &n))
            }
        }
    }
    /// `softplus(a) = max(a, 0) + ln(1 + e^-|a|)` and `softplus(-a)`, stably.
    pub fn softplus_pair(&mut self, a: &str) -> (String, String) {
        let abs = self.un("Abs", a);
        let na = self.un("Neg", &abs);
        let e = self.un("Exp", &na);
        let e1 = self.add_k(&e, 1.0);
        let base = self.un("Log", &e1);
        let r = self.un("Relu", a);
        let neg = self.un("Neg", a);
        let rn = self.un("Relu", &neg);
        (self.add(&r, &base), self.add(&rn, &base))
    }
}

/// The labels of a multiclass problem: the labels with ignored pixels set to 0 (`[N, *S]`), and
/// the valid pixels as floats (`None` when nothing is ignored).
pub(crate) struct Labels {
    pub safe: String,
    pub valid_f: Option<String>,
}

pub(crate) fn labels(g: &mut Graph, t: &str, ignore: Option<i64>) -> Labels {
    match ignore {
        None => Labels { safe: t.to_string(), valid_f: None },
        Some(i) => {
            let c = g.ci0(i);
            let eq = g.bin("Equal", t, &c);
            let valid = g.un("Not", &eq);
            let zero = g.ci0(0);
            let safe = g.where_(&valid, t, &zero);
            let valid_f = g.cast_f(&valid);
            Labels { safe, valid_f: Some(valid_f) }
        }
    }
}

/// `[1, C, 1, ...]` constant of per-class values, broadcastable against `[N, C, *S]`.
pub(crate) fn per_class(g: &mut Graph, w: &[f32], rank: usize) -> String {
    let mut dims = vec![1i64; rank];
    dims[1] = w.len() as i64;
    g.cf_dims(&dims, w)
}

/// The label-smoothing part of `ce` per pixel, `-(s/C) sum_c w_c ls_c` (`ls` the log-softmax
/// `[N, C, *S]`, `w_c` the class weights, 1 without): what `ce` and `topk_ce` add to their
/// `(1-s) w_y (-ls_y)` term.
pub(crate) fn smoothing_term(g: &mut Graph, io: &Io, ls: &str, class_weights: Option<&[f32]>, s: f32) -> String {
    let wl = match class_weights {
        Some(w) => {
            let wc = per_class(g, w, io.rank);
            g.mul(ls, &wc)
        }
        None => ls.to_string(),
    };
    let sum_c = g.rsum(&wl, Some(&[1]), false);
    let c = g.dim(&io.pred, 1);
    let cf = g.cast_f(&c);
    let mean_c = g.div(&sum_c, &cf);
    g.scale(&mean_c, -s)
}

/// The class index `[C]` (int64) of `pred`'s channel axis.
pub(crate) fn channel_range(g: &mut Graph, pred: &str) -> String {
    let c = g.dim(pred, 1);
    let c0 = g.squeeze(&c, &[0]);
    let zero = g.ci0(0);
    let one = g.ci0(1);
    g.op("Range", &[&zero, &c0, &one], vec![])
}

/// One-hot `[N, C, *S]` float of labels `[N, *S]` (`safe`: no ignored value).
fn one_hot(g: &mut Graph, io: &Io, safe: &str) -> String {
    let r = channel_range(g, &io.pred);
    let mut shape = vec![1i64; io.rank];
    shape[1] = -1;
    let sh = g.ci(&shape);
    let r = g.op("Reshape", &[&r, &sh], vec![]);
    let tu = g.unsqueeze(safe, &[1]);
    let eq = g.bin("Equal", &tu, &r);
    g.cast_f(&eq)
}

/// Probabilities, target and mask of an overlap or Lovász-softmax problem, all `[N, C, *S]`
/// float (`mask` broadcastable: `[N, 1, *S]` for multiclass).
pub(crate) struct Dense {
    pub p: String,
    pub y: String,
    pub mask: Option<String>,
}

/// The [`Dense`] form of the inputs: the softmax (multiclass) or sigmoid of logits, or `pred`
/// itself; the one-hot of multiclass labels; pixels whose target is `ignore` masked out.
pub(crate) fn dense(g: &mut Graph, io: &Io, from_logits: bool, ignore: Option<i64>) -> Dense {
    if io.mode == Mode::Multiclass {
        let p = if from_logits { g.op("Softmax", &[&io.pred], vec![attr_i("axis", 1)]) } else { io.pred.clone() };
        let lab = labels(g, &io.target, ignore);
        let y = one_hot(g, io, &lab.safe);
        match lab.valid_f {
            None => Dense { p, y, mask: None },
            Some(v) => {
                let m = g.unsqueeze(&v, &[1]);
                let y = g.mul(&y, &m);
                Dense { p, y, mask: Some(m) }
            }
        }
    } else {
        let p = if from_logits { g.un("Sigmoid", &io.pred) } else { io.pred.clone() };
        match ignore {
            None => Dense { p, y: io.target.clone(), mask: None },
            Some(i) => {
                let c = g.cf(i as f32);
                let eq = g.bin("Equal", &io.target, &c);
                let valid = g.un("Not", &eq);
                let zero = g.cf(0.0);
                let y = g.where_(&valid, &io.target, &zero);
                let m = g.cast_f(&valid);
                Dense { p, y, mask: Some(m) }
            }
        }
    }
}
