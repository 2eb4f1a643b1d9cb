//! Numeric bins: quantile edges of the reference's sample, computed exactly
//! as numpy computes them so an independent implementation can agree to the
//! last bit.

/// Where a numeric feature's bins lie, from the reference.
///
/// Invariant: `edges` is sorted ascending, without duplicates or NaN; a
/// value's bin is the number of edges below it, so there are
/// `edges.len() + 1` value bins, (−∞, e₁], (e₁, e₂] … (eₘ, +∞).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Binning {
    pub edges: Vec<f64>,
    /// `Some(c)` when every sampled value was `c`: the edges are then
    /// [c⁻, c], bins below, at and above it.
    pub constant: Option<f64>,
}

impl Binning {
    /// The edges for `bins` quantile bins of `sample` (the reference's
    /// sampled non-null values, in any order).
    pub fn from_sample(mut sample: Vec<f64>, bins: usize) -> Binning {
        sample.sort_unstable_by(f64::total_cmp);
        let (Some(&first), Some(&last)) = (sample.first(), sample.last()) else {
            return Binning::single();
        };
        if bins < 2 {
            return Binning::single();
        }
        if first == last {
            return Binning {
                edges: vec![first.next_down(), first],
                constant: Some(first),
            };
        }
        let mut edges: Vec<f64> = (1..bins)
            .map(|i| numpy_quantile(&sample, i as f64 / bins as f64))
            .filter(|e| !e.is_nan())
            .collect();
        edges.sort_unstable_by(f64::total_cmp);
        edges.dedup();
        Binning {
            edges,
            constant: None,
        }
    }

    /// One bin for every value.
    pub fn single() -> Binning {
        Binning {
            edges: Vec::new(),
            constant: None,
        }
    }

    /// Value bins (the null bin is not one of them).
    pub fn bins(&self) -> usize {
        self.edges.len() + 1
    }

    /// The bin of a non-NaN value: how many edges lie below it.
    pub fn bin(&self, value: f64) -> usize {
        // A branch-free count beats a binary search on a few edges (the
        // usual 9): no mispredicted branches, and it vectorises.
        if self.edges.len() <= 32 {
            self.edges.iter().map(|&e| usize::from(e < value)).sum()
        } else {
            self.edges.partition_point(|&e| e < value)
        }
    }
}

/// The `q` quantile of ascending `sorted` (not empty, no NaN) as
/// `np.quantile(sorted, q)` computes it with its default `method="linear"`:
/// the virtual index (n−1)·q, its floor `i` and fraction `t`, then numpy's
/// `_lerp`: `a + (b − a)·t`, or `b − (b − a)·(1 − t)` when t ≥ 0.5, with
/// `a`, `b` the values at `i` and `i + 1`. At or past the last index numpy
/// takes the last value twice (and its `t` is the index + 1); kept so that
/// infinities give numpy's NaN.
pub(crate) fn numpy_quantile(sorted: &[f64], q: f64) -> f64 {
    let last = sorted.len() - 1;
    let virtual_index = last as f64 * q;
    let (a, b, t) = if virtual_index >= last as f64 {
        (sorted[last], sorted[last], virtual_index + 1.0)
    } else {
        let below = virtual_index.floor();
        let i = below as usize;
        (sorted[i], sorted[i + 1], virtual_index - below)
    };
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}
