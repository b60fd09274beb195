//! The fixed cost of one tensor operation on a device (`gta bench ops`): how long a chain of
//! small element-wise ops takes per op, where the arithmetic is negligible. On a GPU this is
//! the host's dispatch and launch cost (burn's op dispatch, autodiff bookkeeping, CubeCL's
//! launch path), the floor under a training step made of thousands of small kernels.

use burn::tensor::{Device, Tensor};

/// Runs `ops` element-wise ops (alternating ×1.0001, +1e-4) on a [256, 64] tensor of ones and
/// waits for the result; with `autodiff`, through burn's autodiff and with the backward pass
/// too. Returns the seconds taken and the sum of the result (without autodiff) or of the
/// gradient of its sum with respect to the input (with autodiff).
pub fn op_chain(device: &Device, ops: usize, autodiff: bool) -> (f64, f32) {
    let t0 = std::time::Instant::now();
    let device = if autodiff {
        device.clone().autodiff()
    } else {
        device.clone()
    };
    let x0 = Tensor::<2>::ones([256, 64], &device);
    let x0 = if autodiff { x0.require_grad() } else { x0 };
    let mut x = x0.clone();
    for i in 0..ops {
        x = if i % 2 == 0 {
            x.mul_scalar(1.0001)
        } else {
            x.add_scalar(1e-4)
        };
    }
    let out = if autodiff {
        let grads = x.sum().backward();
        x0.grad(&grads).expect("x0 requires grad").sum()
    } else {
        x.sum()
    };
    let sum = out.into_scalar::<f32>();
    (t0.elapsed().as_secs_f64(), sum)
}

#[cfg(test)]
mod tests {
    /// The chain computes what it says, forward and backward, against the closed form.
    #[test]
    fn chain_matches_the_closed_form() {
        let device = burn::tensor::Device::flex();
        let ops = 9; // five multiplications, four additions
        let mut v = 1.0f64;
        for i in 0..ops {
            v = if i % 2 == 0 { v * 1.0001 } else { v + 1e-4 };
        }
        let n = (256 * 64) as f64;
        let (_, forward) = super::op_chain(&device, ops, false);
        assert!(
            (forward as f64 - n * v).abs() < 1e-3 * n * v,
            "{forward} vs {}",
            n * v
        );
        let (_, grad) = super::op_chain(&device, ops, true);
        let want = n * 1.0001f64.powi(5);
        assert!((grad as f64 - want).abs() < 1e-3 * want, "{grad} vs {want}");
    }
}
