//! Name mapping from the official PyTorch MixerUnet state dict (`net.*`, see
//! `../shared/fixtures/official/state_dict_d24.txt`) onto [`MixerUnet`]; the core of the
//! official-checkpoint importer (issue 10). Both the npz fixtures and the `.pt` checkpoints
//! ([`crate::import`]) are turned into an [`OfficialWeights`] map and loaded by
//! [`load_mixer_unet`], so there is one mapping (docs/import-official.md lists it).
//!
//! Layouts: PyTorch `Linear.weight` is [out, in], burn's is [in, out] (transposed here);
//! `Conv2d.weight` [out, in, kh, kw] and `ConvTranspose2d.weight` [in, out, kh, kw] are the same
//! in burn; a 1×1 conv [out, in, 1, 1] becomes [`Conv1x1`]'s [out, in].

use std::collections::{BTreeMap, BTreeSet};

use burn::module::Param;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::nn::{GroupNorm, InstanceNorm, LayerNorm, Linear};
use burn::tensor::{Device, Tensor, TensorData};

use crate::embedding::RandomFourierEmbedding;
use crate::error::DiffusionError;
use crate::mixer_unet::{AttnBlock, Conv1x1, MixerBlock, MixerUnet};

/// An optional affine pair (γ, β) of a norm layer.
type Affine = (Option<Param<Tensor<1>>>, Option<Param<Tensor<1>>>);

/// Reference tensors by state-dict name: (shape, row-major f32 values).
pub type OfficialWeights = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Pulls tensors out of an [`OfficialWeights`] by name, remembering which were used.
struct Source<'a> {
    weights: &'a OfficialWeights,
    prefix: &'a str,
    used: BTreeSet<String>,
    device: Device,
}

impl Source<'_> {
    fn take<const D: usize>(
        &mut self,
        name: &str,
        shape: [usize; D],
    ) -> Result<Tensor<D>, DiffusionError> {
        let full = format!("{}{name}", self.prefix);
        let (found, values) = self
            .weights
            .get(&full)
            .ok_or_else(|| DiffusionError::Import {
                name: full.clone(),
                expected: format!("missing (expected shape {shape:?})"),
            })?;
        if found.as_slice() != shape.as_slice() {
            return Err(DiffusionError::Import {
                name: full,
                expected: format!("shape {shape:?} expected, found {found:?}"),
            });
        }
        self.used.insert(full);
        Ok(Tensor::from_data(
            TensorData::new(values.clone(), shape),
            &self.device,
        ))
    }

    fn replace<const D: usize>(
        &mut self,
        p: Param<Tensor<D>>,
        name: &str,
        shape: [usize; D],
    ) -> Result<Param<Tensor<D>>, DiffusionError> {
        let t = self.take(name, shape)?;
        Ok(Param::initialized(p.id, t))
    }

    fn linear(&mut self, mut l: Linear, name: &str) -> Result<Linear, DiffusionError> {
        let [i, o] = l.weight.val().dims();
        let w = self.take(&format!("{name}.weight"), [o, i])?.transpose();
        l.weight = Param::initialized(l.weight.id, w);
        if let Some(b) = l.bias.take() {
            l.bias = Some(self.replace(b, &format!("{name}.bias"), [o])?);
        }
        Ok(l)
    }

    fn affine(
        &mut self,
        gamma: Option<Param<Tensor<1>>>,
        beta: Option<Param<Tensor<1>>>,
        name: &str,
    ) -> Result<Affine, DiffusionError> {
        let mut out = (None, None);
        if let Some(g) = gamma {
            let n = g.val().dims()[0];
            out.0 = Some(self.replace(g, &format!("{name}.weight"), [n])?);
        }
        if let Some(b) = beta {
            let n = b.val().dims()[0];
            out.1 = Some(self.replace(b, &format!("{name}.bias"), [n])?);
        }
        Ok(out)
    }

    fn layer_norm(&mut self, mut ln: LayerNorm, name: &str) -> Result<LayerNorm, DiffusionError> {
        let n = ln.gamma.val().dims()[0];
        ln.gamma = self.replace(ln.gamma, &format!("{name}.weight"), [n])?;
        let (_, beta) = self.affine(None, ln.beta.take(), name)?;
        ln.beta = beta;
        Ok(ln)
    }

    fn conv1x1(&mut self, mut c: Conv1x1, name: &str) -> Result<Conv1x1, DiffusionError> {
        let [o, i] = c.weight.val().dims();
        let w = self
            .take(&format!("{name}.weight"), [o, i, 1, 1])?
            .reshape([o, i]);
        c.weight = Param::initialized(c.weight.id, w);
        if let Some(b) = c.bias.take() {
            c.bias = Some(self.replace(b, &format!("{name}.bias"), [o])?);
        }
        Ok(c)
    }

    fn conv2d(&mut self, mut c: Conv2d, name: &str) -> Result<Conv2d, DiffusionError> {
        let shape = c.weight.val().dims();
        c.weight = self.replace(c.weight, &format!("{name}.weight"), shape)?;
        if let Some(b) = c.bias.take() {
            c.bias = Some(self.replace(b, &format!("{name}.bias"), [shape[0]])?);
        }
        Ok(c)
    }

    fn conv_transpose(
        &mut self,
        mut c: ConvTranspose2d,
        name: &str,
    ) -> Result<ConvTranspose2d, DiffusionError> {
        let shape = c.weight.val().dims();
        c.weight = self.replace(c.weight, &format!("{name}.weight"), shape)?;
        if let Some(b) = c.bias.take() {
            c.bias = Some(self.replace(b, &format!("{name}.bias"), [shape[1]])?);
        }
        Ok(c)
    }

    fn mixer_block(&mut self, mut m: MixerBlock, name: &str) -> Result<MixerBlock, DiffusionError> {
        m.emb_proj = self.linear(m.emb_proj, &format!("{name}.mlp.1"))?;
        m.ln_feature = self.layer_norm(m.ln_feature, &format!("{name}.ln1"))?;
        m.feature_fc1 = self.linear(m.feature_fc1, &format!("{name}.block1.net.0"))?;
        m.feature_fc2 = self.linear(m.feature_fc2, &format!("{name}.block1.net.3"))?;
        m.ln_time = self.layer_norm(m.ln_time, &format!("{name}.ln2"))?;
        m.time_fc1 = self.linear(m.time_fc1, &format!("{name}.block2.net.0"))?;
        m.time_fc2 = self.linear(m.time_fc2, &format!("{name}.block2.net.3"))?;
        if let Some(c) = m.out_conv.take() {
            m.out_conv = Some(self.conv1x1(c, &format!("{name}.output_conv"))?);
        }
        if let Some(c) = m.res_conv.take() {
            m.res_conv = Some(self.conv1x1(c, &format!("{name}.res_conv"))?);
        }
        Ok(m)
    }

    /// `name` is the Residual wrapper, e.g. `downs.0.2`; inside it sit `fn.norm` and `fn.fn.*`.
    fn attn(&mut self, mut a: AttnBlock, name: &str) -> Result<AttnBlock, DiffusionError> {
        let norm: InstanceNorm = a.norm;
        let (gamma, beta) = self.affine(
            norm.gamma.clone(),
            norm.beta.clone(),
            &format!("{name}.fn.norm"),
        )?;
        a.norm = InstanceNorm {
            gamma,
            beta,
            ..norm
        };
        a.to_qkv = self.conv1x1(a.to_qkv, &format!("{name}.fn.fn.to_qkv"))?;
        a.to_out = self.conv1x1(a.to_out, &format!("{name}.fn.fn.to_out"))?;
        Ok(a)
    }

    fn group_norm(&mut self, g: GroupNorm, name: &str) -> Result<GroupNorm, DiffusionError> {
        let (gamma, beta) = self.affine(g.gamma.clone(), g.beta.clone(), name)?;
        Ok(GroupNorm { gamma, beta, ..g })
    }
}

