//! A multilayer perceptron: `Linear` layers with ReLU between them.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::ModelError;
use crate::layers::nonzero;
use burn_prune_core::structure::ModuleConstants;

/// Configuration of an [`Mlp`]: `input → hidden[0] → … → output`.
///
/// ```
/// use burn::prelude::*;
/// use burn_prune_models::{param_count, MlpConfig};
///
/// let device = Device::flex();
/// let mlp = MlpConfig::new(784, vec![300, 100], 10).init(&device).unwrap();
/// assert_eq!(param_count(&mlp), 784 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10);
/// let logits = mlp.forward(Tensor::<2>::zeros([4, 784], &device));
/// assert_eq!(logits.dims(), [4, 10]);
/// ```
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Input features.
    pub input: usize,
    /// Hidden layer widths (may be empty: a single linear layer).
    pub hidden: Vec<usize>,
    /// Output features.
    pub output: usize,
}

impl MlpConfig {
    /// Checks the configuration and builds the model on `device`.
    pub fn init(&self, device: &Device) -> Result<Mlp, ModelError> {
        nonzero(self.input, "MLP input features")?;
        nonzero(self.output, "MLP output features")?;
        for &h in &self.hidden {
            nonzero(h, "MLP hidden width")?;
        }
        let widths: Vec<usize> = std::iter::once(self.input)
            .chain(self.hidden.iter().copied())
            .chain(std::iter::once(self.output))
            .collect();
        let layers = widths
            .windows(2)
            .map(|w| LinearConfig::new(w[0], w[1]).init(device))
            .collect();
        Ok(Mlp { layers })
    }
}

/// A multilayer perceptron: `Linear` layers (with bias), ReLU between them, none at the end.
#[derive(Module, Debug, ModuleConstants)]
#[module_constants(crate = "burn_prune_core")]
pub struct Mlp {
    /// The linear layers, input first.
    pub layers: Vec<Linear>,
}

impl Mlp {
    /// Logits of a batch of feature vectors.
    ///
    /// # Shapes
    /// - `x`: `[N, input]`
    /// - output: `[N, output]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len().saturating_sub(1);
        self.layers.iter().enumerate().fold(x, |x, (i, layer)| {
            let y = layer.forward(x);
            if i < last { relu(y) } else { y }
        })
    }
}
