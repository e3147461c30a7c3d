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
            B::Zeros(_) | B::Ones(_) | B::Empty(_) => Ok(()),
            _ => self.fallback(index, op),
        }
    }

    pub(super) fn permute(&mut self, input: &TensorIr, out: &TensorIr, axes: &[usize]) {
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
            // The channels are split and mixed with other axes (GroupNorm's grouping): what
            // follows cannot be followed per channel, so they stay, and the result carries no
            // prunable channels.
            self.pin_all(
                &i.elems,
                &format!("reshaped together with other axes (`Reshape` op #{index}, e.g. a GroupNorm's grouping)"),
            );
            return Ok(());
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
}
