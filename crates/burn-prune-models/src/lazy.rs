//! Materialising Burn's lazily initialised parameters.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;

/// `model` with every float parameter initialised.
///
/// Burn initialises a new module's parameters lazily, on first use; a loaded or trained model
/// has its values already. Benchmarks and examples that time pruning on a freshly built model
/// call this first, so that the timing measures the pruning and not the random
/// initialisation, and so that every parameter's values are fixed by the device's seed before
/// anything reads them.
///
/// ```
/// use burn::nn::LinearConfig;
/// use burn::prelude::*;
/// use burn_prune_models::initialized;
///
/// let fc = LinearConfig::new(4, 2).init(&Device::flex());
/// assert!(!fc.weight.is_initialized());
/// let fc = initialized(fc);
/// assert!(fc.weight.is_initialized());
/// assert!(fc.bias.as_ref().unwrap().is_initialized());
/// ```
pub fn initialized<M: Module>(model: M) -> M {
    struct Touch;
    impl ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    model.visit(&mut Touch);
    model
}
