//! Module ops: convolutions (plain, grouped, transposed), the layers Burn's IR records as
//! module ops (linear, embedding, batch and layer norm) and pooling/interpolation.

use super::*;

impl<'a> Analysis<'a> {
    pub(super) fn module(
        &mut self,
        index: usize,
        op: &OperationIr,
        m: &ModuleOperationIr,
    ) -> Result<()> {
        use ModuleOperationIr as M;
        // Every convolution op has the same fields; only the weight layout differs.
        macro_rules! conv {
            ($c:expr, $transposed:expr) => {
                self.conv(
                    index,
                    op,
                    ConvIo {
                        x: &$c.x,
                        weight: &$c.weight,
                        bias: $c.bias.as_ref(),
                        groups: $c.options.groups,
                        out: &$c.out,
                    },
                    $transposed,
                )
            };
        }
        match m {
            M::Conv1d(c) => conv!(c, false),
            M::Conv2d(c) => conv!(c, false),
            M::Conv3d(c) => conv!(c, false),
            M::ConvTranspose1d(c) => conv!(c, true),
            M::ConvTranspose2d(c) => conv!(c, true),
            M::ConvTranspose3d(c) => conv!(c, true),
            M::BatchNorm(b) => {
                let Some(i) = self.info.get(&b.x.id).cloned() else {
                    return Ok(());
                };
                if i.axis != 1 {
                    return Err(self.unknown(
                        index,
                        op,
                        Some(&i.elems),
                        "channels are not on axis 1",
                    ));
                }
                for t in [&b.gamma, &b.beta, &b.mean, &b.variance] {
                    if let Some((p, axis)) = self.param_axis(index, op, t, 0)? {
                        self.couple(index, op, p, axis, &i.elems)?;
                    }
                }
                self.info.insert(b.out.id, i);
                Ok(())
            }
            M::LayerNorm(l) => {
                let Some(i) = self.info.get(&l.input.id).cloned() else {
                    return Ok(());
                };
                let last = l.input.shape.as_slice().len() - 1;
                if i.axis == last {
                    self.normalised(&i.elems, "normalised together by a LayerNorm");
                    for t in std::iter::once(&l.gamma).chain(l.beta.as_ref()) {
                        if let Some((p, axis)) = self.param_axis(index, op, t, 0)? {
                            self.couple(index, op, p, axis, &i.elems)?;
                        }
                    }
                }
                self.info.insert(l.out.id, i);
                Ok(())
            }
            M::Linear(l) => self
                .matmul(index, op, &l.x, &l.weight, &l.out)
                .and_then(|_| {
                    if let (Some(b), Some(i)) = (&l.bias, self.info.get(&l.out.id).cloned())
                        && let Some((p, axis)) = self.param_axis(index, op, b, 0)?
                    {
                        self.couple(index, op, p, axis, &i.elems)?;
                    }
                    Ok(())
                }),
            M::Embedding(e) => {
                let d = *e.out.shape.as_slice().last().unwrap_or(&0);
                if let Some((p, axis)) = self.param_axis(index, op, &e.weights, 1)? {
                    let elems = self.fresh(d, Some(p));
                    self.couple(index, op, p, axis, &elems)?;
                    let axis = e.out.shape.as_slice().len() - 1;
                    self.info.insert(e.out.id, Info { axis, elems });
                }
                Ok(())
            }
            M::AvgPool1d(p) => self.spatial(index, op, &p.x, &p.out),
            M::AvgPool2d(p) => self.spatial(index, op, &p.x, &p.out),
            M::AdaptiveAvgPool1d(p) => self.spatial(index, op, &p.x, &p.out),
            M::AdaptiveAvgPool2d(p) => self.spatial(index, op, &p.x, &p.out),
            M::AdaptiveAvgPool3d(p) => self.spatial(index, op, &p.x, &p.out),
            M::MaxPool1d(p) => self.spatial(index, op, &p.x, &p.out),
            M::MaxPool2d(p) => self.spatial(index, op, &p.x, &p.out),
            M::MaxPool1dWithIndices(p) => self.spatial(index, op, &p.x, &p.out),
            M::MaxPool2dWithIndices(p) => self.spatial(index, op, &p.x, &p.out),
            M::Interpolate(p) => self.spatial(index, op, &p.x, &p.out),
            _ => self.fallback(index, op),
        }
    }