/// Loads every tensor of `weights` named `{prefix}<reference name>` (e.g. prefix `model/net.`)
/// into `net`, whose configuration must match; refuses missing tensors, wrong shapes and
/// reference tensors left unused, naming the tensor.
pub fn load_mixer_unet(
    net: MixerUnet,
    weights: &OfficialWeights,
    prefix: &str,
) -> Result<MixerUnet, DiffusionError> {
    let device = net.time_fc1.weight.val().device();
    let mut src = Source {
        weights,
        prefix,
        used: BTreeSet::new(),
        device,
    };
    let mut net = net;
    let k = net.time_rff.num_frequencies();
    net.time_rff = RandomFourierEmbedding::from_weights(src.take("time_mlp.0.weights", [k])?);
    net.time_fc1 = src.linear(net.time_fc1, "time_mlp.1")?;
    net.time_fc2 = src.linear(net.time_fc2, "time_mlp.3")?;
    net.cond_fc1 = src.linear(net.cond_fc1, "cond_mlp.0")?;
    net.cond_fc2 = src.linear(net.cond_fc2, "cond_mlp.2")?;
    let mut downs = Vec::with_capacity(net.downs.len());
    for (i, mut level) in std::mem::take(&mut net.downs).into_iter().enumerate() {
        level.block1 = src.mixer_block(level.block1, &format!("downs.{i}.0"))?;
        level.block2 = src.mixer_block(level.block2, &format!("downs.{i}.1"))?;
        level.attn = src.attn(level.attn, &format!("downs.{i}.2"))?;
        if let Some(c) = level.downsample.take() {
            level.downsample = Some(src.conv2d(c, &format!("downs.{i}.3.conv"))?);
        }
        downs.push(level);
    }
    net.downs = downs;
    net.mid_block1 = src.mixer_block(net.mid_block1, "mid_block1")?;
    net.mid_attn = src.attn(net.mid_attn, "mid_attn")?;
    net.mid_block2 = src.mixer_block(net.mid_block2, "mid_block2")?;
    let mut ups = Vec::with_capacity(net.ups.len());
    for (i, mut level) in std::mem::take(&mut net.ups).into_iter().enumerate() {
        level.block1 = src.mixer_block(level.block1, &format!("ups.{i}.0"))?;
        level.block2 = src.mixer_block(level.block2, &format!("ups.{i}.1"))?;
        level.attn = src.attn(level.attn, &format!("ups.{i}.2"))?;
        if let Some(c) = level.upsample.take() {
            level.upsample = Some(src.conv_transpose(c, &format!("ups.{i}.3.conv"))?);
        }
        ups.push(level);
    }
    net.ups = ups;
    net.final_conv = src.conv2d(net.final_conv, "final_conv.0.block.0")?;
    net.final_norm = src.group_norm(net.final_norm, "final_conv.0.block.1")?;
    net.final_out = src.conv1x1(net.final_out, "final_conv.1")?;
    if let Some(extra) = weights
        .keys()
        .find(|k| k.starts_with(prefix) && !src.used.contains(*k))
    {
        return Err(DiffusionError::Import {
            name: extra.clone(),
            expected: "no gta parameter corresponds to this tensor (configuration mismatch?)"
                .into(),
        });
    }
    Ok(net)
}
