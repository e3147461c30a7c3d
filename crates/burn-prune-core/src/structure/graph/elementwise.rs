//! Element-wise ops, activations, numeric ops, reductions and padding: the ops that
//! carry channels along or combine them channel by channel.

use super::*;

impl<'a> Analysis<'a> {
    /// Element-wise combination of `inputs` (broadcasting, aligned from the right).
    pub(super) fn elementwise(
        &mut self,
        index: usize,
        op: &OperationIr,
        inputs: &[&TensorIr],
        out: &TensorIr,
    ) -> Result<()> {
        let or = out.shape.as_slice().len();
        let shift = |t: &TensorIr| or - t.shape.as_slice().len();
        // The channel axis of the output, from the first input that carries channels.
        let mut chosen: Option<Info> = None;
        for t in inputs {
            if let Some(i) = self.info.get(&t.id).cloned() {
                let axis = i.axis + shift(t);
                match &chosen {
                    None => {
                        chosen = Some(Info {
                            axis,
                            elems: i.elems,
                        })
                    }
                    Some(c) if c.axis == axis => {
                        if c.elems.len() != i.elems.len() {
                            return Err(self.unknown(
                                index,
                                op,
                                Some(&i.elems),
                                "inputs broadcast along their channels",
                            ));
                        }
                        for (&a, &b) in c.elems.clone().iter().zip(&i.elems) {
                            self.union(a, b);
                        }
                    }
                    Some(c) => {
                        let reason = format!(
                            "inputs carry channels on different axes ({} and {axis})",
                            c.axis
                        );
                        return Err(self.unknown(index, op, Some(&i.elems), &reason));
                    }
                }
            }
        }
        let Some(c) = chosen else {
            // An activation without tracked channels (scaled by a parameter, say) stays an
            // untracked activation: the parameter is combined with channels that cannot be
            // followed, so it is coupled to nothing and never cut.
            if inputs
                .iter()
                .any(|t| !self.is_param(t) && t.shape == out.shape)
            {
                return Ok(());
            }
            // No channels: a parameter seen through a mask or a scale is still that parameter.
            let params: Vec<&TensorIr> = inputs
                .iter()
                .copied()
                .filter(|t| self.is_param(t))
                .collect();
            if let [t] = params.as_slice()
                && let Some(a) = self.alias.get(&t.id).cloned()
                && t.shape == out.shape
            {
                self.alias.insert(out.id, a);
            } else if let Some(t) = params.first() {
                let p = self
                    .alias
                    .get(&t.id)
                    .map(|a| a.param)
                    .or(self.tainted.get(&t.id).copied());
                if let Some(p) = p {
                    self.tainted.insert(out.id, p);
                }
            }
            return Ok(());
        };
        for t in inputs {
            if self.info.contains_key(&t.id) {
                continue;
            }
            let Some(local) = c.axis.checked_sub(shift(t)) else {
                continue; // broadcast from a lower rank: no channel axis
            };
            if t.shape.as_slice()[local] == 1 {
                continue; // broadcast along the channels
            }
            if self.fills.contains(&t.id) {
                continue; // a constant fill shrinks with the channels
            }
            if self.is_param(t) {
                match self.param_axis(index, op, t, local)? {
                    Some((p, axis)) => self.couple(index, op, p, axis, &c.elems)?,
                    None => {
                        return Err(self.unknown(
                            index,
                            op,
                            Some(&c.elems),
                            "a parameter broadcast along the channels",
                        ));
                    }
                }
            } else {
                self.pin_all(&c.elems.clone(), &format!("combined channel by channel with values that cannot shrink (`{}`, op #{index})", op_name(op)));
            }
        }
        self.info.insert(out.id, c);
        Ok(())
    }

    pub(super) fn float_unary(
        &mut self,
        index: usize,
        op: &OperationIr,
        f: &FloatOperationIr,
    ) -> Result<()> {
        use FloatOperationIr as F;
        match f {
            F::Exp(u)
            | F::Log(u)
            | F::Log1p(u)
            | F::Erf(u)
            | F::Sqrt(u)
            | F::Cos(u)
            | F::Cosh(u)
            | F::Sin(u)
            | F::Sinh(u)
            | F::Tan(u)
            | F::Tanh(u)
            | F::ArcCos(u)
            | F::ArcCosh(u)
            | F::ArcSin(u)
            | F::ArcSinh(u)
            | F::ArcTan(u)
            | F::ArcTanh(u)
            | F::Round(u)
            | F::Floor(u)
            | F::Ceil(u)
            | F::Trunc(u)
            | F::Recip(u)
            | F::IsNan(u)
            | F::IsInf(u) => {
                self.pass(&u.input, &u.out);
                Ok(())
            }
            F::PowfScalar(s) => {
                self.pass(&s.lhs, &s.out);
                Ok(())
            }
            F::IntoInt(c) => {
                self.pass(&c.input, &c.out);
                Ok(())
            }
            _ => self.fallback(index, op),
        }
    }

    pub(super) fn activation(
        &mut self,
        index: usize,
        op: &OperationIr,
        a: &ActivationOperationIr,
    ) -> Result<()> {
        use ActivationOperationIr as A;
        match a {
            A::Relu(u) | A::Gelu(u) | A::Sigmoid(u) | A::LogSigmoid(u) => {
                self.pass(&u.input, &u.out);
                Ok(())
            }
            A::LeakyRelu(s) => {
                self.pass(&s.lhs, &s.out);
                Ok(())
            }
            A::HardSigmoid(h) => {
                self.pass(&h.tensor, &h.out);
                Ok(())
            }
            A::PRelu(b) => self.elementwise(index, op, &[&b.lhs, &b.rhs], &b.out),
            A::Softmax(d) | A::LogSoftmax(d) | A::Softmin(d) => {
                if let Some(i) = self.info.get(&d.input.id).cloned()
                    && i.axis == d.axis
                {
                    self.pin_all(&i.elems, "normalised together by a softmax");
                }
                self.pass(&d.input, &d.out);
                Ok(())
            }
            _ => self.fallback(index, op),
        }
    }