    pub(super) fn conv(
        &mut self,
        index: usize,
        op: &OperationIr,
        io: ConvIo<'_>,
        transposed: bool,
    ) -> Result<()> {
        let ConvIo {
            x,
            weight,
            bias,
            groups,
            out,
        } = io;
        let (in_axis, out_axis) = if transposed { (0, 1) } else { (1, 0) };
        let w = self.param_axis(index, op, weight, out_axis)?;
        let w_in = self.param_axis(index, op, weight, in_axis)?;
        let c_in = x.shape.as_slice()[1];
        let c_out = out.shape.as_slice()[1];
        let input = self.info.get(&x.id).cloned();
        if let Some(i) = &input
            && i.axis != 1
        {
            return Err(self.unknown(index, op, Some(&i.elems), "channels are not on axis 1"));
        }
        let elems = self.fresh(c_out, w.map(|(p, _)| p));
        // The weight axis that reads input channels and the one that writes output channels.
        // A grouped conv holds all channels on one axis only (its inputs when transposed, its
        // filters otherwise); the other holds `channels / groups` entries per group and is
        // never cut.
        let (couple_in, couple_out) = match (groups > 1, transposed) {
            (false, _) => (true, true),
            (true, false) => (false, true),
            (true, true) => (true, false),
        };
        if groups > 1 {
            self.grouped_conv(&input, &elems, w, transposed, groups, c_in);
        }
        if couple_in && let (Some(i), Some((p, axis))) = (&input, w_in) {
            self.couple(index, op, p, axis, &i.elems)?;
        }
        if couple_out && let Some((p, axis)) = w {
            self.couple(index, op, p, axis, &elems)?;
        }
        if let Some(b) = bias
            && let Some((p, axis)) = self.param_axis(index, op, b, 0)?
        {
            self.couple(index, op, p, axis, &elems)?;
        }
        self.info.insert(out.id, Info { axis: 1, elems });
        Ok(())
    }

    /// A grouped convolution mixes channels only inside a group, and Burn's weight holds
    /// `channels / groups` entries per group on one axis: channels can only go a whole group
    /// at a time. Each group's input and output channels become one unit, and removing it
    /// lowers `groups` by one (recorded in [`DependencyGraph::grouped_convs`]).
    pub(super) fn grouped_conv(
        &mut self,
        input: &Option<Info>,
        out: &[u32],
        w: Option<(usize, usize)>,
        transposed: bool,
        groups: usize,
        c_in: usize,
    ) {
        let path = w.map_or_else(
            || "a convolution".to_string(),
            |(p, _)| format!("`{}`", self.path(p)),
        );
        let pin_reason = if self.options.pin_grouped_convs {
            Some(format!(
                "a channel of grouped convolution {path} (grouped convolutions are pinned by the graph options)"
            ))
        } else if input.is_none() {
            Some(format!(
                "a channel of grouped convolution {path}, whose input channels cannot be removed"
            ))
        } else if w.is_none() {
            Some(format!(
                "a channel of grouped convolution {path}, whose weight is not a parameter"
            ))
        } else {
            None
        };
        let (ipg, opg) = (c_in / groups, out.len() / groups);
        for g in 0..groups {
            let first = out[g * opg];
            for &e in &out[g * opg + 1..(g + 1) * opg] {
                self.union(first, e);
            }
            if let Some(i) = input {
                for &e in &i.elems[g * ipg..(g + 1) * ipg] {
                    self.union(first, e);
                }
            }
        }
        if let Some(reason) = pin_reason {
            self.pin_all(out, &reason);
            if let Some(i) = input {
                self.pin_all(&i.elems, &reason);
            }
            return;
        }
        if let Some((p, _)) = w {
            // Axis 0 holds all channels in both layouts: the filters, or a transposed conv's
            // inputs.
            self.grouped.insert(
                self.path(p).to_string(),
                GroupedConv {
                    groups,
                    axis: 0,
                    per_group: if transposed { ipg } else { opg },
                },
            );
        }
    }
}
