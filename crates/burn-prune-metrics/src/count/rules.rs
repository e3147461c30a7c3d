//! What one IR operation costs: its kind, multiply-accumulates and FLOPs.

use super::OpKind;
use burn::backend::ir::{ModuleOperationIr, OperationIr, TensorIr};
use burn_prune_core::structure::op_name;

/// The cost of one op, before it is attributed to a layer.
pub(crate) struct Cost<'a> {
    pub kind: OpKind,
    /// Multiply-accumulates.
    pub macs: u64,
    /// FLOPs in the full convention.
    pub flops: u64,
    /// The tensor multiplied by the data (conv/linear weight, matmul operand, norm scale),
    /// whose parameter names the layer.
    pub weight: Option<&'a TensorIr>,
    /// The data input.
    pub input: Option<&'a TensorIr>,
    /// The output.
    pub output: Option<&'a TensorIr>,
}

fn numel(t: &TensorIr) -> u64 {
    t.shape.num_elements() as u64
}

impl<'a> Cost<'a> {
    fn new(kind: OpKind, macs: u64, flops: u64) -> Self {
        Self {
            kind,
            macs,
            flops,
            weight: None,
            input: None,
            output: None,
        }
    }

    fn io(mut self, input: &'a TensorIr, output: &'a TensorIr) -> Self {
        self.input = Some(input);
        self.output = Some(output);
        self
    }

    fn weight(mut self, weight: &'a TensorIr) -> Self {
        self.weight = Some(weight);
        self
    }

    /// A multiply-accumulate op: FLOPs are two per MAC, plus one per output for a bias.
    fn mul_add(kind: OpKind, macs: u64, bias: bool, out: &TensorIr) -> Self {
        let bias_adds = if bias { numel(out) } else { 0 };
        Self::new(kind, macs, 2 * macs + bias_adds)
    }
}

/// A convolution: every output element reads `in/groups × kernel` weights (its weight row),
/// so MACs = output elements × (weight elements / output channels).
fn conv<'a>(x: &'a TensorIr, weight: &'a TensorIr, bias: bool, out: &'a TensorIr) -> Cost<'a> {
    let w = weight.shape.as_slice();
    let row = numel(weight) / (w[0].max(1) as u64);
    Cost::mul_add(OpKind::Conv, numel(out) * row, bias, out)
        .io(x, out)
        .weight(weight)
}

/// A transposed convolution: every input element is scattered through its weight row
/// (`out/groups × kernel`), so MACs = input elements × (weight elements / input channels).
fn conv_transpose<'a>(
    x: &'a TensorIr,
    weight: &'a TensorIr,
    bias: bool,
    out: &'a TensorIr,
) -> Cost<'a> {
    let w = weight.shape.as_slice();
    let row = numel(weight) / (w[0].max(1) as u64);
    Cost::mul_add(OpKind::ConvTranspose, numel(x) * row, bias, out)
        .io(x, out)
        .weight(weight)
}

/// `[.., m, k] × [.., k, n]`: MACs = output elements × k.
fn matmul<'a>(
    lhs: &'a TensorIr,
    rhs: &'a TensorIr,
    out: &'a TensorIr,
    data_is_lhs: bool,
) -> Cost<'a> {
    let k = *lhs.shape.as_slice().last().unwrap_or(&1) as u64;
    let (data, weight) = if data_is_lhs { (lhs, rhs) } else { (rhs, lhs) };
    Cost::mul_add(OpKind::Matmul, numel(out) * k, false, out)
        .io(data, out)
        .weight(weight)
}

fn kernel(k: &[usize]) -> u64 {
    k.iter().product::<usize>() as u64
}

