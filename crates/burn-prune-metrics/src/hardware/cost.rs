//! Costs of kept widths for the group pruner's budget selection: measured latency and MACs.

use super::table::{HardwareConfig, LatencyTable, LayerCurve, LayerShape, median_ms};
use super::widths::{GroupUnits, GroupWidths, ScaledOp};
use crate::count::{Convention, OpCounts};
use crate::error::{MetricsError, Result};
use burn::backend::ir::{FloatOperationIr, ModuleOperationIr, OperationIr};
use burn::module::Module;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn_prune_core::structure::{DependencyGraph, GroupCost, Trace, trace};

/// The papers' MACs (convolutions, linear layers and products) of a model as a function of
/// the units its dependency groups keep: a weight's MACs follow its kept input and output
/// channels; products between activations are counted whole. A MAC budget for
/// [`GroupPruner::plan_within`](burn_prune_core::structure::GroupPruner::plan_within).
#[derive(Clone, Debug)]
pub struct MacCost {
    widths: GroupWidths,
}

impl MacCost {
    /// The MAC cost of the model traced in `trace`, whose groups are `graph` (built from the
    /// same trace).
    pub fn new(trace: &Trace, graph: &DependencyGraph) -> Self {
        Self {
            widths: GroupWidths::new(&OpCounts::of_trace(trace), graph),
        }
    }
}

impl GroupCost for MacCost {
    fn cost(&self, kept: &[usize]) -> f64 {
        self.widths.macs(kept)
    }
    fn unit(&self) -> String {
        "MACs".into()
    }
}

/// The measured latency of a model on a device as a function of the units its dependency
/// groups keep, in milliseconds.
///
/// Each 2-d convolution (ungrouped) and linear layer is timed on the device over a grid of its
/// input and output channel counts ([`LatencyTable`], interpolated between measured widths);
/// everything else (normalisations, activations, additions, pooling, grouped convolutions)
/// takes the rest of the measured dense forward time, shared out by its FLOPs and shrinking
/// with the channels it carries. [`calibrate`](LatencyCost::calibrate) with the measured time
/// of one narrower model makes part of that rest independent of the widths, so that the cost
/// matches both measurements. [`step`](GroupCost::step) is the spacing of the measured
/// widths: the budget selection moves a group's width from one measured width to the next.
#[derive(Clone, Debug)]
pub struct LatencyCost {
    widths: GroupWidths,
    /// For each op, its measured curve (conv and linear layers).
    curves: Vec<Option<LayerCurve>>,
    /// Milliseconds per full-convention FLOP of the ops without a curve (at their kept
    /// widths).
    rest_per_flop: f64,
    /// Milliseconds the rest takes whatever the widths (0 until [`LatencyCost::calibrate`]).
    rest_fixed: f64,
    /// The measured dense forward time.
    measured_dense: f64,
    /// The step, in units, of each group.
    steps: Vec<usize>,
}

impl LatencyCost {
    /// Measure `model` (traced on an input of `input_shape`, batch included) on `device`:
    /// its layers' curves (taken from `table` when it has them, measured and added
    /// otherwise) and its dense forward time. `graph` must come from a trace of the same
    /// model at the same shape.
    pub fn measure<M, F, const D: usize, const O: usize>(
        model: &M,
        input_shape: [usize; D],
        device: &Device,
        forward: F,
        graph: &DependencyGraph,
        table: &mut LatencyTable,
        config: &HardwareConfig,
    ) -> Result<Self>
    where
        M: Module,
        F: Fn(&M, Tensor<D>) -> Tensor<O>,
    {
        config.validate()?;
        let traced = trace(model, input_shape, &forward)?;
        let counts = OpCounts::of_trace(&traced);
        let widths = GroupWidths::new(&counts, graph);
        check_graph(&traced, graph)?;
        let mut curves = Vec::with_capacity(widths.ops.len());
        for op in &widths.ops {
            let curve = match layer_shape(&traced, op) {
                Some(shape) => Some(table.curve(&shape, device, config)?.clone()),
                None => None,
            };
            curves.push(curve);
        }
        let measured_dense = forward_ms(model, input_shape, device, &forward, config)?;
        let steps = group_steps(&widths, &curves);
        let mut cost = Self {
            widths,
            curves,
            rest_per_flop: 0.0,
            rest_fixed: 0.0,
            measured_dense,
            steps,
        };
        // Everything that is not a measured layer shares the rest of the dense time.
        let full = cost.widths.units.n.clone();
        let rest_flops = cost.rest_flops(&full);
        if rest_flops > 0.0 {
            cost.rest_per_flop = (measured_dense - cost.layers_ms(&full)).max(0.0) / rest_flops;
        }
        Ok(cost)
    }

