//! The analysis state: elements and their union-find, pins, couplings of parameter
//! dimensions, the op dispatch, and the groups it ends with.

use super::*;

impl<'a> Analysis<'a> {
    pub(super) fn new(trace: &'a Trace, options: &'a GraphOptions) -> Self {
        let alias = trace
            .param_ids
            .iter()
            .map(|(&id, &p)| {
                let rank = trace.params[p].shape.len();
                (
                    id,
                    Alias {
                        param: p,
                        axes: (0..rank).map(Some).collect(),
                    },
                )
            })
            .collect();
        Self {
            trace,
            options,
            parent: Vec::new(),
            pinned: Vec::new(),
            approximate: Vec::new(),
            origin: Vec::new(),
            info: HashMap::new(),
            alias,
            tainted: HashMap::new(),
            fills: Default::default(),
            couplings: Vec::new(),
            coupling_index: HashMap::new(),
            last_param: None,
            grouped: BTreeMap::new(),
        }
    }

    // ------------------------------------------------------------------ elements

    pub(super) fn fresh(&mut self, n: usize, origin: Option<usize>) -> Vec<u32> {
        let start = self.parent.len() as u32;
        for i in 0..n as u32 {
            self.parent.push(start + i);
            self.pinned.push(None);
            self.approximate.push(None);
            self.origin.push(origin.map_or(NO_ORIGIN, |p| p as u32));
        }
        (start..start + n as u32).collect()
    }

    pub(super) fn find(&mut self, mut e: u32) -> u32 {
        while self.parent[e as usize] != e {
            let up = self.parent[self.parent[e as usize] as usize];
            self.parent[e as usize] = up;
            e = up;
        }
        e
    }

