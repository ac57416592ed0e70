//! A small builder of ONNX nodes: every constant is a `Constant` node (so the same body serves a
//! graph and a local function, which cannot hold initializers), every value gets a fresh
//! prefixed name, and the reductions follow the opset (`axes` an attribute before 18 for
//! `ReduceMax`/`ReduceMean`, an input for `ReduceSum` from 13 on).

use crate::pb::attribute_proto::AttributeType;
use crate::pb::tensor_proto::DataType;
use crate::pb::{AttributeProto, NodeProto, TensorProto};

/// ONNX `FLOAT`.
pub(crate) const FLOAT: i64 = DataType::Float as i64;

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
