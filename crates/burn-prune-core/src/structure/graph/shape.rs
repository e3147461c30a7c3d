//! Base ops: permutations, reshapes, concatenation, slicing, masks, casts and fills.

use super::*;

impl<'a> Analysis<'a> {
    pub(super) fn base(
        &mut self,
        index: usize,
        op: &OperationIr,
        b: &BaseOperationIr,
    ) -> Result<()> {
        use BaseOperationIr as B;
        match b {
            B::Reshape(r) => self.reshape(index, &r.input, &r.out),
            B::SwapDims(s) => {
                let mut axes: Vec<usize> = (0..s.input.shape.as_slice().len()).collect();
                axes.swap(s.dim1, s.dim2);
                self.permute(&s.input, &s.out, &axes);
                Ok(())
            }
            B::Permute(p) => {
                self.permute(&p.input, &p.out, &p.axes);
                Ok(())
            }
            B::Expand(e) => {
                let shift = e.out.shape.as_slice().len() - e.input.shape.as_slice().len();
                if self.fills.contains(&e.input.id) {
                    self.fills.insert(e.out.id);
                }
                if let Some(i) = self.info.get(&e.input.id).cloned() {
                    self.info.insert(
                        e.out.id,
                        Info {
                            axis: i.axis + shift,
                            elems: i.elems,
                        },
                    );
                } else if let Some(a) = self.alias.get(&e.input.id).cloned() {
                    let axes = std::iter::repeat_n(None, shift).chain(a.axes).collect();
                    self.alias.insert(
                        e.out.id,
                        Alias {
                            param: a.param,
                            axes,
                        },
                    );
                } else if let Some(&p) = self.tainted.get(&e.input.id) {
                    self.tainted.insert(e.out.id, p);
                }
                Ok(())
            }
            B::Slice(s) => {
                if let Some(a) = self.alias.get(&s.tensor.id).cloned() {
                    // Part of a parameter (the first positions of a position table): the axes
                    // taken whole still read the parameter's axes; the cut ones cannot couple.
                    let shape = s.tensor.shape.as_slice();
                    let axes = a
                        .axes
                        .iter()
                        .enumerate()
                        .map(|(k, &pa)| {
                            let whole = s.ranges.get(k).is_none_or(|r| {
                                let (range, step) = r.to_range_and_step(shape[k]);
                                range.start == 0 && range.end == shape[k] && step == 1
                            });
                            pa.filter(|_| whole)
                        })
                        .collect();
                    self.alias.insert(
                        s.out.id,
                        Alias {
                            param: a.param,
                            axes,
                        },
                    );
                    return Ok(());
                }
                let Some(i) = self.info.get(&s.tensor.id).cloned() else {
                    return self.fallback(index, op);
                };
                let Some(range) = s.ranges.get(i.axis) else {
                    self.info.insert(s.out.id, i);
                    return Ok(());
                };
                let (r, step) = range.to_range_and_step(i.elems.len());
                if !(r.start == 0 && r.end == i.elems.len() && step == 1) {
                    // The range is a constant of the forward code: removing any channel would
                    // shift what it selects.
                    self.pin_all(
                        &i.elems,
                        &format!("sliced along the channel axis by a constant range (`Slice` op #{index}, a split or narrow)"),
                    );
                }
                let mut picked: Vec<usize> = r.collect();
                if step < 0 {
                    picked.reverse();
                }
                let elems: Vec<u32> = picked
                    .iter()
                    .step_by(step.unsigned_abs().max(1))
                    .map(|&k| i.elems[k])
                    .collect();
                self.info.insert(
                    s.out.id,
                    Info {
                        axis: i.axis,
                        elems,
                    },
                );
                Ok(())
            }
            B::Cat(c) => self.cat(index, op, &c.tensors, c.dim, &c.out),
            B::Flip(f) => {
                if let Some(mut i) = self.info.get(&f.input.id).cloned() {
                    if f.axes.contains(&i.axis) {
                        i.elems.reverse();
                    }
                    self.info.insert(f.out.id, i);
                    Ok(())
                } else {
                    self.fallback(index, op)
                }
            }
            B::RepeatDim(r) => {
                if let Some(mut i) = self.info.get(&r.tensor.id).cloned() {
                    if r.dim == i.axis {
                        i.elems = i.elems.repeat(r.times);
                    }
                    self.info.insert(r.out.id, i);
                    Ok(())
                } else {
                    self.fallback(index, op)
                }
            }
            B::MaskFill(m) => {
                // A mask (a pruning reparameterization, a causal mask): value-wise, same shape.
                if self.info.contains_key(&m.mask.id) {
                    return self.fallback(index, op);
                }
                self.pass(&m.tensor, &m.out);
                Ok(())
            }
            B::MaskWhere(m) => self.elementwise(index, op, &[&m.tensor, &m.value], &m.out),
            B::Cast(c) => {
                self.pass(&c.input, &c.out);
                Ok(())
            }
            B::Equal(e) | B::NotEqual(e) => self.elementwise(index, op, &[&e.lhs, &e.rhs], &e.out),
            B::EqualElem(s) | B::NotEqualElem(s) => {
                self.pass(&s.lhs, &s.out);
                Ok(())
            }
            B::Zeros(c) | B::Ones(c) | B::Empty(c) => {
                self.fills.insert(c.out.id);
                Ok(())
            }
            B::SliceAssign(s) => {
                self.slice_assign(index, op, &s.tensor, &s.ranges, &s.value, &s.out)
            }
            _ => self.fallback(index, op),
        }
    }

