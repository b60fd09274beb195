//! Several devices generating one batch together: the windows are independent, so a batch is cut
//! into one contiguous part per device, the parts run concurrently on their own threads, and
//! the results are joined in order. No communication between devices.

use crate::augment::WindowGenerator;
use crate::error::AugmentError;

/// One [`WindowGenerator`] per device, used as one.
///
/// Part `i` of a batch draws its noise from `derive_seed(seed, SPLIT_STREAM, i)`, so the output
/// depends on the number of devices (each part is what that device would produce alone with
/// that seed). With a single part the batch seed is used unchanged: one device gives exactly
/// the single-generator result.
pub struct SplitGenerator<G> {
    parts: Vec<G>,
}

/// Stream id of the per-part seeds ([`gta_nn::derive_seed`]).
const SPLIT_STREAM: u64 = 0x5_9117;

impl<G: WindowGenerator + Send> SplitGenerator<G> {
    /// The generators, one per device, in the order the batch is cut. Panics if empty.
    pub fn new(parts: Vec<G>) -> Self {
        assert!(
            !parts.is_empty(),
            "SplitGenerator needs at least one generator"
        );
        Self { parts }
    }
}

/// Window ranges of `batch` windows over `n` parts: sizes differ by at most one, larger first.
fn ranges(batch: usize, n: usize) -> Vec<std::ops::Range<usize>> {
    let (base, extra) = (batch / n, batch % n);
    let mut start = 0;
    (0..n)
        .map(|i| {
            let len = base + usize::from(i < extra);
            let r = start..start + len;
            start += len;
            r
        })
        .collect()
}

impl<G: WindowGenerator + Send> WindowGenerator for SplitGenerator<G> {
    fn generate(
        &mut self,
        source: &[f32],
        cond: &[f32],
        batch: usize,
        seed: u64,
        inpaint: Option<(&[f32], &[f32])>,
    ) -> Result<Vec<f32>, AugmentError> {
        if self.parts.len() == 1 {
            return self.parts[0].generate(source, cond, batch, seed, inpaint);
        }
        let per_window = source.len() / batch.max(1);
        let cuts = ranges(batch, self.parts.len());
        let results: Vec<Result<Vec<f32>, AugmentError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .parts
                .iter_mut()
                .zip(&cuts)
                .enumerate()
                .filter(|(_, (_, r))| !r.is_empty())
                .map(|(i, (part, r))| {
                    let rows = r.start * per_window..r.end * per_window;
                    let (src, c) = (&source[rows.clone()], &cond[r.clone()]);
                    let inp = inpaint.map(|(v, m)| (&v[rows.clone()], &m[rows.clone()]));
                    let part_seed = gta_nn::derive_seed(seed, SPLIT_STREAM, i as u64);
                    let len = r.len();
                    scope.spawn(move || part.generate(src, c, len, part_seed, inp))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(AugmentError::Model(
                            "a device's generator thread panicked".into(),
                        ))
                    })
                })
                .collect()
        });
        let mut out = Vec::with_capacity(source.len());
        for r in results {
            out.extend(r?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns each window's values plus its seed (mod 1000), checking the sizes it is given.
    struct Tagging;

    impl WindowGenerator for Tagging {
        fn generate(
            &mut self,
            source: &[f32],
            cond: &[f32],
            batch: usize,
            seed: u64,
            _inpaint: Option<(&[f32], &[f32])>,
        ) -> Result<Vec<f32>, AugmentError> {
            assert_eq!(cond.len(), batch);
            Ok(source.iter().map(|v| v + (seed % 1000) as f32).collect())
        }
    }

    #[test]
    fn cuts_are_balanced_and_cover_the_batch() {
        assert_eq!(ranges(10, 3), vec![0..4, 4..7, 7..10]);
        assert_eq!(ranges(2, 3), vec![0..1, 1..2, 2..2]);
    }

    /// Parts keep the window order, use their own derived seeds, and one part is the plain
    /// generator with the batch seed.
    #[test]
    fn parts_join_in_order_with_their_seeds() {
        let (batch, per) = (5usize, 3usize);
        let source: Vec<f32> = (0..batch * per).map(|i| i as f32 * 1000.0).collect();
        let cond = vec![0.0; batch];
        let mut split = SplitGenerator::new(vec![Tagging, Tagging]);
        let out = split.generate(&source, &cond, batch, 42, None).unwrap();
        let s0 = (gta_nn::derive_seed(42, SPLIT_STREAM, 0) % 1000) as f32;
        let s1 = (gta_nn::derive_seed(42, SPLIT_STREAM, 1) % 1000) as f32;
        assert_ne!(s0, s1);
        for (i, (&o, &x)) in out.iter().zip(&source).enumerate() {
            let want = if i < 3 * per { x + s0 } else { x + s1 };
            assert_eq!(o, want, "value {i}");
        }
        let mut one = SplitGenerator::new(vec![Tagging]);
        let plain = one.generate(&source, &cond, batch, 42, None).unwrap();
        assert_eq!(
            plain,
            Tagging.generate(&source, &cond, batch, 42, None).unwrap()
        );
    }
}
