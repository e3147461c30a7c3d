//! Matrix products: `x @ W` (a linear layer written as a product) and products of two
//! activations.

use super::*;

impl<'a> Analysis<'a> {
    pub(super) fn matmul(
        &mut self,
        index: usize,
        op: &OperationIr,
        lhs: &TensorIr,
        rhs: &TensorIr,
        out: &TensorIr,
    ) -> Result<()> {
        let (lr, rr) = (lhs.shape.as_slice().len(), rhs.shape.as_slice().len());
        let or = out.shape.as_slice().len();
        let li = self.info.get(&lhs.id).cloned();
        let ri = self.info.get(&rhs.id).cloned();
        if self.is_param(rhs) && !self.is_param(lhs) {
            // x @ W: a linear layer. W's axis -2 reads x's last axis; axis -1 makes new channels.
            let w_in = self.param_axis(index, op, rhs, rr - 2)?;
            let w_out = self.param_axis(index, op, rhs, rr - 1)?;
            match &li {
                Some(i) if i.axis == lr - 1 => {
                    if let Some((p, axis)) = w_in {
                        self.couple(index, op, p, axis, &i.elems)?;
                    }
                }
                Some(i) => {
                    // Channels on another axis pass through; the new features are not tracked.
                    self.info.insert(
                        out.id,
                        Info {
                            axis: i.axis + or - lr,
                            elems: i.elems.clone(),
                        },
                    );
                    return Ok(());
                }
                None => {}
            }
            if let Some((p, axis)) = w_out {
                let n = out.shape.as_slice()[or - 1];
                let elems = self.fresh(n, Some(p));
                self.couple(index, op, p, axis, &elems)?;
                self.info.insert(
                    out.id,
                    Info {
                        axis: or - 1,
                        elems,
                    },
                );
            }
            return Ok(());
        }
        if self.is_param(lhs) || self.is_param(rhs) {
            let elems = li.as_ref().or(ri.as_ref()).map(|i| i.elems.clone());
            return Err(self.unknown(
                index,
                op,
                elems.as_deref(),
                "a parameter on the left of a matrix product",
            ));
        }
        // Two activations: the contracted axes are merged; the others pass through.
        match (&li, &ri) {
            (Some(a), Some(b)) if a.axis == lr - 1 && b.axis == rr - 2 => {
                for (&x, &y) in a.elems.clone().iter().zip(&b.elems) {
                    self.union(x, y);
                }
            }
            (Some(a), _) if a.axis == lr - 1 => self.pin_all(
                &a.elems.clone(),
                "contracted in a matrix product with untracked values",
            ),
            (_, Some(b)) if b.axis == rr - 2 => self.pin_all(
                &b.elems.clone(),
                "contracted in a matrix product with untracked values",
            ),
            _ => {}
        }
        // Batch axes (aligned from the right) are element-wise: heads in the scores `q @ kᵀ`
        // and in `weights @ v` are one head on both sides.
        let batch_l = li.as_ref().filter(|a| a.axis + 2 < lr).cloned();
        let batch_r = ri.as_ref().filter(|b| b.axis + 2 < rr).cloned();
        let batch = match (batch_l, batch_r) {
            (Some(a), Some(b)) if a.axis + or - lr == b.axis + or - rr => {
                if a.elems.len() != b.elems.len() {
                    return Err(self.unknown(
                        index,
                        op,
                        Some(&a.elems),
                        "inputs broadcast along their channels",
                    ));
                }
                for (&x, &y) in a.elems.iter().zip(&b.elems) {
                    self.union(x, y);
                }
                Some(Info {
                    axis: a.axis + or - lr,
                    elems: a.elems,
                })
            }
            (Some(a), Some(b)) => {
                let reason = format!(
                    "channels on two batch axes of the output ({} and {})",
                    a.axis + or - lr,
                    b.axis + or - rr
                );
                return Err(self.unknown(index, op, Some(&a.elems), &reason));
            }
            (Some(i), None) => {
                self.batch_partner(index, op, &i, rhs, or - lr, or - rr);
                Some(Info {
                    axis: i.axis + or - lr,
                    elems: i.elems,
                })
            }
            (None, Some(i)) => {
                self.batch_partner(index, op, &i, lhs, or - rr, or - lr);
                Some(Info {
                    axis: i.axis + or - rr,
                    elems: i.elems,
                })
            }
            (None, None) => None,
        };
        let from_l = li.filter(|a| a.axis + 2 == lr).map(|a| Info {
            axis: or - 2,
            elems: a.elems,
        });
        let from_r = ri.filter(|b| b.axis + 1 == rr).map(|b| Info {
            axis: or - 1,
            elems: b.elems,
        });
        let carried: Vec<Info> = [batch, from_l, from_r].into_iter().flatten().collect();
        match carried.as_slice() {
            [] => Ok(()),
            [i] => {
                self.info.insert(out.id, i.clone());
                Ok(())
            }
            [a, b, ..] => Err(self.unknown(
                index,
                op,
                Some(&a.elems),
                &format!(
                    "channels on two axes of the output ({} and {})",
                    a.axis, b.axis
                ),
            )),
        }
    }

    /// Channels on a batch axis of one side of a matrix product meet the other side's
    /// entries on that axis one to one: if the other side cannot shrink there (it carries
    /// no channels and is not broadcast), they are pinned.
    fn batch_partner(
        &mut self,
        index: usize,
        op: &OperationIr,
        info: &Info,
        other: &TensorIr,
        shift: usize,
        other_shift: usize,
    ) {
        let out_axis = info.axis + shift;
        let size = out_axis
            .checked_sub(other_shift)
            .and_then(|k| other.shape.as_slice().get(k).copied())
            .unwrap_or(1);
        if size > 1 {
            self.pin_all(
                &info.elems,
                &format!(
                    "multiplied head by head with values that cannot shrink (`{}`, op #{index})",
                    op_name(op)
                ),
            );
        }
    }
}
