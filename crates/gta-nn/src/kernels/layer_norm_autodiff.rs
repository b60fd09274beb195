//! The hand-written backward of [`short_layer_norm`](super::short_layer_norm) on burn's
//! autodiff decorator: the forward saves x, γ and the row statistics, the backward calls
//! [`ShortLnOps::short_ln_backward`] (the fused kernel on CUDA).

use super::ShortLnOps;
use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;

/// Zero-sized backward step; everything it needs travels in `State`.
#[derive(Debug)]
struct ShortLnBackward;

impl<B: ShortLnOps> Backward<B, 3> for ShortLnBackward {
    /// x, γ, mean, rstd (inner-backend primitives, alive until the backward runs).
    type State = (
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
    );

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = grads.consume::<B>(&ops.node);
        let (x, gamma, mean, rstd) = ops.state;
        let (dx, dgamma, dbeta) = B::short_ln_backward(dy, x, gamma, mean, rstd);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_gamma {
            grads.register::<B>(node.id, dgamma);
        }
        if let Some(node) = node_beta {
            grads.register::<B>(node.id, dbeta);
        }
    }
}

impl<B: ShortLnOps, C: CheckpointStrategy> ShortLnOps for Autodiff<B, C> {
    fn short_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f32,
    ) -> FloatTensor<Self> {
        let (x, gx) = x.into_parts();
        let (gamma, gg) = gamma.into_parts();
        let (beta, gb) = beta.into_parts();
        match ShortLnBackward
            .prepare::<C>([gx, gg, gb])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (y, mean, rstd) = B::short_ln_forward(x.clone(), gamma.clone(), beta, eps);
                prep.finish((x, gamma, mean, rstd), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::short_layer_norm(x, gamma, beta, eps)),
        }
    }
}
