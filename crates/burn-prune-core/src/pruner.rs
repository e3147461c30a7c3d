//! The pruner: criterion + granularity + scope + target → masks.

use crate::address::{LayerKind, ParamAddress, param_addresses};
use crate::criterion::{
    BatchNormScales, Criterion, GradientNeed, GradientStats, Needs, ScoreContext, Scores,
};
use crate::error::{PruneError, Result};
use crate::gradients::gradients_for;
use crate::granularity::{Granularity, Layout, Reduction, UnitMap};
use crate::host::{DeviceParam, HostFloats, device_params, read_params};
use crate::mask::{BitMask, MaskSet, ParamMask, PruneMask, install_masks};
use crate::output_layers::OutputLayers;
use crate::pattern::PathPattern;
use crate::scope::{Scope, allocate};
use crate::select::ParamSelector;
use crate::structure::BatchNormPairs;
use crate::threshold::{Keys, Segments, key, largest_first, par_map};
use burn::config::Config;
use burn::module::Module;
use burn::prelude::*;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Configuration of a [`Pruner`]: what to prune, how much, at which granularity and scope.
///
/// ```
/// use burn_prune_core::{PrunerConfig, Granularity, Scope, criterion::Magnitude};
///
/// let pruner = PrunerConfig::new(0.5)
///     .with_granularity(Granularity::Filter)
///     .with_scope(Scope::Local)
///     .init(Magnitude::l1())
///     .unwrap();
/// # let _ = pruner;
/// ```
#[derive(Config, Debug)]
pub struct PrunerConfig {
    /// Fraction of units to prune, in `[0, 1)`. For N:M granularity it must equal
    /// `(m - n) / m`; with [`Scope::Densities`] it applies to parameters not in the map.
    pub sparsity: f64,
    /// How weights group into units.
    #[config(default = "Granularity::Element")]
    pub granularity: Granularity,
    /// How the target is shared out among parameters.
    #[config(default = "Scope::Global")]
    pub scope: Scope,
    /// How element scores combine into unit scores (criteria that score units directly, such
    /// as `Magnitude`, do not use it).
    #[config(default = "Reduction::L1")]
    pub reduction: Reduction,
    /// Units every parameter keeps at least.
    #[config(default = 1)]
    pub min_kept: usize,
    /// Which parameters to prune.
    #[config(default = "ParamSelector::default()")]
    pub selector: ParamSelector,
    /// Layout overrides for parameters whose axes do not follow Burn's conventions, as
    /// `(path pattern, layout)`; the first matching pattern wins.
    #[config(default = "Vec::new()")]
    pub layouts: Vec<(String, Layout)>,
    /// Which BatchNorm a criterion that needs one reads for each layer (see
    /// [`BatchNormPairs`]: from the traced graph, or by path). `None`: the next BatchNorm in
    /// declaration order.
    pub batch_norm_pairs: Option<BatchNormPairs>,
    /// Which parameters produce the model output: under [`Granularity::Filter`] their
    /// filters (the model's outputs) are all kept, and left out of the ranking. By default
    /// the last conv or linear layer in declaration order; [`OutputLayers::None`] lets filter
    /// masks remove outputs too. See [`OutputLayers`].
    #[config(default = "OutputLayers::Last")]
    pub output_layers: OutputLayers,
}