    /// Fit the cost to a second measurement: `measured_ms`, the forward time of the model
    /// compacted to the widths `kept` (units per group), measured on the same device at the
    /// same input shape.
    ///
    /// Without it, everything that is not a measured layer shrinks in proportion to the
    /// channels it carries, and the layers run as fast inside the model as alone. Neither is
    /// quite true (per-op overheads do not shrink; a layer inside the network finds colder
    /// caches than when it is timed alone), so a plan's predicted time can be well below its
    /// measured one, most at large batches. Calibrating splits the rest into a part that
    /// follows the channels and a part that does not, so that the cost equals both
    /// measurements — the dense model's and this one — and moves linearly between and
    /// beyond them (as far as a rest of at least zero allows). Where the narrow model's rest
    /// measures longer than the dense model's, nothing of the rest follows the channels and
    /// the dense time alone is matched.
    ///
    /// Measure a model near the budgets you will ask for, e.g. half of every group's units.
    pub fn calibrate(&mut self, kept: &[usize], measured_ms: f64) -> Result<()> {
        let n = &self.widths.units.n;
        if kept.len() != n.len() {
            return Err(MetricsError::Mismatch {
                context: "latency calibration".into(),
                reason: format!(
                    "{} kept widths given for {} dependency groups",
                    kept.len(),
                    n.len()
                ),
            });
        }
        if let Some((g, (k, n))) = kept.iter().zip(n).enumerate().find(|(_, (k, n))| k > n) {
            return Err(MetricsError::invalid(
                "kept widths",
                format!("group {g} keeps {k} units of {n}"),
            ));
        }
        if !(measured_ms.is_finite() && measured_ms > 0.0) {
            return Err(MetricsError::invalid(
                "measured latency",
                format!("{measured_ms} ms (expected a positive, finite time)"),
            ));
        }
        let full = n.clone();
        let (flops_dense, flops_kept) = (self.rest_flops(&full), self.rest_flops(kept));
        if flops_dense - flops_kept <= 1e-9 * flops_dense {
            return Err(MetricsError::invalid(
                "kept widths",
                "the calibration model carries all the channels of the unmeasured ops: measure a narrower one",
            ));
        }
        let rest_dense = self.measured_dense - self.layers_ms(&full);
        let rest_kept = measured_ms - self.layers_ms(kept);
        let per_flop = ((rest_dense - rest_kept) / (flops_dense - flops_kept)).max(0.0);
        self.rest_per_flop = per_flop;
        self.rest_fixed = rest_dense - per_flop * flops_dense;
        Ok(())
    }

    /// The dense model's forward time measured when the cost was built, in milliseconds.
    pub fn measured_dense(&self) -> f64 {
        self.measured_dense
    }

    /// The part of the predicted time spent in measured layers, and in everything else, at
    /// `kept`.
    pub fn split(&self, kept: &[usize]) -> (f64, f64) {
        let rest = self.rest_fixed + self.rest_per_flop * self.rest_flops(kept);
        (self.layers_ms(kept), rest.max(0.0))
    }

    /// The measured layers' milliseconds at `kept`.
    fn layers_ms(&self, kept: &[usize]) -> f64 {
        let n = &self.widths.units;
        self.widths
            .ops
            .iter()
            .zip(&self.curves)
            .filter_map(|(op, c)| c.as_ref().map(|c| layer_ms(op, c, kept, n)))
            .sum()
    }

    /// The full-convention FLOPs of the ops without a curve, at `kept`.
    fn rest_flops(&self, kept: &[usize]) -> f64 {
        let n = &self.widths.units;
        self.widths
            .ops
            .iter()
            .zip(&self.curves)
            .filter(|(_, c)| c.is_none())
            .map(|(op, _)| {
                let scale = match &op.weight {
                    Some((cin, cout)) => cin.fraction(kept, n) * cout.fraction(kept, n),
                    _ => op.output.fraction(kept, n),
                };
                op.op.flops(Convention::Full) as f64 * scale
            })
            .sum()
    }
}

impl GroupCost for LatencyCost {
    fn cost(&self, kept: &[usize]) -> f64 {
        let (layers, rest) = self.split(kept);
        layers + rest
    }
    fn step(&self, group: usize, _kept: usize) -> usize {
        self.steps.get(group).copied().unwrap_or(1)
    }
    fn unit(&self) -> String {
        "ms".into()
    }
}