    pub(super) fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return;
        }
        let (keep, gone) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.parent[gone as usize] = keep;
        if self.pinned[keep as usize].is_none() {
            self.pinned[keep as usize] = self.pinned[gone as usize].take();
        }
        if self.approximate[keep as usize].is_none() {
            self.approximate[keep as usize] = self.approximate[gone as usize].take();
        }
        if self.origin[keep as usize] == NO_ORIGIN {
            self.origin[keep as usize] = self.origin[gone as usize];
        }
    }

    pub(super) fn pin(&mut self, e: u32, reason: &str) {
        let r = self.find(e) as usize;
        if self.pinned[r].is_none() {
            self.pinned[r] = Some(reason.to_string());
        }
    }

    pub(super) fn pin_all(&mut self, elems: &[u32], reason: &str) {
        for &e in elems {
            self.pin(e, reason);
        }
    }

    /// Channels a normalisation reads together: pinned (exact), or, with
    /// [`GraphOptions::approximate_norms`], marked approximately removable.
    pub(super) fn normalised(&mut self, elems: &[u32], reason: &str) {
        if !self.options.approximate_norms {
            self.pin_all(elems, &format!("{reason} (removing one changes the statistics; `GraphOptions::with_approximate_norms` allows it)"));
            return;
        }
        for &e in elems {
            let r = self.find(e) as usize;
            if self.approximate[r].is_none() {
                self.approximate[r] = Some(reason.to_string());
            }
        }
    }

    pub(super) fn path(&self, p: usize) -> &str {
        &self.trace.params[p].path
    }

    pub(super) fn near(&mut self, elems: Option<&[u32]>) -> String {
        if let Some(&e) = elems.and_then(|e| e.first()) {
            let r = self.find(e) as usize;
            let o = self.origin[r];
            if o != NO_ORIGIN {
                return self.path(o as usize).to_string();
            }
        }
        self.last_param.map_or_else(
            || "the model input".to_string(),
            |p| self.path(p).to_string(),
        )
    }

    pub(super) fn unknown(
        &mut self,
        index: usize,
        op: &OperationIr,
        elems: Option<&[u32]>,
        reason: &str,
    ) -> PruneError {
        PruneError::UnknownChannelOp {
            index,
            op: op_name(op),
            near: self.near(elems),
            reason: reason.to_string(),
        }
    }

    // ------------------------------------------------------------------ parameters

    /// Couple `(param, axis)` to `elems` (one per index along the axis).
    pub(super) fn couple(
        &mut self,
        index: usize,
        op: &OperationIr,
        param: usize,
        axis: usize,
        elems: &[u32],
    ) -> Result<()> {
        let size = self.trace.params[param].shape.get(axis).copied();
        if size != Some(elems.len()) {
            let reason = format!(
                "`{}` axis {axis} has {size:?} entries but {} channels reach it",
                self.path(param),
                elems.len()
            );
            return Err(self.unknown(index, op, Some(elems), &reason));
        }
        self.last_param = Some(param);
        match self.coupling_index.get(&(param, axis)) {
            Some(&i) => {
                let existing = self.couplings[i].1.clone();
                for (&a, &b) in existing.iter().zip(elems) {
                    self.union(a, b);
                }
            }
            None => {
                self.coupling_index
                    .insert((param, axis), self.couplings.len());
                self.couplings.push(((param, axis), elems.to_vec()));
            }
        }
        Ok(())
    }

    /// The parameter axis behind axis `axis` of tensor `t`, or an error if `t` is computed from
    /// a parameter in a way the analysis cannot follow.
    pub(super) fn param_axis(
        &mut self,
        index: usize,
        op: &OperationIr,
        t: &TensorIr,
        axis: usize,
    ) -> Result<Option<(usize, usize)>> {
        if let Some(a) = self.alias.get(&t.id) {
            return Ok(a.axes.get(axis).copied().flatten().map(|pa| (a.param, pa)));
        }
        if let Some(&p) = self.tainted.get(&t.id) {
            let reason = format!(
                "parameter `{}` reaches it through an operation the analysis cannot follow",
                self.path(p)
            );
            return Err(self.unknown(index, op, None, &reason));
        }
        Ok(None)
    }

    pub(super) fn is_param(&self, t: &TensorIr) -> bool {
        self.alias.contains_key(&t.id) || self.tainted.contains_key(&t.id)
    }

    // ------------------------------------------------------------------ ops

    pub(super) fn step(&mut self, index: usize, op: &OperationIr) -> Result<()> {
        let name = op_name(op);
        if self.options.barriers.contains(&name) {
            let ins: Vec<TensorIr> = op.inputs().cloned().collect();
            for t in &ins {
                if let Some(i) = self.info.get(&t.id).cloned() {
                    self.pin_all(
                        &i.elems,
                        &format!("input of barrier `{name}` (op #{index})"),
                    );
                }
            }
            return Ok(());
        }
        let options = self.options;
        for rule in options.rules.iter() {
            let mut flow = ChannelFlow {
                analysis: self,
                index,
                op,
            };
            if rule.apply(&mut flow)? {
                return Ok(());
            }
        }
        match op {
            OperationIr::Init(_) | OperationIr::Drop(_) => Ok(()),
            OperationIr::Module(m) => self.module(index, op, m),
            OperationIr::Float(_, FloatOperationIr::Matmul(mm)) => {
                self.matmul(index, op, &mm.lhs, &mm.rhs, &mm.out)
            }
            OperationIr::Float(_, FloatOperationIr::Powf(b))
            | OperationIr::Float(_, FloatOperationIr::ArcTan2(b))
            | OperationIr::Float(_, FloatOperationIr::Hypot(b)) => {
                self.elementwise(index, op, &[&b.lhs, &b.rhs], &b.out)
            }
            OperationIr::Float(_, f) => self.float_unary(index, op, f),
            OperationIr::NumericFloat(_, n) => self.numeric(index, op, n),
            OperationIr::BaseFloat(b) => self.base(index, op, b),
            OperationIr::Activation(a) => self.activation(index, op, a),
            _ => self.fallback(index, op),
        }
    }

    /// An op the analysis has no rule for: fine if no prunable channel or parameter reaches it.
    pub(super) fn fallback(&mut self, index: usize, op: &OperationIr) -> Result<()> {
        let ins: Vec<TensorIr> = op.inputs().cloned().collect();
        if let Some(i) = ins.iter().find_map(|t| self.info.get(&t.id).cloned()) {
            return Err(self.unknown(index, op, Some(&i.elems), "no rule for this operation"));
        }
        if let Some(p) = ins.iter().find_map(|t| {
            self.alias
                .get(&t.id)
                .map(|a| a.param)
                .or(self.tainted.get(&t.id).copied())
        }) {
            for o in op.outputs() {
                self.tainted.insert(o.id, p);
            }
        }
        Ok(())
    }

    /// Same shape in and out, channel by channel.
    pub(super) fn pass(&mut self, input: &TensorIr, out: &TensorIr) {
        if self.fills.contains(&input.id) {
            self.fills.insert(out.id);
        }
        if let Some(i) = self.info.get(&input.id).cloned() {
            self.info.insert(out.id, i);
        } else if let Some(a) = self.alias.get(&input.id).cloned() {
            self.alias.insert(out.id, a);
        } else if let Some(&p) = self.tainted.get(&input.id) {
            self.tainted.insert(out.id, p);
        }
    }

    /// An op that keeps axis 1 (channels) and mixes only the other axes (pooling, resizing).
    pub(super) fn spatial(
        &mut self,
        index: usize,
        op: &OperationIr,
        input: &TensorIr,
        out: &TensorIr,
    ) -> Result<()> {
        match self.info.get(&input.id).cloned() {
            Some(i) if i.axis == 1 && out.shape.as_slice().get(1) == Some(&i.elems.len()) => {
                self.info.insert(out.id, i);
                Ok(())
            }
            Some(i) => Err(self.unknown(index, op, Some(&i.elems), "channels are not on axis 1")),
            None => self.fallback(index, op),
        }
    }

    // ------------------------------------------------------------------ result

    pub(super) fn finish(mut self) -> DependencyGraph {
        self.pin_fixed_modules();
        // Units are roots of merged elements; groups are units sharing a parameter dimension.
        let couplings = std::mem::take(&mut self.couplings);
        let mut group_parent: HashMap<u32, u32> = HashMap::new();
        fn gfind(p: &mut HashMap<u32, u32>, mut x: u32) -> u32 {
            while let Some(&up) = p.get(&x) {
                if up == x {
                    break;
                }
                x = up;
            }
            x
        }
        let rooted: Vec<Vec<u32>> = couplings
            .iter()
            .map(|(_, elems)| elems.iter().map(|&e| self.find(e)).collect())
            .collect();
        for roots in &rooted {
            for &r in roots {
                group_parent.entry(r).or_insert(r);
            }
            if let Some(&first) = roots.first() {
                let a = gfind(&mut group_parent, first);
                for &r in &roots[1..] {
                    let b = gfind(&mut group_parent, r);
                    if a != b {
                        group_parent.insert(b, a);
                    }
                }
            }
        }
        let mut group_of_root: HashMap<u32, usize> = HashMap::new();
        let mut groups: Vec<(Group, HashMap<u32, usize>)> = Vec::new();
        for (((param, axis), _), roots) in couplings.iter().zip(&rooted) {
            let Some(&first) = roots.first() else {
                continue;
            };
            let g_root = gfind(&mut group_parent, first);
            let gi = *group_of_root.entry(g_root).or_insert_with(|| {
                groups.push((
                    Group {
                        n_units: 0,
                        members: Vec::new(),
                        pinned: BTreeMap::new(),
                        approximate: Vec::new(),
                    },
                    HashMap::new(),
                ));
                groups.len() - 1
            });
            let (group, units) = &mut groups[gi];
            let mut member_units = Vec::with_capacity(roots.len());
            for &r in roots {
                let next = units.len();
                let u = *units.entry(r).or_insert(next);
                if u == next {
                    group.n_units += 1;
                    if let Some(reason) = &self.pinned[r as usize] {
                        group.pinned.insert(u, reason.clone());
                    }
                    if let Some(reason) = &self.approximate[r as usize]
                        && !group.approximate.contains(reason)
                    {
                        group.approximate.push(reason.clone());
                    }
                }
                member_units.push(u);
            }
            group.members.push(GroupMember {
                path: self.trace.params[*param].path.clone(),
                axis: *axis,
                units: member_units,
            });
        }
        DependencyGraph {
            groups: groups.into_iter().map(|(g, _)| g).collect(),
            grouped_convs: std::mem::take(&mut self.grouped),
            shapes: self
                .trace
                .params
                .iter()
                .map(|p| (p.path.clone(), p.shape.clone()))
                .collect(),
        }
    }
}
