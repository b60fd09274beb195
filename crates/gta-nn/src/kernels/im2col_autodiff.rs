//! The hand-written backward of [`im2col`](super::im2col) on burn's autodiff decorator: the
//! backward is [`Im2colOps::col2im`] of the incoming gradient (one kernel on CUDA).

use super::Im2colOps;
use super::im2col::Im2col;
use burn::backend::Autodiff;
use burn::backend::TensorMetadata;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;

/// Zero-sized backward step; the geometry and x's (H, W) travel in `State`.
#[derive(Debug)]
struct Im2colBackward;

impl<B: Im2colOps> Backward<B, 1> for Im2colBackward {
    type State = (Im2col, [usize; 2]);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let dcols = grads.consume::<B>(&ops.node);
        let (geometry, input) = ops.state;
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::col2im(dcols, geometry, input));
        }
    }
}

impl<B: Im2colOps, C: CheckpointStrategy> Im2colOps for Autodiff<B, C> {
    fn im2col(x: FloatTensor<Self>, geometry: Im2col) -> FloatTensor<Self> {
        let (x, gx) = x.into_parts();
        let s = x.shape();
        let input = [s[2], s[3]];
        match Im2colBackward.prepare::<C>([gx]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((geometry, input), B::im2col(x, geometry)),
            OpsKind::UnTracked(prep) => prep.finish(B::im2col(x, geometry)),
        }
    }
}