/// The cost of a module op (convolutions, linear, norms, pools, attention).
fn module<'a>(m: &'a ModuleOperationIr) -> Cost<'a> {
    use ModuleOperationIr as M;
    match m {
        M::Conv1d(c) => conv(&c.x, &c.weight, c.bias.is_some(), &c.out),
        M::Conv2d(c) => conv(&c.x, &c.weight, c.bias.is_some(), &c.out),
        M::Conv3d(c) => conv(&c.x, &c.weight, c.bias.is_some(), &c.out),
        M::DeformableConv2d(c) => conv(&c.x, &c.weight, c.bias.is_some(), &c.out),
        M::ConvTranspose1d(c) => conv_transpose(&c.x, &c.weight, c.bias.is_some(), &c.out),
        M::ConvTranspose2d(c) => conv_transpose(&c.x, &c.weight, c.bias.is_some(), &c.out),
        M::ConvTranspose3d(c) => conv_transpose(&c.x, &c.weight, c.bias.is_some(), &c.out),
        M::Linear(l) => {
            let k = l.weight.shape.as_slice()[0] as u64;
            Cost::mul_add(OpKind::Linear, numel(&l.out) * k, l.bias.is_some(), &l.out)
                .io(&l.x, &l.out)
                .weight(&l.weight)
        }
        M::Attention(a) => {
            // scores = q·kᵀ (s×t×d), softmax (3 per score: exp, sum, divide), scores·v (s×t×dv).
            let q = a.query.shape.as_slice();
            let k = a.key.shape.as_slice();
            let v = a.value.shape.as_slice();
            let rank = q.len();
            let (s, d) = (q[rank - 2] as u64, q[rank - 1] as u64);
            let t = k[rank - 2] as u64;
            let dv = v[rank - 1] as u64;
            let heads: u64 = q[..rank - 2].iter().map(|&x| x as u64).product();
            let scores = heads * s * t;
            let macs = scores * (d + dv);
            Cost::new(OpKind::Attention, macs, 2 * macs + 3 * scores).io(&a.query, &a.out)
        }
        // Inference BatchNorm folds into one scale and shift per element.
        M::BatchNorm(b) => Cost::new(OpKind::Norm, numel(&b.out), 2 * numel(&b.out))
            .io(&b.x, &b.out)
            .weight(&b.gamma),
        // Mean, centre, square, variance sum, scale by 1/σ: 5 per element; then γ, β.
        M::LayerNorm(l) => {
            let n = numel(&l.out);
            let affine = if l.beta.is_some() { 2 } else { 1 };
            let macs = if l.beta.is_some() { n } else { 0 };
            Cost::new(OpKind::Norm, macs, (5 + affine) * n)
                .io(&l.input, &l.out)
                .weight(&l.gamma)
        }
        M::AvgPool1d(p) => pool(&p.x, &p.out, kernel(&[p.kernel_size])),
        M::AvgPool2d(p) => pool(&p.x, &p.out, kernel(&p.kernel_size)),
        M::MaxPool1d(p) => pool(&p.x, &p.out, kernel(&[p.kernel_size])),
        M::MaxPool2d(p) => pool(&p.x, &p.out, kernel(&p.kernel_size)),
        M::MaxPool1dWithIndices(p) => pool(&p.x, &p.out, kernel(&[p.kernel_size])),
        M::MaxPool2dWithIndices(p) => pool(&p.x, &p.out, kernel(&p.kernel_size)),
        // Every input element is summed once.
        M::AdaptiveAvgPool1d(p) => Cost::new(OpKind::Pool, 0, numel(&p.x)).io(&p.x, &p.out),
        M::AdaptiveAvgPool2d(p) => Cost::new(OpKind::Pool, 0, numel(&p.x)).io(&p.x, &p.out),
        M::AdaptiveAvgPool3d(p) => Cost::new(OpKind::Pool, 0, numel(&p.x)).io(&p.x, &p.out),
        M::Interpolate(p) => Cost::new(OpKind::Elementwise, 0, numel(&p.out)).io(&p.x, &p.out),
        _ => Cost::new(OpKind::Other, 0, 0),
    }
}

/// Pooling: one add or comparison per kernel element per output.
fn pool<'a>(x: &'a TensorIr, out: &'a TensorIr, kernel: u64) -> Cost<'a> {
    Cost::new(OpKind::Pool, 0, numel(out) * kernel).io(x, out)
}

/// Reductions and scans, which read every input element once.
const REDUCTIONS: &[&str] = &[
    "Mean",
    "MeanDim",
    "Sum",
    "SumDim",
    "SumDims",
    "Prod",
    "ProdDim",
    "ArgMax",
    "ArgMin",
    "Max",
    "MaxDim",
    "MaxDimWithIndices",
    "Min",
    "MinDim",
    "MinDimWithIndices",
    "MaxAbs",
    "MaxAbsDim",
    "CumSum",
    "CumProd",
    "CumMin",
    "CumMax",
];

/// Ops that create, convert, move or sort values without arithmetic.
const NO_ARITHMETIC: &[&str] = &[
    "Full",
    "IntRandom",
    "Random",
    "Pad",
    "IntoInt",
    "Quantize",
    "Dequantize",
    "TopK",
    "TopKWithIndices",
    "ArgTopK",
    "Sort",
    "SortWithIndices",
    "ArgSort",
];

/// Base ops that compare values (one FLOP per output element); the other base ops move data.
const COMPARISONS: &[&str] = &[
    "Equal",
    "EqualElem",
    "NotEqual",
    "NotEqualElem",
    "All",
    "Any",
    "AllDim",
    "AnyDim",
];

/// The cost of `op`. `data_is_lhs` says, for a matmul, which operand carries the data.
pub(crate) fn cost<'a>(op: &'a OperationIr, data_is_lhs: impl Fn(&TensorIr) -> bool) -> Cost<'a> {
    let first_in = || op.inputs().next();
    let first_out = || op.outputs().next();
    let elementwise = |kind: OpKind, flops: u64| {
        let mut c = Cost::new(kind, 0, flops);
        if let (Some(i), Some(o)) = (first_in(), first_out()) {
            c = c.io(i, o);
        }
        c
    };
    let out_elems = || op.outputs().map(numel).sum::<u64>();
    let in_elems = || first_in().map(numel).unwrap_or(0);
    match op {
        OperationIr::Module(m) => module(m),
        OperationIr::Float(_, burn::backend::ir::FloatOperationIr::Matmul(mm)) => {
            matmul(&mm.lhs, &mm.rhs, &mm.out, data_is_lhs(&mm.lhs))
        }
        OperationIr::Float(..) | OperationIr::NumericFloat(..) | OperationIr::Activation(_) => {
            let name = op_name(op);
            if NO_ARITHMETIC.contains(&name.as_str()) {
                elementwise(OpKind::Other, 0)
            } else if REDUCTIONS.contains(&name.as_str()) {
                elementwise(OpKind::Reduction, in_elems())
            } else {
                elementwise(OpKind::Elementwise, out_elems())
            }
        }
        OperationIr::BaseFloat(_) => {
            if COMPARISONS.contains(&op_name(op).as_str()) {
                elementwise(OpKind::Elementwise, out_elems())
            } else {
                elementwise(OpKind::Other, 0)
            }
        }
        _ => elementwise(OpKind::Other, 0),
    }
}