    pub(super) fn permute(&mut self, input: &TensorIr, out: &TensorIr, axes: &[usize]) {
        if self.fills.contains(&input.id) {
            self.fills.insert(out.id);
        }
        // Output axis k is input axis axes[k].
        if let Some(i) = self.info.get(&input.id).cloned() {
            if let Some(k) = axes.iter().position(|&a| a == i.axis) {
                self.info.insert(
                    out.id,
                    Info {
                        axis: k,
                        elems: i.elems,
                    },
                );
            }
        } else if let Some(a) = self.alias.get(&input.id).cloned() {
            let mapped = axes
                .iter()
                .map(|&k| a.axes.get(k).copied().flatten())
                .collect();
            self.alias.insert(
                out.id,
                Alias {
                    param: a.param,
                    axes: mapped,
                },
            );
        } else if let Some(&p) = self.tainted.get(&input.id) {
            self.tainted.insert(out.id, p);
        }
    }

    pub(super) fn reshape(&mut self, index: usize, input: &TensorIr, out: &TensorIr) -> Result<()> {
        let (ins, outs) = (input.shape.as_slice(), out.shape.as_slice());
        if self.fills.contains(&input.id) {
            self.fills.insert(out.id);
        }
        if let Some(a) = self.alias.get(&input.id).cloned() {
            // Only inserting or removing unit axes keeps a parameter recognisable.
            let kept_in: Vec<usize> = (0..ins.len()).filter(|&k| ins[k] != 1).collect();
            let kept_out: Vec<usize> = (0..outs.len()).filter(|&k| outs[k] != 1).collect();
            if kept_in.len() == kept_out.len()
                && kept_in
                    .iter()
                    .zip(&kept_out)
                    .all(|(&x, &y)| ins[x] == outs[y])
            {
                let mut axes = vec![None; outs.len()];
                for (&x, &y) in kept_in.iter().zip(&kept_out) {
                    axes[y] = a.axes[x];
                }
                self.alias.insert(
                    out.id,
                    Alias {
                        param: a.param,
                        axes,
                    },
                );
            } else {
                self.tainted.insert(out.id, a.param);
            }
            return Ok(());
        }
        if let Some(&p) = self.tainted.get(&input.id) {
            self.tainted.insert(out.id, p);
            return Ok(());
        }
        let Some(i) = self.info.get(&input.id).cloned() else {
            return Ok(());
        };
        let c = i.elems.len();
        let s_a: usize = ins[i.axis + 1..].iter().product();
        // The output axis whose span of the flat index holds the whole channel axis.
        let found = (0..outs.len()).find(|&b| {
            let ob: usize = outs[b + 1..].iter().product();
            ob <= s_a && s_a.is_multiple_of(ob) && (ob * outs[b]).is_multiple_of(s_a * c)
        });
        let Some(b) = found else {
            return self.split(index, &i, s_a, outs, out);
        };
        let ob: usize = outs[b + 1..].iter().product();
        let elems = (0..outs[b]).map(|j| i.elems[(j * ob / s_a) % c]).collect();
        self.info.insert(out.id, Info { axis: b, elems });
        Ok(())
    }

    pub(super) fn cat(
        &mut self,
        index: usize,
        op: &OperationIr,
        tensors: &[TensorIr],
        dim: usize,
        out: &TensorIr,
    ) -> Result<()> {
        let infos: Vec<Option<Info>> = tensors
            .iter()
            .map(|t| self.info.get(&t.id).cloned())
            .collect();
        let Some(first) = infos.iter().flatten().next().cloned() else {
            return self.fallback(index, op);
        };
        if first.axis == dim {
            let reason =
                format!("a channel concatenated from values that cannot shrink (op #{index})");
            let mut elems = Vec::new();
            for (t, i) in tensors.iter().zip(&infos) {
                match i {
                    Some(i) if i.axis == dim => elems.extend(&i.elems),
                    Some(i) => {
                        return Err(self.unknown(
                            index,
                            op,
                            Some(&i.elems),
                            "inputs carry channels on different axes",
                        ));
                    }
                    None => {
                        let fresh = self.fresh(t.shape.as_slice()[dim], None);
                        self.pin_all(&fresh, &reason);
                        elems.extend(fresh);
                    }
                }
            }
            self.info.insert(out.id, Info { axis: dim, elems });
            return Ok(());
        }
        let refs: Vec<&TensorIr> = tensors.iter().collect();
        self.elementwise(index, op, &refs, out)
    }

