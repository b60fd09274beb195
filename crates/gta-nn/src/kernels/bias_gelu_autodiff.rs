//! The hand-written backward of [`bias_gelu`](super::bias_gelu) on burn's autodiff decorator:
//! the forward saves x and b, the backward calls [`BiasGeluOps::bias_gelu_backward`].

use super::BiasGeluOps;
use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;

/// Zero-sized backward step; x and b travel in `State`.
#[derive(Debug)]
struct BiasGeluBackward;

impl<B: BiasGeluOps> Backward<B, 2> for BiasGeluBackward {
    /// x, b (inner-backend primitives, alive until the backward runs).
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_b] = ops.parents;
        let dy = grads.consume::<B>(&ops.node);
        let (x, bias) = ops.state;
        let (dx, db) = B::bias_gelu_backward(dy, x, bias);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_b {
            grads.register::<B>(node.id, db);
        }
    }
}

impl<B: BiasGeluOps, C: CheckpointStrategy> BiasGeluOps for Autodiff<B, C> {
    fn bias_gelu(x: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
        let (x, gx) = x.into_parts();
        let (bias, gb) = bias.into_parts();
        match BiasGeluBackward
            .prepare::<C>([gx, gb])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let y = B::bias_gelu(x.clone(), bias.clone());
                prep.finish((x, bias), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::bias_gelu(x, bias)),
        }
    }
}
