use super::{Criterion, Needs, ScoreContext, Scores};
use crate::address::LayerKind;
use crate::error::{PruneError, Result};
use crate::granularity::Granularity;

/// BatchNorm scale (the Network Slimming criterion, Liu et al. 2017): a channel's importance
/// is `|γ|` of the BatchNorm that normalises it.
///
/// - On a conv or linear weight at **filter** granularity: `|γ|` of the BatchNorm that follows
///   the layer (its output channels).
/// - At **channel** granularity: `|γ|` of the BatchNorm before the layer (its input channels).
/// - On a BatchNorm `gamma` itself (select it with `ParamSelector::include("**.gamma")`):
///   `|γ|` per element.
///
/// The pairing is found from the model's structure: the first BatchNorm visited after the
/// layer (before the next conv or linear layer) with as many channels. A layer without one is
/// an error naming it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchNormScale;

impl Criterion for BatchNormScale {
    fn name(&self) -> String {
        "batch-norm-scale".into()
    }

    fn needs(&self) -> Needs {
        Needs {
            batch_norm: true,
            ..Needs::default()
        }
    }

    fn score(&self, ctx: &ScoreContext<'_>) -> Result<Scores> {
        if ctx.param.kind == LayerKind::BatchNorm {
            return Ok(Scores::Elements(
                ctx.weight.iter().map(|g| g.abs()).collect(),
            ));
        }
        let relation = match ctx.granularity() {
            Granularity::Filter => "after",
            Granularity::Channel => "before",
            _ => {
                return Err(ctx.unsupported(
                    &self.name(),
                    "BatchNorm scales score whole filters or channels",
                ));
            }
        };
        let channels = ctx.units.n_units();
        match ctx.batch_norm {
            Some(bn) if bn.gamma.len() == channels => {
                Ok(Scores::Units(bn.gamma.iter().map(|g| g.abs()).collect()))
            }
            Some(bn) => Err(PruneError::MissingBatchNorm {
                criterion: self.name(),
                path: ctx.param.path.clone(),
                relation,
                channels,
                hint: format!(" (`{}` has {} channels)", bn.path, bn.gamma.len()),
            }),
            None => Err(PruneError::MissingBatchNorm {
                criterion: self.name(),
                path: ctx.param.path.clone(),
                relation,
                channels,
                hint: String::new(),
            }),
        }
    }
}