    /// A reshape that splits the channel axis into blocks of equal size (`[.., h·d] →
    /// [.., h, d]`: attention heads, a GroupNorm's groups). With whole blocks as units the
    /// output carries the block axis (each block's channels merged into one unit); with
    /// positions as units it carries the position axis (the channels at one position of every
    /// block merged). Which is tried first is [`GraphOptions::head_units`]; a split neither
    /// reading applies to pins the channels.
    fn split(
        &mut self,
        index: usize,
        i: &Info,
        s_a: usize,
        outs: &[usize],
        out: &TensorIr,
    ) -> Result<()> {
        let c = i.elems.len();
        let stride = |b: usize| -> usize { outs[b + 1..].iter().product() };
        // Output axis b holds block `ch / k` of channel ch when its stride is k·s_a.
        let blocks = (0..outs.len()).find(|&b| {
            let n = outs[b];
            n > 1 && n < c && c.is_multiple_of(n) && stride(b) == (c / n) * s_a
        });
        // Output axis b holds position `ch % n` of channel ch when its stride is s_a.
        let positions = (0..outs.len()).find(|&b| {
            let n = outs[b];
            n > 1 && n < c && c.is_multiple_of(n) && stride(b) == s_a
        });
        let order = match self.options.head_units {
            HeadUnits::Heads => [blocks.map(|b| (b, true)), positions.map(|b| (b, false))],
            HeadUnits::Dims => [positions.map(|b| (b, false)), blocks.map(|b| (b, true))],
        };
        let Some((b, whole)) = order.into_iter().flatten().next() else {
            // The channels are mixed with other axes in a way no unit survives: what follows
            // cannot be followed per channel, so they stay, and the result carries none.
            self.pin_all(
                &i.elems,
                &format!("reshaped together with other axes into a shape that splits no whole block or position (`Reshape` op #{index})"),
            );
            return Ok(());
        };
        let n = outs[b];
        let unit = |ch: usize| if whole { ch / (c / n) } else { ch % n };
        let mut reps: Vec<Option<u32>> = vec![None; n];
        for (ch, &e) in i.elems.iter().enumerate() {
            match reps[unit(ch)] {
                Some(r) => self.union(r, e),
                None => reps[unit(ch)] = Some(e),
            }
        }
        let elems = reps.into_iter().flatten().collect();
        self.info.insert(out.id, Info { axis: b, elems });
        Ok(())
    }

    /// `tensor` with `value` written into the `ranges` (an RNN writing each step's hidden state
    /// into its output buffer). Written over the whole channel axis, the output carries the
    /// value's channels, merged with the tensor's (if it has any); a buffer that is a constant
    /// fill shrinks with them. Any other tensor or a write into part of the channel axis pins
    /// them.
    pub(super) fn slice_assign(
        &mut self,
        index: usize,
        op: &OperationIr,
        tensor: &TensorIr,
        ranges: &[burn::tensor::Slice],
        value: &TensorIr,
        out: &TensorIr,
    ) -> Result<()> {
        let ti = self.info.get(&tensor.id).cloned();
        let vi = self.info.get(&value.id).cloned();
        let Some(axis) = ti.as_ref().or(vi.as_ref()).map(|i| i.axis) else {
            if self.fills.contains(&tensor.id) && self.fills.contains(&value.id) {
                self.fills.insert(out.id);
            }
            return self.fallback(index, op);
        };
        let size = tensor.shape.as_slice()[axis];
        let whole = ranges.get(axis).is_none_or(|r| {
            let (range, step) = r.to_range_and_step(size);
            range.start == 0 && range.end == size && step == 1
        });
        let reason = format!(
            "written into a buffer that cannot shrink along the channels (`SliceAssign` op #{index})"
        );
        if !whole {
            for i in [&ti, &vi].into_iter().flatten() {
                self.pin_all(
                    &i.elems,
                    &format!(
                        "written into a constant range of the channels (`SliceAssign` op #{index})"
                    ),
                );
            }
            if let Some(t) = ti {
                self.info.insert(out.id, t);
            }
            return Ok(());
        }
        match (ti, vi) {
            (Some(t), Some(v)) => {
                if t.axis != v.axis || t.elems.len() != v.elems.len() {
                    return Err(self.unknown(
                        index,
                        op,
                        Some(&t.elems),
                        "the value and the buffer carry different channels",
                    ));
                }
                for (&a, &b) in t.elems.iter().zip(&v.elems) {
                    self.union(a, b);
                }
                self.info.insert(out.id, t);
            }
            (Some(i), None) | (None, Some(i)) => {
                let other = if self.info.contains_key(&tensor.id) {
                    value
                } else {
                    tensor
                };
                let free = self.fills.contains(&other.id)
                    || other.shape.as_slice().get(axis).is_none_or(|&n| n == 1);
                if !free {
                    self.pin_all(&i.elems, &reason);
                }
                self.info.insert(out.id, i);
            }
            (None, None) => {} // an axis was found: one of them carries channels
        }
        Ok(())
    }
}
