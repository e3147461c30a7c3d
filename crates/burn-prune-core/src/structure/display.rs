//! Readable summaries of the dependency graph and of a structural plan: what `{}` prints.
//!
//! ```text
//! dependency graph: 2 groups, 5 units (3 prunable, 2 pinned)
//! #  root        units  prunable/pinned  members                                 pinned
//! 0  fc1.weight      3              3/0  fc1.weight:1, fc1.bias:0, fc2.weight:0  -
//! 1  fc2.weight      2              0/2  fc2.weight:1, fc2.bias:0                2 pinned: a channel of the model output
//! ```
//!
//! A member is `path:axis`; one whose axis has another number of indices than the group has
//! units (a linear layer after a flatten reads `h·w` inputs per channel) adds its count,
//! `fc1.weight:0[48]`. Identical pin reasons are collapsed into one count.

use super::graph::{DependencyGraph, Group, GroupMember};
use super::plan::{ParamSlice, StructuralPlan};
use std::collections::BTreeSet;
use std::fmt;

/// Columns aligned to the left or to the right (numbers).
#[derive(Clone, Copy, PartialEq)]
enum Align {
    Left,
    Right,
}

/// A table with a header, columns separated by two spaces, no trailing blanks.
fn table(
    f: &mut fmt::Formatter<'_>,
    columns: &[(&str, Align)],
    rows: &[Vec<String>],
) -> fmt::Result {
    let width = |c: usize| {
        rows.iter()
            .map(|r| r[c].chars().count())
            .chain([columns[c].0.chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..columns.len()).map(width).collect();
    let header: Vec<String> = columns.iter().map(|(h, _)| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c > 0 {
                line.push_str("  ");
            }
            let pad = widths[c] - cell.chars().count();
            if columns[c].1 == Align::Right {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(f, "{}", line.trim_end())?;
    }
    Ok(())
}

/// `path:axis`, with the number of indices when it differs from the group's units.
fn member(m: &GroupMember, n_units: usize) -> String {
    if m.units.len() == n_units {
        format!("{}:{}", m.path, m.axis)
    } else {
        format!("{}:{}[{}]", m.path, m.axis, m.units.len())
    }
}

impl Group {
    /// The pinned units collapsed by reason, in order of first pinned unit:
    /// `"12 pinned: a channel of the model output"`, several joined by `"; "`, then
    /// `"approximate: …"` for an approximate group; `"-"` when there is neither.
    fn pins(&self) -> String {
        let mut reasons: Vec<(&str, usize)> = Vec::new();
        for why in self.pinned.values() {
            match reasons.iter_mut().find(|(r, _)| *r == why.as_str()) {
                Some((_, n)) => *n += 1,
                None => reasons.push((why, 1)),
            }
        }
        let mut parts: Vec<String> = reasons
            .iter()
            .map(|(why, n)| format!("{n} pinned: {why}"))
            .collect();
        if self.is_approximate() {
            parts.push(format!("approximate: {}", self.approximate.join("; ")));
        }
        if parts.is_empty() {
            return "-".into();
        }
        parts.join("; ")
    }

    fn member_list(&self) -> String {
        self.members
            .iter()
            .map(|m| member(m, self.n_units))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One line: `root: units, prunable, pinned; members ...; pins`.
///
/// ```text
/// fc2.weight: 2 units (0 prunable, 2 pinned); members fc2.weight:1, fc2.bias:0; 2 pinned: a channel of the model output
/// ```
impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} units ({} prunable, {} pinned); members {}",
            self.root(),
            self.n_units,
            self.prunable(),
            self.pinned.len(),
            self.member_list()
        )?;
        if !self.pinned.is_empty() || self.is_approximate() {
            write!(f, "; {}", self.pins())?;
        }
        Ok(())
    }
}

/// A table, one line per group: index, root layer, units, prunable/pinned, members
/// (`path:axis`) and the pinned units by reason (see the [module](self) example).
impl fmt::Display for DependencyGraph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units: usize = self.groups.iter().map(|g| g.n_units).sum();
        let pinned: usize = self.groups.iter().map(|g| g.pinned.len()).sum();
        writeln!(
            f,
            "dependency graph: {} groups, {units} units ({} prunable, {pinned} pinned)",
            self.groups.len(),
            units - pinned
        )?;
        let rows: Vec<Vec<String>> = self
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                vec![
                    i.to_string(),
                    g.root().to_string(),
                    g.n_units.to_string(),
                    format!("{}/{}", g.prunable(), g.pinned.len()),
                    g.member_list(),
                    g.pins(),
                ]
            })
            .collect();
        table(
            f,
            &[
                ("#", Align::Right),
                ("root", Align::Left),
                ("units", Align::Right),
                ("prunable/pinned", Align::Right),
                ("members", Align::Left),
                ("pinned", Align::Left),
            ],
            &rows,
        )
    }
}

