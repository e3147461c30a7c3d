//! Burn modules whose forward code fixes sizes the traced ops do not show: their channels are
//! pinned with the reason, so that no plan breaks them.

use super::*;

/// A Burn module's parameters (relative path, axis) that must keep their size, and why.
struct Fixed {
    module: &'static str,
    members: &'static [(&'static str, usize)],
    reason: &'static str,
}

const FIXED: &[Fixed] = &[
    Fixed {
        module: "MultiHeadAttention",
        members: &[
            ("query.weight", 0),
            ("query.weight", 1),
            ("query.bias", 0),
            ("key.weight", 0),
            ("key.weight", 1),
            ("key.bias", 0),
            ("value.weight", 0),
            ("value.weight", 1),
            ("value.bias", 0),
            ("output.weight", 0),
            ("output.weight", 1),
            ("output.bias", 0),
        ],
        reason: "Burn's MultiHeadAttention reshapes its context to its input width, so its heads, head dimension and width stay tied (n_heads·d_k = d_model) and are kept; an attention module with an output width of its own (burn_prune::models::SelfAttention) can lose heads",
    },
    Fixed {
        module: "CrossAttention",
        members: &[
            ("query.weight", 1),
            ("query.bias", 0),
            ("key.weight", 1),
            ("key.bias", 0),
            ("value.weight", 1),
            ("value.bias", 0),
            ("output.weight", 0),
        ],
        reason: "Burn's CrossAttention keeps its heads and head dimension in private fields no code outside Burn can change, so its attention features are kept",
    },
];

impl Analysis<'_> {
    /// Pin the coupled dimensions of the modules in [`FIXED`].
    pub(super) fn pin_fixed_modules(&mut self) {
        let mut pins: Vec<(Vec<u32>, String)> = Vec::new();
        for ((param, axis), elems) in &self.couplings {
            let p = &self.trace.params[*param];
            let segments: Vec<&str> = p.path.split('.').collect();
            // The innermost listed module on the path.
            let Some((depth, fixed)) = p
                .modules
                .iter()
                .enumerate()
                .rev()
                .find_map(|(d, m)| FIXED.iter().find(|f| f.module == m).map(|f| (d, f)))
            else {
                continue;
            };
            // `modules[depth]` holds segment `depth`: the module is at the segments before.
            let relative = segments[depth..].join(".");
            if fixed
                .members
                .iter()
                .any(|&(rel, a)| rel == relative && a == *axis)
            {
                let module = segments[..depth].join(".");
                pins.push((elems.clone(), format!("{} (`{module}`)", fixed.reason)));
            }
        }
        for (elems, reason) in pins {
            self.pin_all(&elems, &reason);
        }
    }
}
