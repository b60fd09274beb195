//! How a row-major (batched, broadcast, strided) matmul `out = lhs · rhs` maps onto one call of a
//! column-major strided-batched GEMM (cuBLAS' `cublasGemmStridedBatchedEx`).
//!
//! burn's tensors are row-major views with arbitrary strides: the backward pass of a Linear layer
//! multiplies by transposed views (`swap_dims`), which only swap strides. A column-major GEMM
//! computes `C = op(A) · op(B)`; for row-major data the product is taken transposed,
//! `outᵀ = rhsᵀ · lhsᵀ`, and a row-major `[r, c]` view with unit column stride *is* a column-major
//! `c × r` matrix (`N`), while one with unit row stride is the transpose of a column-major `r × c`
//! matrix (`T`). So every 2-D view with one unit stride maps to a GEMM operand without a copy.
//! Batch dimensions must collapse to one uniform stride per operand (0 for a broadcast operand).
//!
//! Pure index arithmetic, so CI checks it against a naive product on the CPU
//! (`tests` below); `cublas.rs` issues the call on the GPU.

/// One GEMM operand in column-major terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operand {
    /// Whether cuBLAS reads the stored matrix transposed (`CUBLAS_OP_T`).
    pub transposed: bool,
    /// Leading dimension of the stored column-major matrix, in elements.
    pub ld: i64,
    /// Elements between consecutive batch entries (0: the same matrix for every entry).
    pub batch_stride: i64,
}

/// A column-major strided-batched GEMM `C = op(A) · op(B)`, `C` of `m × n`, inner size `k`.
/// `a` is the row-major `rhs` and `b` the row-major `lhs` (the product is taken transposed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemmPlan {
    /// Rows of `C` (= columns of the row-major output).
    pub m: i64,
    /// Columns of `C` (= rows of the row-major output).
    pub n: i64,
    /// The inner dimension.
    pub k: i64,
    /// Number of batch entries.
    pub batch: i64,
    /// The row-major `rhs`.
    pub a: Operand,
    /// The row-major `lhs`.
    pub b: Operand,
    /// Leading dimension of `C` (the output's row stride).
    pub ldc: i64,
    /// Elements between consecutive output matrices.
    pub batch_stride_c: i64,
    /// Number of GEMM calls (1 when the batch dimensions collapse to one stride per operand;
    /// otherwise one call per index of the smaller of two batch groups, e.g. the heads of an
    /// attention whose q, k, v are chunks of one tensor).
    pub loops: i64,
    /// Elements between the operands of consecutive calls: `[a, b, c]`.
    pub loop_strides: [i64; 3],
}

/// The most GEMM calls one matmul may be split into (see [`GemmPlan::loops`]).
pub const MAX_LOOPS: usize = 64;

/// Why a matmul cannot be one strided-batched GEMM call (the caller then launches its own kernel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsupported {
    /// Operands of different rank, rank < 2, or inner sizes that do not agree.
    Shapes,
    /// A 2-D view with no unit stride (or overlapping rows).
    Layout,
    /// Batch dimensions that do not collapse to one stride.
    Batch,
    /// An empty product, or a size beyond the GEMM's 32-bit arguments.
    Size,
}

/// Row-major `[rows, cols]` view with strides `(s_row, s_col)` as a column-major operand:
/// `(transposed, ld)`, or `None` when neither stride can serve as the unit stride.
fn matrix(rows: usize, cols: usize, s_row: usize, s_col: usize) -> Option<(bool, i64)> {
    // Unit column stride: a column-major `cols × rows` matrix, leading dimension = row stride.
    if s_col == 1 || cols == 1 {
        let ld = if rows == 1 { cols } else { s_row };
        if ld >= cols.max(1) {
            return Some((false, ld as i64));
        }
    }
    // Unit row stride: the transpose of a column-major `rows × cols` matrix.
    if s_row == 1 || rows == 1 {
        let ld = if cols == 1 { rows } else { s_col };
        if ld >= rows.max(1) {
            return Some((true, ld as i64));
        }
    }
    None
}

/// The single stride that walks the flattened batch dimensions `out_batch` of an operand with
/// batch shape `dims` and strides `strides` (broadcast dimensions of size 1 read stride 0).
fn batch_stride(out_batch: &[usize], dims: &[usize], strides: &[usize]) -> Option<i64> {
    let mut stride: Option<usize> = None;
    let mut span = 1usize; // entries spanned by the dimensions inside the current one
    for i in (0..out_batch.len()).rev() {
        if out_batch[i] == 1 {
            continue;
        }
        let eff = if dims[i] == 1 {
            0
        } else if dims[i] == out_batch[i] {
            strides[i]
        } else {
            return None;
        };
        match stride {
            None => stride = Some(eff),
            Some(s) if eff != s * span => return None,
            Some(_) => {}
        }
        span *= out_batch[i];
    }
    Some(stride.unwrap_or(0) as i64)
}