fn shape(s: &[usize]) -> String {
    format!("{s:?}")
}

/// `axis 1: 6 of 8`, per cut axis, and a grouped convolution's `groups` change.
fn kept(s: &ParamSlice) -> String {
    let mut parts: Vec<String> = s
        .keep
        .iter()
        .map(|k| {
            let of = s.shape.get(k.axis).copied().unwrap_or(0);
            format!("axis {}: {} of {of}", k.axis, k.indices.len())
        })
        .collect();
    if let Some(g) = s.groups {
        parts.push(format!("groups {} -> {}", g.from, g.to));
    }
    parts.join(", ")
}

impl StructuralPlan {
    fn param_table(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<Vec<String>> = self
            .params
            .iter()
            .map(|(path, s)| {
                vec![
                    path.clone(),
                    shape(&s.shape),
                    shape(&s.new_shape()),
                    kept(s),
                ]
            })
            .collect();
        table(
            f,
            &[
                ("parameter", Align::Left),
                ("shape", Align::Left),
                ("new shape", Align::Left),
                ("kept", Align::Left),
            ],
            &rows,
        )
    }

    /// How many units of each group of `graph` the plan keeps, then the parameter table of
    /// the plan's `Display`:
    ///
    /// ```text
    /// structural plan: 1 of 2 groups cut, 3 parameters, 7 elements removed
    /// #  root        kept
    /// 0  fc1.weight  2 of 3
    /// 1  fc2.weight  2 of 2
    /// parameter   shape   new shape  kept
    /// fc1.bias    [3]     [2]        axis 0: 2 of 3
    /// fc1.weight  [4, 3]  [4, 2]     axis 1: 2 of 3
    /// fc2.weight  [3, 2]  [2, 2]     axis 0: 2 of 3
    /// ```
    ///
    /// A group's kept count is read from the first of its members the plan cuts (all its
    /// members lose the same units); a group none of whose members is cut keeps every unit.
    pub fn summary(&self, graph: &DependencyGraph) -> String {
        Summary { plan: self, graph }.to_string()
    }

    /// Units of `g` the plan keeps.
    fn kept_units(&self, g: &Group) -> usize {
        g.members
            .iter()
            .find_map(|m| {
                let keep = self
                    .params
                    .get(&m.path)?
                    .keep
                    .iter()
                    .find(|k| k.axis == m.axis)?;
                let units: BTreeSet<usize> = keep
                    .indices
                    .iter()
                    .filter_map(|&i| m.units.get(i).copied())
                    .collect();
                Some(units.len())
            })
            .unwrap_or(g.n_units)
    }
}

/// The plan seen through its graph (see [`StructuralPlan::summary`]).
struct Summary<'a> {
    plan: &'a StructuralPlan,
    graph: &'a DependencyGraph,
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kept: Vec<usize> = self
            .graph
            .groups
            .iter()
            .map(|g| self.plan.kept_units(g))
            .collect();
        let cut = self
            .graph
            .groups
            .iter()
            .zip(&kept)
            .filter(|(g, k)| **k < g.n_units)
            .count();
        writeln!(
            f,
            "structural plan: {cut} of {} groups cut, {} parameters, {} elements removed",
            self.graph.groups.len(),
            self.plan.params.len(),
            self.plan.removed_elements()
        )?;
        let rows: Vec<Vec<String>> = self
            .graph
            .groups
            .iter()
            .zip(&kept)
            .enumerate()
            .map(|(i, (g, k))| {
                vec![
                    i.to_string(),
                    g.root().to_string(),
                    format!("{k} of {}", g.n_units),
                ]
            })
            .collect();
        table(
            f,
            &[
                ("#", Align::Right),
                ("root", Align::Left),
                ("kept", Align::Left),
            ],
            &rows,
        )?;
        if !self.plan.params.is_empty() {
            self.plan.param_table(f)?;
        }
        Ok(())
    }
}

/// The cut parameters, one line each: path, shape, new shape, and the kept count per cut
/// axis (`axis 1: 6 of 8`; a grouped convolution adds `groups 4 -> 2`).
///
/// ```text
/// structural plan: 3 parameters cut, 7 elements removed
/// parameter   shape   new shape  kept
/// fc1.bias    [3]     [2]        axis 0: 2 of 3
/// fc1.weight  [4, 3]  [4, 2]     axis 1: 2 of 3
/// fc2.weight  [3, 2]  [2, 2]     axis 0: 2 of 3
/// ```
///
/// Per-group counts need the graph: [`StructuralPlan::summary`].
impl fmt::Display for StructuralPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.params.is_empty() {
            return writeln!(f, "structural plan: nothing cut");
        }
        writeln!(
            f,
            "structural plan: {} parameters cut, {} elements removed",
            self.params.len(),
            self.removed_elements()
        )?;
        self.param_table(f)
    }
}
