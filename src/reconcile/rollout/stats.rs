//! The two-proportion z-test an A/B test is decided with, and the normal
//! distribution it needs.

use serde::{Deserialize, Serialize};

/// The outcome of comparing two rates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ZTest {
    /// Control rate.
    pub control_rate: f64,
    /// Treatment rate.
    pub treatment_rate: f64,
    /// Treatment minus control (absolute).
    pub effect: f64,
    /// Confidence interval of the effect at the test's confidence (unpooled standard error).
    pub interval: (f64, f64),
    /// z statistic (pooled standard error).
    pub z: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// The confidence level used.
    pub confidence: f64,
}

impl ZTest {
    /// Whether the treatment's rate is higher with significance.
    pub fn treatment_wins(&self) -> bool {
        self.effect > 0.0 && self.p_value < 1.0 - self.confidence
    }
}

/// Two-proportion z-test of `x_c / n_c` against `x_t / n_t` at `confidence`
/// (such as 0.95). `None` when either arm is empty or the pooled rate is 0 or 1
/// (no variance: nothing to decide).
pub fn two_proportion(x_c: f64, n_c: f64, x_t: f64, n_t: f64, confidence: f64) -> Option<ZTest> {
    if n_c <= 0.0 || n_t <= 0.0 {
        return None;
    }
    let (p_c, p_t) = (x_c / n_c, x_t / n_t);
    let pooled = (x_c + x_t) / (n_c + n_t);
    let se_pooled = (pooled * (1.0 - pooled) * (1.0 / n_c + 1.0 / n_t)).sqrt();
    if se_pooled == 0.0 || !se_pooled.is_finite() {
        return None;
    }
    let z = (p_t - p_c) / se_pooled;
    let p_value = 2.0 * (1.0 - normal_cdf(z.abs()));
    let se = (p_c * (1.0 - p_c) / n_c + p_t * (1.0 - p_t) / n_t).sqrt();
    let z_crit = normal_quantile(1.0 - (1.0 - confidence) / 2.0);
    let effect = p_t - p_c;
    Some(ZTest {
        control_rate: p_c,
        treatment_rate: p_t,
        effect,
        interval: (effect - z_crit * se, effect + z_crit * se),
        z,
        p_value: p_value.clamp(0.0, 1.0),
        confidence,
    })
}

/// Standard normal CDF, through erfc (W. J. Cody's rational approximations
/// as in Numerical Recipes' `erfc`: relative error below 1.2e-7).
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Standard normal quantile (Acklam's rational approximation, relative
/// error below 1.2e-9), for `p` in (0, 1).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let low = 0.02425;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -normal_quantile(1.0 - p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_distribution_matches_tables() {
        for (x, cdf) in [
            (0.0, 0.5),
            (1.0, 0.841_344_746),
            (1.959_963_985, 0.975),
            (-1.644_853_627, 0.05),
            (3.0, 0.998_650_102),
        ] {
            assert!(
                (normal_cdf(x) - cdf).abs() < 2e-7,
                "Φ({x}) = {}",
                normal_cdf(x)
            );
        }
        for (p, z) in [
            (0.975, 1.959_963_985),
            (0.5, 0.0),
            (0.05, -1.644_853_627),
            (0.999, 3.090_232_306),
        ] {
            assert!(
                (normal_quantile(p) - z).abs() < 1e-6,
                "Φ⁻¹({p}) = {}",
                normal_quantile(p)
            );
        }
    }

    #[test]
    fn two_proportion_test_against_a_worked_example() {
        // 200/1000 vs 250/1000: pooled 0.225, se 0.018675, z = 2.6774, p = 0.00742.
        let t = two_proportion(200.0, 1000.0, 250.0, 1000.0, 0.95).unwrap();
        assert!((t.z - 2.677_398).abs() < 1e-4, "{t:?}");
        assert!((t.p_value - 0.007_419).abs() < 1e-4, "{t:?}");
        assert!((t.effect - 0.05).abs() < 1e-12);
        // Unpooled se = sqrt(.2*.8/1000 + .25*.75/1000) = 0.018641; ±1.96 se.
        assert!(
            (t.interval.0 - (0.05 - 1.959_964 * 0.018_641)).abs() < 1e-4,
            "{t:?}"
        );
        assert!(t.treatment_wins());
        // The same effect on a tenth of the data is not significant.
        let small = two_proportion(20.0, 100.0, 25.0, 100.0, 0.95).unwrap();
        assert!(!small.treatment_wins(), "{small:?}");
        // A significant loss is not a win.
        let loss = two_proportion(250.0, 1000.0, 200.0, 1000.0, 0.95).unwrap();
        assert!(loss.p_value < 0.05 && !loss.treatment_wins());
        // Nothing to decide.
        assert!(two_proportion(0.0, 0.0, 1.0, 10.0, 0.95).is_none());
        assert!(two_proportion(0.0, 10.0, 0.0, 10.0, 0.95).is_none());
    }
}
