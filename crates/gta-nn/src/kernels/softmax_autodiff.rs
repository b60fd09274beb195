//! The hand-written backward of [`softmax_last`](super::softmax_last) on burn's autodiff
//! decorator: the forward saves its output, the backward calls
//! [`SoftmaxOps::softmax_last_backward`].

use super::SoftmaxOps;
use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;

/// Zero-sized backward step; the output y travels in `State`.
#[derive(Debug)]
struct SoftmaxBackward;

impl<B: SoftmaxOps> Backward<B, 1> for SoftmaxBackward {
    /// y (inner-backend primitive, alive until the backward runs).
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let dy = grads.consume::<B>(&ops.node);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::softmax_last_backward(dy, ops.state));
        }
    }
}

impl<B: SoftmaxOps, C: CheckpointStrategy> SoftmaxOps for Autodiff<B, C> {
    fn softmax_last(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let (x, gx) = x.into_parts();
        match SoftmaxBackward
            .prepare::<C>([gx])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let y = B::softmax_last(x);
                prep.finish(y.clone(), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::softmax_last(x)),
        }
    }
}