impl PrunerConfig {
    /// Check the configuration once and build a pruner that scores with `criterion`.
    ///
    /// Errors: a sparsity outside `[0, 1)`, an invalid granularity (N:M with `n ≥ m`, an
    /// empty block), an N:M target other than `(m - n) / m` or with a scope other than local
    /// or global, a density outside `(0, 1]`, an invalid path pattern in the selector or the
    /// layouts. What depends on the model (a pattern matching no parameter, a shape the
    /// granularity does not divide) is reported when masks are computed.
    pub fn init<C: Criterion + 'static>(&self, criterion: C) -> Result<Pruner> {
        self.check()?;
        Ok(Pruner {
            config: self.clone(),
            criterion: Arc::new(criterion),
        })
    }

    /// The checks on the target alone: in `[0, 1)`, and `(m - n) / m` for N:M.
    fn check_target(&self, s: f64) -> Result<()> {
        if !(0.0..1.0).contains(&s) {
            return Err(PruneError::InvalidSparsity {
                value: s,
                context: "the pruner's target".into(),
            });
        }
        if let Granularity::NM { n, m } = self.granularity {
            let fixed = (m - n) as f64 / m as f64;
            if (s - fixed).abs() > 1e-9 {
                return Err(PruneError::Config(format!(
                    "{n}:{m} sparsity is always {fixed}, but the target is {s}; set sparsity to {fixed}"
                )));
            }
        }
        Ok(())
    }

    fn check(&self) -> Result<()> {
        self.granularity.validate()?;
        self.check_target(self.sparsity)?;
        if let Granularity::NM { m, .. } = self.granularity
            && self.scope != Scope::Local
            && self.scope != Scope::Global
        {
            return Err(PruneError::Config(format!(
                "N:M chooses inside each group of {m}; scope {} has no meaning for it",
                self.scope
            )));
        }
        if let Scope::Densities(map) = &self.scope {
            for (path, &d) in map {
                if !(d > 0.0 && d <= 1.0) {
                    return Err(PruneError::InvalidDensity {
                        value: d,
                        path: path.clone(),
                    });
                }
            }
        }
        self.selector.validate()?;
        self.output_layers.validate()?;
        for (pattern, _) in &self.layouts {
            PathPattern::new(pattern)?;
        }
        Ok(())
    }
}

/// Computes pruning masks for a model, and installs them.
///
/// ```
/// use burn::prelude::*;
/// use burn::nn::{Linear, LinearConfig};
/// use burn_prune_core::{PrunerConfig, criterion::Magnitude};
///
/// #[derive(Module, Debug)]
/// struct Net { fc: Linear }
///
/// let device = Device::flex();
/// let net = Net { fc: LinearConfig::new(8, 4).init(&device) };
/// let (net, masks) = PrunerConfig::new(0.5).init(Magnitude::l1()).unwrap().prune(net).unwrap();
/// assert_eq!(masks.counts(), (32, 16));
/// let zeros = net.fc.weight.val().equal_elem(0.0).int().sum().into_scalar::<i64>();
/// assert_eq!(zeros, 16);
/// ```
#[derive(Clone)]
pub struct Pruner {
    config: PrunerConfig,
    criterion: Arc<dyn Criterion>,
}

impl std::fmt::Debug for Pruner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pruner")
            .field("criterion", &self.criterion.name())
            .field("config", &self.config)
            .finish()
    }
}

impl Pruner {
    /// The configuration.
    pub fn config(&self) -> &PrunerConfig {
        &self.config
    }

    /// The same pruner aiming at another `sparsity` (a schedule's next target). Only the
    /// target is checked: in `[0, 1)`, and `(m - n) / m` for N:M; the rest was checked by
    /// [`PrunerConfig::init`].
    pub fn with_sparsity(&self, sparsity: f64) -> Result<Pruner> {
        self.config.check_target(sparsity)?;
        let mut config = self.config.clone();
        config.sparsity = sparsity;
        Ok(Pruner {
            config,
            criterion: Arc::clone(&self.criterion),
        })
    }

    /// The criterion's name.
    pub fn criterion_name(&self) -> String {
        self.criterion.name()
    }

    /// Compute masks from the weights alone. A criterion that needs gradients returns
    /// [`PruneError::MissingBatches`]; use [`Pruner::masks_with_data`].
    pub fn masks<M: Module>(&self, model: &M) -> Result<MaskSet> {
        self.compute(model, None)
    }

    /// Compute masks, gathering gradients first when the criterion needs them: for each batch,
    /// `loss(model, batch)` is evaluated and back-propagated (the model must live on an
    /// autodiff device, e.g. `Device::flex().autodiff()`). No batch at all is an error for a
    /// gradient criterion. The passes run on a [`deep_clone`](crate::deep_clone): `model`'s
    /// BatchNorm running statistics are left as they were.
    pub fn masks_with_data<M, B, I, F>(&self, model: &M, batches: I, loss: F) -> Result<MaskSet>
    where
        M: Module,
        I: IntoIterator<Item = B>,
        F: FnMut(&M, B) -> Tensor<1>,
    {
        let paths = || {
            let params = param_addresses(model);
            let selected = self.config.selector.select(&params)?;
            Ok(selected.iter().map(|p| p.path.clone()).collect())
        };
        let grads = gradients_for(self.criterion.as_ref(), model, paths, batches, loss)?;
        self.compute(model, grads)
    }