/// Plans `out = lhs · rhs` for row-major views given by shapes and strides (in elements).
/// `lhs: [.., m, k]`, `rhs: [.., k, n]`, `out: [.., m, n]`, all of the same rank, batch
/// dimensions of `lhs`/`rhs` equal to `out`'s or 1.
pub fn plan(
    lhs: (&[usize], &[usize]),
    rhs: (&[usize], &[usize]),
    out: (&[usize], &[usize]),
) -> Result<GemmPlan, Unsupported> {
    let r = out.0.len();
    if r < 2 || lhs.0.len() != r || rhs.0.len() != r || lhs.1.len() != r || rhs.1.len() != r {
        return Err(Unsupported::Shapes);
    }
    let (m, k, n) = (lhs.0[r - 2], lhs.0[r - 1], rhs.0[r - 1]);
    if rhs.0[r - 2] != k || out.0[r - 2] != m || out.0[r - 1] != n {
        return Err(Unsupported::Shapes);
    }
    let batch: usize = out.0[..r - 2].iter().product();
    let fits = |v: usize| v > 0 && v <= i32::MAX as usize;
    if !(fits(m) && fits(n) && fits(k) && fits(batch)) {
        return Err(Unsupported::Size);
    }
    let (a_t, lda) = matrix(k, n, rhs.1[r - 2], rhs.1[r - 1]).ok_or(Unsupported::Layout)?;
    let (b_t, ldb) = matrix(m, k, lhs.1[r - 2], lhs.1[r - 1]).ok_or(Unsupported::Layout)?;
    // The output must be written as a column-major `n × m` matrix: unit column stride.
    let (c_t, ldc) = matrix(m, n, out.1[r - 2], out.1[r - 1]).ok_or(Unsupported::Layout)?;
    if c_t {
        return Err(Unsupported::Layout);
    }
    if [lda, ldb, ldc].iter().any(|&ld| ld > i32::MAX as i64) {
        return Err(Unsupported::Size);
    }
    let ob = &out.0[..r - 2];
    let (l_dims, l_str, r_dims, r_str, o_str) = (
        &lhs.0[..r - 2],
        &lhs.1[..r - 2],
        &rhs.0[..r - 2],
        &rhs.1[..r - 2],
        &out.1[..r - 2],
    );
    // Strides of the three operands over the batch dimensions `range`, if each collapses.
    let group = |range: std::ops::Range<usize>| -> Option<[i64; 3]> {
        let g = &ob[range.clone()];
        Some([
            batch_stride(g, &r_dims[range.clone()], &r_str[range.clone()])?,
            batch_stride(g, &l_dims[range.clone()], &l_str[range.clone()])?,
            batch_stride(g, &ob[range.clone()], &o_str[range])?,
        ])
    };
    let nb = ob.len();
    // One call over all batch dimensions, or a loop over the smaller of two groups.
    let (batch_n, [sa, sb, sc], loops, loop_strides) = match group(0..nb) {
        Some(s) => (batch, s, 1, [0; 3]),
        None => (1..nb)
            .filter_map(|split| {
                let (outer, inner) = (group(0..split)?, group(split..nb)?);
                let n_outer: usize = ob[..split].iter().product();
                let n_inner: usize = ob[split..].iter().product();
                Some(if n_outer <= n_inner {
                    (n_inner, inner, n_outer, outer)
                } else {
                    (n_outer, outer, n_inner, inner)
                })
            })
            .filter(|&(_, _, loops, _)| loops <= MAX_LOOPS)
            .min_by_key(|&(_, _, loops, _)| loops)
            .ok_or(Unsupported::Batch)?,
    };
    if (batch_n > 1 && sc == 0) || (loops > 1 && loop_strides[2] == 0) {
        return Err(Unsupported::Batch);
    }
    Ok(GemmPlan {
        m: n as i64,
        n: m as i64,
        k: k as i64,
        batch: batch_n as i64,
        a: Operand {
            transposed: a_t,
            ld: lda,
            batch_stride: sa,
        },
        b: Operand {
            transposed: b_t,
            ld: ldb,
            batch_stride: sb,
        },
        ldc,
        batch_stride_c: sc,
        loops: loops as i64,
        loop_strides,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference semantics of a column-major strided-batched GEMM (cuBLAS' definition).
    fn gemm(p: &GemmPlan, a: &[f64], b: &[f64], c: &mut [f64]) {
        let at = |s: &[f64], o: &Operand, bi: i64, row: i64, col: i64| {
            // op(X)[row, col]
            let (r, cl) = if o.transposed { (col, row) } else { (row, col) };
            s[(bi * o.batch_stride + r + cl * o.ld) as usize]
        };
        for lp in 0..p.loops {
            let [la, lb, lc] = p.loop_strides.map(|s| lp * s);
            let (a, b) = (&a[la as usize..], &b[lb as usize..]);
            for bi in 0..p.batch {
                for i in 0..p.m {
                    for j in 0..p.n {
                        let mut acc = 0.0;
                        for l in 0..p.k {
                            acc += at(a, &p.a, bi, i, l) * at(b, &p.b, bi, l, j);
                        }
                        c[(lc + bi * p.batch_stride_c + i + j * p.ldc) as usize] = acc;
                    }
                }
            }
        }
    }

    /// A row-major strided view: element at multi-index `idx`.
    fn offset(idx: &[usize], strides: &[usize]) -> usize {
        idx.iter().zip(strides).map(|(i, s)| i * s).sum()
    }

    fn contiguous(shape: &[usize]) -> Vec<usize> {
        let mut s = vec![1; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            s[i] = s[i + 1] * shape[i + 1];
        }
        s
    }

    /// Swap the last two axes of a view (what burn's `transpose` does to strides).
    fn transposed_view(shape: &[usize], strides: &[usize]) -> (Vec<usize>, Vec<usize>) {
        let (mut sh, mut st) = (shape.to_vec(), strides.to_vec());
        let r = sh.len();
        sh.swap(r - 1, r - 2);
        st.swap(r - 1, r - 2);
        (sh, st)
    }

    fn batch_index(mut flat: usize, dims: &[usize]) -> Vec<usize> {
        let mut idx = vec![0; dims.len()];
        for i in (0..dims.len()).rev() {
            idx[i] = flat % dims[i];
            flat /= dims[i];
        }
        idx
    }

    /// Plans the views, runs the reference GEMM, and compares with a naive row-major product.
    fn check(lhs: (&[usize], &[usize]), rhs: (&[usize], &[usize]), out_shape: &[usize]) {
        let out_strides = contiguous(out_shape);
        let p = plan(lhs, rhs, (out_shape, &out_strides)).expect("supported");
        let span = |sh: &[usize], st: &[usize]| {
            sh.iter().zip(st).map(|(d, s)| (d - 1) * s).sum::<usize>() + 1
        };
        let lbuf: Vec<f64> = (0..span(lhs.0, lhs.1))
            .map(|i| (i as f64 * 0.37).sin())
            .collect();
        let rbuf: Vec<f64> = (0..span(rhs.0, rhs.1))
            .map(|i| (i as f64 * 0.91).cos())
            .collect();
        let mut c = vec![f64::NAN; out_shape.iter().product()];
        gemm(&p, &rbuf, &lbuf, &mut c);
        let r = out_shape.len();
        let (m, n, k) = (out_shape[r - 2], out_shape[r - 1], lhs.0[r - 1]);
        let ob = &out_shape[..r - 2];
        let nb: usize = ob.iter().product();
        for bi in 0..nb {
            let idx = batch_index(bi, ob);
            let bcast = |dims: &[usize]| -> Vec<usize> {
                idx.iter()
                    .zip(dims)
                    .map(|(&i, &d)| if d == 1 { 0 } else { i })
                    .collect()
            };
            let (li, ri) = (bcast(&lhs.0[..r - 2]), bcast(&rhs.0[..r - 2]));
            for i in 0..m {
                for j in 0..n {
                    let mut want = 0.0;
                    for l in 0..k {
                        let lo = offset(&[li.clone(), vec![i, l]].concat(), lhs.1);
                        let ro = offset(&[ri.clone(), vec![l, j]].concat(), rhs.1);
                        want += lbuf[lo] * rbuf[ro];
                    }
                    let got = c[offset(&[idx.clone(), vec![i, j]].concat(), &out_strides)];
                    assert!(
                        (got - want).abs() < 1e-12,
                        "{got} vs {want} at batch {bi} ({i},{j})"
                    );
                }
            }
        }
    }

    #[test]
    fn plain_transposed_and_padded_views_match_a_naive_product() {
        let (l, r) = ([3, 5], [5, 4]);
        check((&l, &contiguous(&l)), (&r, &contiguous(&r)), &[3, 4]);
        // lhsᵀ · rhs and lhs · rhsᵀ as in a Linear layer's backward (transposed views).
        let (lt, lts) = transposed_view(&[5, 3], &contiguous(&[5, 3]));
        check((&lt, &lts), (&r, &contiguous(&r)), &[3, 4]);
        let (rt, rts) = transposed_view(&[4, 5], &contiguous(&[4, 5]));
        check((&l, &contiguous(&l)), (&rt, &rts), &[3, 4]);
        check((&lt, &lts), (&rt, &rts), &[3, 4]);
        // Padded rows (pitch 8 > 5 columns) and vectors (m = 1, n = 1).
        check((&l, &[8, 1]), (&r, &contiguous(&r)), &[3, 4]);
        check((&[1, 5], &[99, 1]), (&r, &contiguous(&r)), &[1, 4]);
        check((&l, &contiguous(&l)), (&[5, 1], &[1, 77]), &[3, 1]);
    }

    #[test]
    fn batched_and_broadcast_views_match_a_naive_product() {
        // [2, 3] batches, the weight broadcast over them (a Linear on a rank-4 input).
        let (l, r) = ([2, 3, 4, 5], [1, 1, 5, 6]);
        check((&l, &contiguous(&l)), (&r, &contiguous(&r)), &[2, 3, 4, 6]);
        // Both batched, rhs viewed transposed.
        let (rt, rts) = transposed_view(&[2, 3, 6, 5], &contiguous(&[2, 3, 6, 5]));
        check((&l, &contiguous(&l)), (&rt, &rts), &[2, 3, 4, 6]);
        // lhs broadcast over the batch.
        let l1 = [1, 1, 4, 5];
        let r2 = [2, 3, 5, 6];
        check(
            (&l1, &contiguous(&l1)),
            (&r2, &contiguous(&r2)),
            &[2, 3, 4, 6],
        );
    }

    #[test]
    fn chunked_heads_run_as_a_loop_of_strided_batches() {
        // k and v of a linear attention: heads 0..3 of a [2, 9, 4, 5] tensor (q, k, v chunks),
        // so the batch [2, 3] has strides [180, 20]: no single stride, a loop over the 2.
        let l = ([2, 3, 4, 5], [180, 20, 5, 1]);
        let (rt, rts) = transposed_view(&[2, 3, 6, 5], &[270, 30, 5, 1]);
        check((&l.0, &l.1), (&rt, &rts), &[2, 3, 4, 6]);
        let p = plan(
            (&l.0, &l.1),
            (&rt, &rts),
            (&[2, 3, 4, 6], &contiguous(&[2, 3, 4, 6])),
        );
        assert_eq!(p.map(|p| (p.loops, p.batch)), Ok((2, 3)));
    }

    #[test]
    fn layouts_one_gemm_cannot_take_are_refused() {
        let c = contiguous(&[3, 4]);
        // No unit stride in the lhs.
        let e = plan((&[3, 5], &[10, 2]), (&[5, 4], &[4, 1]), (&[3, 4], &c));
        assert_eq!(e, Err(Unsupported::Layout));
        // Batch dims that collapse neither into one stride nor into a loop of at most
        // MAX_LOOPS calls: [65, 65] batches with strides that skip.
        let l = [65, 65, 4, 5];
        let e = plan(
            (&l, &[7000, 100, 5, 1]),
            (&[1, 1, 5, 4], &[20, 20, 4, 1]),
            (&[65, 65, 4, 4], &contiguous(&[65, 65, 4, 4])),
        );
        assert_eq!(e, Err(Unsupported::Batch));
        // Mismatched inner sizes, rank mismatch, empty product.
        let e = plan((&[3, 5], &[5, 1]), (&[6, 4], &[4, 1]), (&[3, 4], &c));
        assert_eq!(e, Err(Unsupported::Shapes));
        let e = plan(
            (&[1, 3, 5], &[15, 5, 1]),
            (&[5, 4], &[4, 1]),
            (&[1, 3, 4], &[12, 4, 1]),
        );
        assert_eq!(e, Err(Unsupported::Shapes));
        let e = plan((&[0, 5], &[5, 1]), (&[5, 4], &[4, 1]), (&[0, 4], &[4, 1]));
        assert_eq!(e, Err(Unsupported::Size));
    }
}