    pub(super) fn numeric(
        &mut self,
        index: usize,
        op: &OperationIr,
        n: &NumericOperationIr,
    ) -> Result<()> {
        use NumericOperationIr as N;
        match n {
            N::Add(b)
            | N::Sub(b)
            | N::Mul(b)
            | N::Div(b)
            | N::Rem(b)
            | N::Powi(b)
            | N::Greater(b)
            | N::GreaterEqual(b)
            | N::Lower(b)
            | N::LowerEqual(b) => self.elementwise(index, op, &[&b.lhs, &b.rhs], &b.out),
            N::AddScalar(s)
            | N::SubScalar(s)
            | N::MulScalar(s)
            | N::DivScalar(s)
            | N::RemScalar(s)
            | N::PowiScalar(s)
            | N::GreaterElem(s)
            | N::GreaterEqualElem(s)
            | N::LowerElem(s)
            | N::LowerEqualElem(s)
            | N::ClampMin(s)
            | N::ClampMax(s) => {
                self.pass(&s.lhs, &s.out);
                Ok(())
            }
            N::Abs(u) | N::Neg(u) | N::Sign(u) => {
                self.pass(&u.input, &u.out);
                Ok(())
            }
            N::Clamp(c) => {
                self.pass(&c.tensor, &c.out);
                Ok(())
            }
            N::SumDim(r) => self.reduce(index, op, &r.input, &r.out, &[r.axis], true),
            N::MeanDim(r)
            | N::ProdDim(r)
            | N::MaxDim(r)
            | N::MinDim(r)
            | N::MaxAbsDim(r)
            | N::ArgMax(r)
            | N::ArgMin(r) => self.reduce(index, op, &r.input, &r.out, &[r.axis], false),
            N::SumDims(r) => self.reduce(index, op, &r.input, &r.out, &r.axes, true),
            N::Sum(r) => {
                let axes: Vec<usize> = (0..r.input.shape.as_slice().len()).collect();
                self.reduce(index, op, &r.input, &r.out, &axes, true)
            }
            N::Mean(r) | N::Prod(r) | N::Max(r) | N::Min(r) | N::MaxAbs(r) => {
                let axes: Vec<usize> = (0..r.input.shape.as_slice().len()).collect();
                self.reduce(index, op, &r.input, &r.out, &axes, false)
            }
            N::Pad(p) => self.pad(index, op, &p.input, &p.out, &p.padding, &p.mode),
            _ => self.fallback(index, op),
        }
    }

    /// A reduction over `axes`. Summing over the channels consumes them (a removed channel
    /// contributes zero either way); any other reduction over them pins them.
    pub(super) fn reduce(
        &mut self,
        index: usize,
        op: &OperationIr,
        input: &TensorIr,
        out: &TensorIr,
        axes: &[usize],
        sum: bool,
    ) -> Result<()> {
        let Some(i) = self.info.get(&input.id).cloned() else {
            return self.fallback(index, op);
        };
        if !axes.contains(&i.axis) {
            if out.shape.as_slice().len() == input.shape.as_slice().len() {
                self.info.insert(out.id, i);
                return Ok(());
            }
            return Err(self.unknown(index, op, Some(&i.elems), "the reduction drops axes"));
        }
        let name = op_name(op);
        if matches!(name.as_str(), "MeanDim" | "Mean") {
            // The statistic of a LayerNorm or RMS norm written out, or a channel mean.
            self.normalised(
                &i.elems,
                &format!("averaged together by `{name}` (op #{index}), as a norm's statistic"),
            );
        } else if !sum {
            self.pin_all(
                &i.elems,
                &format!("reduced together by `{name}` (op #{index})"),
            );
        }
        Ok(())
    }

    pub(super) fn pad(
        &mut self,
        index: usize,
        op: &OperationIr,
        input: &TensorIr,
        out: &TensorIr,
        padding: &[(usize, usize)],
        mode: &PadModeIr,
    ) -> Result<()> {
        let Some(i) = self.info.get(&input.id).cloned() else {
            return self.fallback(index, op);
        };
        let rank = input.shape.as_slice().len();
        // One pair per dimension, aligned to the last dimensions if fewer are given.
        let pair = i
            .axis
            .checked_sub(rank - padding.len())
            .map(|k| padding[k])
            .unwrap_or((0, 0));
        if pair == (0, 0) {
            self.info.insert(out.id, i);
            return Ok(());
        }
        if !matches!(mode, PadModeIr::Constant(_)) {
            return Err(self.unknown(index, op, Some(&i.elems), "padding copies channels"));
        }
        let reason = format!(
            "a constant channel added by padding (op #{index}); its width is fixed in the model"
        );
        let before = self.fresh(pair.0, None);
        let after = self.fresh(pair.1, None);
        self.pin_all(&before, &reason);
        self.pin_all(&after, &reason);
        let elems = [before, i.elems, after].concat();
        self.info.insert(
            out.id,
            Info {
                axis: i.axis,
                elems,
            },
        );
        Ok(())
    }
}