    /// Compute masks from the weights and install them in the model.
    pub fn prune<M: Module>(&self, model: M) -> Result<(M, MaskSet)> {
        let masks = self.masks(&model)?;
        Ok((install_masks(model, &masks)?, masks))
    }

    /// [`Pruner::masks_with_data`], then install the masks.
    pub fn prune_with_data<M, B, I, F>(&self, model: M, batches: I, loss: F) -> Result<(M, MaskSet)>
    where
        M: Module,
        I: IntoIterator<Item = B>,
        F: FnMut(&M, B) -> Tensor<1>,
    {
        let masks = self.masks_with_data(&model, batches, loss)?;
        Ok((install_masks(model, &masks)?, masks))
    }

    fn compute<M: Module>(
        &self,
        model: &M,
        grads: Option<HashMap<String, GradientStats>>,
    ) -> Result<MaskSet> {
        let cfg = &self.config;
        let needs = self.criterion.needs();
        if needs.gradients != GradientNeed::None && grads.is_none() {
            return Err(PruneError::MissingBatches {
                criterion: self.criterion.name(),
            });
        }
        let params = param_addresses(model);
        let selected = cfg.selector.select(&params)?;
        self.check_selection(&params, &selected)?;
        // Under filter masks, the layers writing the model output keep every filter.
        let output = cfg.output_layers.resolve(&params)?;
        let protected: Vec<bool> = selected
            .iter()
            .map(|p| cfg.granularity == Granularity::Filter && output.contains(&p.path))
            .collect();
        let layouts: Vec<(PathPattern, Layout)> = cfg
            .layouts
            .iter()
            .map(|(p, l)| Ok((PathPattern::new(p)?, *l)))
            .collect::<Result<_>>()?;
        let layout_of = |p: &ParamAddress| {
            layouts
                .iter()
                .find(|(pat, _)| pat.matches(&p.path))
                .map_or_else(|| Layout::of(p), |(_, l)| *l)
        };
        let ranked_at: Vec<usize> = (0..selected.len()).filter(|&i| !protected[i]).collect();
        let paths: HashSet<String> = ranked_at
            .iter()
            .map(|&i| selected[i].path.clone())
            .collect();
        if self.streams() {
            let maps = selected
                .iter()
                .map(|p| {
                    let layout = layout_of(p);
                    Ok((
                        UnitMap::new(&p.path, &p.shape, layout, cfg.granularity)?,
                        layout,
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            let device = in_order(device_params(model, &paths), &selected, &ranked_at)?;
            let keeps = self.allocate(&selected, &ranked_at, device.as_slice(), Keys::Magnitude)?;
            return self.mask_set(&selected, &maps, &ranked_at, keeps);
        }

        // Pair BatchNorms and read their scales first (small), then score parameter by
        // parameter: each weight is read, scored and dropped unless it is itself the ranking.
        let bn_scales = self.batch_norm_scales(model, &params, &selected, &protected)?;
        let device = device_params(model, &paths);
        let at: HashMap<&str, usize> = device
            .iter()
            .enumerate()
            .map(|(i, d)| (d.path.as_str(), i))
            .collect();
        let sizes: Vec<usize> = selected.iter().map(|p| p.numel()).collect();
        let order = largest_first(&sizes);
        let scored = par_map(order.clone(), |i| {
            let p = &selected[i];
            let layout = layout_of(p);
            let units = UnitMap::new(&p.path, &p.shape, layout, cfg.granularity)?;
            if protected[i] {
                return Ok((units, layout, None));
            }
            let weight = at
                .get(p.path.as_str())
                .ok_or_else(|| PruneError::Data {
                    path: p.path.clone(),
                    reason: "the parameter was not visited".into(),
                })
                .and_then(|&d| device[d].read_all())?;
            let ctx = ScoreContext {
                param: p,
                weight: &weight,
                units: &units,
                reduction: cfg.reduction,
                gradients: grads.as_ref().and_then(|g| g.get(&p.path)),
                batch_norm: bn_scales.get(&p.path),
            };
            if needs.gradients != GradientNeed::None && ctx.gradients.is_none() {
                return Err(PruneError::MissingGradient {
                    path: p.path.clone(),
                    reason: "no gradient was gathered for it".into(),
                });
            }
            let ranked = match self.unit_scores(&ctx, self.criterion.score(&ctx)?)? {
                Some(v) => Ranked::Scores(v),
                None => Ranked::Weights(weight),
            };
            Ok((units, layout, Some(ranked)))
        });
        // Back in model order; the first error in that order wins, as in a sequential walk.
        let mut slots: Vec<Option<Result<_>>> = (0..selected.len()).map(|_| None).collect();
        for (i, r) in order.into_iter().zip(scored) {
            slots[i] = Some(r);
        }
        let mut maps = Vec::with_capacity(selected.len());
        let mut scores: Vec<Ranked> = Vec::with_capacity(ranked_at.len());
        for slot in slots {
            let (units, layout, ranked) = slot.expect("every parameter is scored")?;
            maps.push((units, layout));
            scores.extend(ranked);
        }
        let keeps = self.rank(&selected, &maps, &ranked_at, scores)?;
        self.mask_set(&selected, &maps, &ranked_at, keeps)
    }

    /// Whether the pruner can rank the weights as it reads them, piece by piece, without
    /// holding them: element masks by a criterion that scores every weight by its magnitude
    /// and needs nothing else.
    fn streams(&self) -> bool {
        let g = self.config.granularity;
        g == Granularity::Element
            && self.criterion.needs() == Needs::default()
            && self.criterion.scores_weight_magnitude(g)
    }

    /// The checks on the selection: not empty, no foreign reparameterization, every density
    /// path selected.
    fn check_selection(&self, params: &[ParamAddress], selected: &[&ParamAddress]) -> Result<()> {
        if selected.is_empty() {
            return Err(PruneError::NothingSelected {
                reason: format!("{:?}", self.config.selector),
            });
        }
        for p in selected {
            if let Some(r) = p
                .reparameterization
                .as_deref()
                .filter(|r| *r != PruneMask::PATH_NAME)
            {
                return Err(PruneError::ForeignReparameterization {
                    path: p.path.clone(),
                    name: r.to_string(),
                });
            }
        }
        if let Scope::Densities(map) = &self.config.scope {
            for path in map.keys() {
                if !selected.iter().any(|p| &p.path == path) {
                    let hint = if params.iter().any(|p| &p.path == path) {
                        " among the selected parameters (select it, or drop it from the density map)".to_string()
                    } else {
                        crate::mask::nearest_hint(path, params)
                    };
                    return Err(PruneError::UnknownParam {
                        path: path.clone(),
                        hint,
                    });
                }
            }
        }
        Ok(())
    }

    /// The BatchNorm scales paired with the ranked parameters, when the criterion needs them.
    fn batch_norm_scales<M: Module>(
        &self,
        model: &M,
        params: &[ParamAddress],
        selected: &[&ParamAddress],
        protected: &[bool],
    ) -> Result<HashMap<String, BatchNormScales>> {
        let cfg = &self.config;
        if !self.criterion.needs().batch_norm {
            return Ok(HashMap::new());
        }
        let explicit = cfg
            .batch_norm_pairs
            .as_ref()
            .and_then(|pairs| pairs.for_granularity(cfg.granularity));
        let bn_pairs: HashMap<String, String> = selected
            .iter()
            .zip(protected)
            .filter(|&(_, &protected)| !protected)
            .filter_map(|(p, _)| {
                let bn = match explicit {
                    Some(map) => map.get(&p.path).cloned(),
                    None => pair_batch_norm(params, p, cfg.granularity),
                };
                bn.map(|bn| (p.path.clone(), bn))
            })
            .collect();
        if let Some(bn) = bn_pairs
            .values()
            .find(|bn| !params.iter().any(|q| &q.path == *bn))
        {
            return Err(PruneError::UnknownParam {
                path: bn.clone(),
                hint: format!(
                    " (named as a BatchNorm pair){}",
                    crate::mask::nearest_hint(bn, params)
                ),
            });
        }
        let paths: HashSet<String> = bn_pairs.values().cloned().collect();
        let host = read_params(model, &paths)?;
        Ok(bn_pairs
            .into_iter()
            .filter_map(|(p, bn)| {
                let gamma = host.get(&bn)?.base.to_vec();
                Some((p, BatchNormScales { path: bn, gamma }))
            })
            .collect())
    }

    /// The keep masks of the ranked parameters from their scores (or weights).
    fn rank(
        &self,
        selected: &[&ParamAddress],
        maps: &[(UnitMap, Layout)],
        ranked_at: &[usize],
        mut scores: Vec<Ranked>,
    ) -> Result<Vec<BitMask>> {
        let name = self.criterion.name();
        // Rank weights by magnitude in place unless every parameter is ranked that way.
        let keys = if scores.iter().all(|r| matches!(r, Ranked::Weights(_))) {
            Keys::Magnitude
        } else {
            for r in &mut scores {
                if let Ranked::Weights(w) = r {
                    w.iter_mut().for_each(|x| *x = x.abs());
                }
            }
            Keys::Scores
        };
        let scores: Vec<&[f32]> = scores.iter().map(Ranked::as_slice).collect();
        if let Granularity::NM { n, .. } = self.config.granularity {
            return ranked_at
                .iter()
                .zip(&scores)
                .map(|(&i, s)| {
                    check_finite(s, &name, &selected[i].path)?;
                    Ok(nm_keep(&maps[i].0, s, n, keys))
                })
                .collect();
        }
        let unit_keeps = self.allocate(selected, ranked_at, scores.as_slice(), keys)?;
        Ok(ranked_at
            .iter()
            .zip(unit_keeps)
            .map(|(&i, k)| {
                if self.config.granularity == Granularity::Element {
                    k
                } else {
                    maps[i].0.expand(&k)
                }
            })
            .collect())
    }

    /// The scope's unit keep masks of the ranked parameters, whose scores (or weights) are
    /// the segments `scores`.
    fn allocate<S>(
        &self,
        selected: &[&ParamAddress],
        ranked_at: &[usize],
        scores: &S,
        keys: Keys,
    ) -> Result<Vec<BitMask>>
    where
        S: Segments + ?Sized,
        PruneError: From<S::Error>,
    {
        if ranked_at.is_empty() {
            return Ok(Vec::new());
        }
        let cfg = &self.config;
        let paths: Vec<&str> = ranked_at
            .iter()
            .map(|&i| selected[i].path.as_str())
            .collect();
        let name = self.criterion.name();
        allocate(
            &cfg.scope,
            cfg.sparsity,
            cfg.min_kept,
            &name,
            &paths,
            scores,
            keys,
        )
    }

    /// The mask set: the ranked parameters' keep masks, everything kept in the others.
    fn mask_set(
        &self,
        selected: &[&ParamAddress],
        maps: &[(UnitMap, Layout)],
        ranked_at: &[usize],
        ranked_keeps: Vec<BitMask>,
    ) -> Result<MaskSet> {
        let mut keeps: Vec<Option<BitMask>> = (0..selected.len()).map(|_| None).collect();
        for (&i, keep) in ranked_at.iter().zip(ranked_keeps) {
            keeps[i] = Some(keep);
        }
        let mut set = MaskSet::new();
        for ((p, (map, layout)), keep) in selected.iter().zip(maps).zip(keeps) {
            set.insert(ParamMask {
                path: p.path.clone(),
                shape: p.shape.clone(),
                granularity: self.config.granularity,
                layout: *layout,
                keep: keep.unwrap_or_else(|| BitMask::filled(map.numel(), true)),
            })?;
        }
        Ok(set)
    }

    /// Validate a criterion's output and bring it to one score per unit (per element for
    /// element and N:M granularities). `None`: rank the weights by magnitude. Per-element
    /// scores are checked for NaN and infinity by the selection itself, in the pass it makes
    /// anyway.
    fn unit_scores(&self, ctx: &ScoreContext<'_>, scores: Scores) -> Result<Option<Vec<f32>>> {
        let name = self.criterion.name();
        let path = &ctx.param.path;
        let count_error = |expected, got, what| PruneError::ScoreCount {
            criterion: name.clone(),
            path: path.clone(),
            expected,
            got,
            what,
        };
        let g = ctx.granularity();
        let per_element = matches!(g, Granularity::Element | Granularity::NM { .. });
        let out = match scores {
            Scores::WeightMagnitude if per_element => return Ok(None),
            Scores::WeightMagnitude => {
                let abs: Vec<f32> = ctx.weight.iter().map(|w| w.abs()).collect();
                check_finite(&abs, &name, path)?;
                ctx.units.reduce(&abs, self.config.reduction)
            }
            Scores::Elements(v) => {
                if v.len() != ctx.units.numel() {
                    return Err(count_error(ctx.units.numel(), v.len(), "elements"));
                }
                if per_element {
                    return Ok(Some(v));
                }
                check_finite(&v, &name, path)?;
                ctx.units.reduce(&v, self.config.reduction)
            }
            Scores::Units(v) => {
                if per_element {
                    if v.len() != ctx.units.numel() {
                        return Err(count_error(
                            ctx.units.numel(),
                            v.len(),
                            "units (single weights)",
                        ));
                    }
                    return Ok(Some(v));
                } else if v.len() != ctx.units.n_units() {
                    return Err(count_error(ctx.units.n_units(), v.len(), "units"));
                }
                v
            }
        };
        check_finite(&out, &name, path)?;
        Ok(Some(out))
    }
}

/// The device parameters of the ranked parameters (`selected[ranked_at[i]]`), in that order; a
/// path the visit did not reach is an error.
fn in_order(
    device: Vec<DeviceParam>,
    selected: &[&ParamAddress],
    ranked_at: &[usize],
) -> Result<Vec<DeviceParam>> {
    let mut by_path: HashMap<String, DeviceParam> =
        device.into_iter().map(|d| (d.path.clone(), d)).collect();
    ranked_at
        .iter()
        .map(|&i| {
            let path = &selected[i].path;
            by_path.remove(path).ok_or_else(|| PruneError::Data {
                path: path.clone(),
                reason: "the parameter was not visited".into(),
            })
        })
        .collect()
}

/// One parameter's ranking buffer: scores, or the weights themselves (ranked by magnitude).
enum Ranked {
    Scores(Vec<f32>),
    Weights(HostFloats),
}

impl Ranked {
    fn as_slice(&self) -> &[f32] {
        match self {
            Self::Scores(v) => v,
            Self::Weights(v) => v,
        }
    }
}

fn check_finite(v: &[f32], criterion: &str, path: &str) -> Result<()> {
    match v.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(index) => Err(PruneError::NonFiniteScore {
            criterion: criterion.to_string(),
            path: path.to_string(),
            index,
            value: v[index],
        }),
    }
}

/// N:M: in every group keep the `n` highest-scoring elements (lowest scores, then lowest
/// indices, are pruned first).
fn nm_keep(map: &UnitMap, scores: &[f32], n: usize, keys: Keys) -> BitMask {
    let m = map.unit_size();
    let mut fill = vec![0usize; map.n_units()];
    let mut members = vec![0usize; map.numel()];
    map.for_each(|e, u| {
        members[u * m + fill[u]] = e;
        fill[u] += 1;
    });
    let mut keep = BitMask::filled(map.numel(), true);
    let mut group: Vec<(u32, usize)> = Vec::with_capacity(m);
    for chunk in members.chunks(m) {
        group.clear();
        group.extend(chunk.iter().map(|&e| {
            let s = scores[e];
            (key(if keys == Keys::Magnitude { s.abs() } else { s }), e)
        }));
        group.sort_unstable();
        for &(_, e) in &group[..m - n] {
            keep.set(e, false);
        }
    }
    keep
}

/// The BatchNorm `gamma` paired with `p`: after it for filters, before it for channels.
fn pair_batch_norm(
    params: &[ParamAddress],
    p: &ParamAddress,
    granularity: Granularity,
) -> Option<String> {
    if p.kind == LayerKind::BatchNorm {
        return None;
    }
    let at = params.iter().position(|q| q.path == p.path)?;
    let is_gamma = |q: &ParamAddress| q.kind == LayerKind::BatchNorm && q.name() == "gamma";
    let is_layer = |q: &ParamAddress| q.is_default_prunable();
    match granularity {
        Granularity::Filter => params[at + 1..]
            .iter()
            .take_while(|q| !is_layer(q))
            .find(|q| is_gamma(q))
            .map(|q| q.path.clone()),
        Granularity::Channel => params[..at]
            .iter()
            .rev()
            .take_while(|q| !is_layer(q))
            .find(|q| is_gamma(q))
            .map(|q| q.path.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::criterion::Magnitude;
    use burn::nn::{Linear, LinearConfig};

    #[derive(Module, Debug)]
    struct Net {
        big: Linear,
        odd: Linear,
        small: Linear,
    }

    /// Magnitude without saying so: the pruner reads and holds every weight.
    struct Undeclared;

    impl Criterion for Undeclared {
        fn name(&self) -> String {
            Magnitude::l1().name()
        }
        fn score(&self, ctx: &ScoreContext<'_>) -> Result<Scores> {
            Magnitude::l1().score(ctx)
        }
    }

    /// Weights over several pieces of the selection (4096 values under test), a size that is
    /// no multiple of 64, and a small layer, with masks installed on two of them.
    fn net() -> Net {
        let device = Device::flex();
        device.seed(7);
        let net = Net {
            big: LinearConfig::new(120, 90).init(&device),
            odd: LinearConfig::new(37, 29).init(&device),
            small: LinearConfig::new(5, 3).init(&device),
        };
        let first = PrunerConfig::new(0.3)
            .with_selector(ParamSelector::default().exclude("small.*"))
            .init(Magnitude::l1())
            .unwrap();
        first.prune(net).unwrap().0
    }

    #[test]
    fn streamed_ranking_equals_ranking_held_weights() {
        let net = net();
        for scope in [Scope::Global, Scope::Local, Scope::Lamp] {
            let config = PrunerConfig::new(0.6).with_scope(scope.clone());
            let streamed = config.init(Magnitude::l1()).unwrap();
            assert!(streamed.streams());
            let held = config.init(Undeclared).unwrap();
            assert!(!held.streams());
            let masks = streamed.masks(&net).unwrap();
            assert_eq!(masks, held.masks(&net).unwrap(), "{scope}");
            // The installed masks stay pruned: they are zeros, the lowest magnitudes.
            let before = crate::mask::masks_of(&net).unwrap();
            for m in before.iter() {
                let now = masks.get(&m.path).unwrap();
                assert_eq!(
                    now.keep.and(&m.keep).as_ref(),
                    Some(&now.keep),
                    "{}",
                    m.path
                );
            }
        }
    }

    #[test]
    fn streamed_ranking_reports_the_same_non_finite_weight() {
        let net = net();
        let mut w = net
            .big
            .weight
            .val()
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        w[5000] = f32::NAN;
        let weight = Tensor::<2>::from_data(TensorData::new(w, [120, 90]), &Device::flex());
        let net = Net {
            big: Linear {
                weight: burn::module::Param::from_tensor(weight),
                bias: None,
            },
            ..net
        };
        let config = PrunerConfig::new(0.6);
        let streamed = config
            .init(Magnitude::l1())
            .unwrap()
            .masks(&net)
            .unwrap_err();
        let held = config.init(Undeclared).unwrap().masks(&net).unwrap_err();
        // (NaN is not equal to itself: compare what the errors say.)
        assert_eq!(format!("{streamed:?}"), format!("{held:?}"));
        assert!(matches!(
            streamed,
            PruneError::NonFiniteScore { index: 5000, .. }
        ));
    }
}