/// The milliseconds of a layer op at the widths `kept` give its channels.
fn layer_ms(op: &ScaledOp, curve: &LayerCurve, kept: &[usize], n: &GroupUnits) -> f64 {
    let (cin, cout) = op.weight.as_ref().expect("layer ops carry a weight");
    let full_in = *curve.widths_in.last().unwrap_or(&1) as f64;
    let full_out = *curve.widths_out.last().unwrap_or(&1) as f64;
    curve.at(
        full_in * cin.fraction(kept, n),
        full_out * cout.fraction(kept, n),
    )
}

/// The shape a layer op's kernel sees, if it is a measured kind (an ungrouped 2-d convolution
/// or a linear layer on a weight).
fn layer_shape(traced: &Trace, op: &ScaledOp) -> Option<LayerShape> {
    op.weight.as_ref()?;
    match traced.operations().get(op.op.index)? {
        OperationIr::Module(ModuleOperationIr::Conv2d(c)) if c.options.groups == 1 => {
            let s = &c.x.shape;
            let w = &c.weight.shape;
            Some(LayerShape::Conv2d {
                input: [s[0], s[1], s[2], s[3]],
                out_channels: w[0],
                kernel: [w[2], w[3]],
                stride: c.options.stride,
                padding: c.options.padding,
                dilation: c.options.dilation,
                bias: c.bias.is_some(),
            })
        }
        // A linear layer on 2-d input: `x · W`, the weight on the right.
        OperationIr::Float(_, FloatOperationIr::Matmul(mm)) => {
            let (s, w) = (mm.lhs.shape.as_slice(), mm.rhs.shape.as_slice());
            (w.len() == 2 && s.last() == w.first()).then(|| LayerShape::Linear {
                rows: s[..s.len() - 1].iter().product(),
                d_input: w[0],
                d_output: w[1],
                bias: false,
            })
        }
        OperationIr::Module(ModuleOperationIr::Linear(l)) => {
            let s = &l.x.shape;
            let w = &l.weight.shape;
            Some(LayerShape::Linear {
                rows: s[..s.len() - 1].iter().product(),
                d_input: w[0],
                d_output: w[1],
                bias: l.bias.is_some(),
            })
        }
        _ => None,
    }
}

/// Each group's step in units: the finest spacing of measured widths among the layer axes it
/// alone scales (1 where it scales none).
fn group_steps(widths: &GroupWidths, curves: &[Option<LayerCurve>]) -> Vec<usize> {
    let n = &widths.units.n;
    let mut steps = vec![usize::MAX; n.len()];
    for (op, curve) in widths.ops.iter().zip(curves) {
        let (Some((cin, cout)), Some(c)) = (&op.weight, curve) else {
            continue;
        };
        for (scale, output, full) in [
            (cin, false, *c.widths_in.last().unwrap_or(&1)),
            (cout, true, *c.widths_out.last().unwrap_or(&1)),
        ] {
            let groups: Vec<usize> = scale.groups().collect();
            if let [g] = groups[..] {
                let per_unit = (full / n[g].max(1)).max(1);
                let spacing = c.spacing(output, full);
                let units = spacing.div_ceil(per_unit).max(1);
                steps[g] = steps[g].min(units);
            }
        }
    }
    steps
        .into_iter()
        .map(|s| if s == usize::MAX { 1 } else { s })
        .collect()
}

/// Every member of `graph` must be a parameter of the traced model (a graph of another model
/// is an error naming the first stranger).
fn check_graph(traced: &Trace, graph: &DependencyGraph) -> Result<()> {
    let known: std::collections::HashSet<&str> =
        traced.params().iter().map(|p| p.path.as_str()).collect();
    match graph
        .groups
        .iter()
        .flat_map(|g| &g.members)
        .find(|m| !known.contains(m.path.as_str()))
    {
        Some(m) => Err(MetricsError::Mismatch {
            context: "latency cost".into(),
            reason: format!(
                "the graph's member `{}` is not a parameter of the traced model: build the graph from a trace of this model",
                m.path
            ),
        }),
        None => Ok(()),
    }
}

/// The median forward time of `model` on a random input of `input_shape`, in milliseconds.
pub fn forward_ms<M, F, const D: usize, const O: usize>(
    model: &M,
    input_shape: [usize; D],
    device: &Device,
    forward: F,
    config: &HardwareConfig,
) -> Result<f64>
where
    F: Fn(&M, Tensor<D>) -> Tensor<O>,
{
    config.validate()?;
    device.seed(config.seed);
    let x = Tensor::<D>::random(input_shape, Distribution::Normal(0.0, 1.0), device);
    median_ms(
        device,
        config.warmup.max(1),
        config.runs,
        || forward(model, x.clone()),
        "the model's forward pass",
    )
}
