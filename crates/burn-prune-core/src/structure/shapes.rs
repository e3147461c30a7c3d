//! New parameter shapes by path: how an algorithm that resizes layers (a channel allocation,
//! a structural plan) tells a model's own configuration its new widths, without the
//! algorithm knowing the model.

/// The shapes a model's parameters take after a structural change, by parameter path.
///
/// Implemented by the algorithms that choose widths (PreCrop/PreConfig's
/// `ChannelAllocation`); read by the models' configurations, which alone know which parameter
/// holds which width (`burn-prune-models`' `VggConfig::with_widths_of`,
/// `ResNetCifarConfig::with_widths_of`, or a configuration of yours).
///
/// ```
/// use burn_prune_core::structure::ParamShapes;
/// use std::collections::HashMap;
///
/// let shapes = HashMap::from([("fc.weight".to_string(), vec![32, 10])]);
/// assert_eq!(shapes.width("fc.weight", 0), Some(32));
/// assert_eq!(shapes.width("fc.weight", 2), None);
/// assert_eq!(shapes.width("conv.weight", 0), None);
/// ```
pub trait ParamShapes {
    /// The new shape of the parameter at `path`, or `None` when it knows no such parameter.
    fn new_shape(&self, path: &str) -> Option<Vec<usize>>;

    /// The new size of `axis` of the parameter at `path`, or `None` when it knows no such
    /// parameter or axis.
    fn width(&self, path: &str, axis: usize) -> Option<usize> {
        self.new_shape(path).and_then(|s| s.get(axis).copied())
    }
}

impl ParamShapes for std::collections::HashMap<String, Vec<usize>> {
    fn new_shape(&self, path: &str) -> Option<Vec<usize>> {
        self.get(path).cloned()
    }
}

impl ParamShapes for std::collections::BTreeMap<String, Vec<usize>> {
    fn new_shape(&self, path: &str) -> Option<Vec<usize>> {
        self.get(path).cloned()
    }
}
