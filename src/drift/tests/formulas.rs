//! PSI, KL, numpy's quantiles and the binning rules.

use super::{EPS, close, ln};
use crate::drift::binning::{Binning, numpy_quantile};
use crate::drift::{kl_divergence, psi};

/// (name, expected, actual, epsilon, PSI).
type PsiCase = (&'static str, &'static [f64], &'static [f64], f64, f64);
/// (name, sample, bins, edges, constant).
type BinningCase = (&'static str, Vec<f64>, usize, Vec<f64>, Option<f64>);

#[test]
fn psi_on_hand_computed_histograms() {
    let cases: &[PsiCase] = &[
        ("equal", &[0.5, 0.5], &[0.5, 0.5], EPS, 0.0),
        (
            "a quarter moves",
            &[0.5, 0.5],
            &[0.25, 0.75],
            EPS,
            0.25 * ln(2.0) + 0.25 * ln(1.5),
        ),
        (
            "three bins",
            &[0.2, 0.3, 0.5],
            &[0.1, 0.4, 0.5],
            EPS,
            -0.1 * ln(0.5) + 0.1 * ln(4.0 / 3.0),
        ),
        (
            "an empty expected bin becomes epsilon",
            &[1.0, 0.0],
            &[0.5, 0.5],
            EPS,
            -0.5 * ln(0.5) + (0.5 - EPS) * ln(0.5 / EPS),
        ),
        (
            "an empty actual bin becomes epsilon",
            &[0.5, 0.5],
            &[1.0, 0.0],
            EPS,
            0.5 * ln(2.0) + (EPS - 0.5) * ln(EPS / 0.5),
        ),
        (
            "a bin empty in both adds nothing",
            &[1.0, 0.0],
            &[1.0, 0.0],
            EPS,
            0.0,
        ),
        (
            "a larger epsilon, a smaller PSI",
            &[1.0, 0.0],
            &[0.5, 0.5],
            1e-2,
            -0.5 * ln(0.5) + (0.5 - 1e-2) * ln(0.5 / 1e-2),
        ),
        (
            "no renormalisation: smoothed shares are used as they are",
            &[0.0, 0.0, 1.0],
            &[0.0, 1.0, 0.0],
            EPS,
            (1.0 - EPS) * ln(1.0 / EPS) + (EPS - 1.0) * ln(EPS / 1.0),
        ),
    ];
    for &(name, expected, actual, epsilon, want) in cases {
        let got = psi(expected, actual, epsilon);
        assert!(close(got, want), "{name}: psi {got}, want {want}");
        assert!(got >= 0.0, "{name}: PSI is never negative");
    }
}

#[test]
fn kl_on_hand_computed_histograms() {
    let cases: &[(&str, &[f64], &[f64], f64)] = &[
        ("equal", &[0.3, 0.7], &[0.3, 0.7], 0.0),
        (
            "p against q",
            &[0.5, 0.5],
            &[0.25, 0.75],
            0.5 * ln(2.0) + 0.5 * ln(0.5 / 0.75),
        ),
        (
            "q against p: another figure",
            &[0.25, 0.75],
            &[0.5, 0.5],
            0.25 * ln(0.5) + 0.75 * ln(1.5),
        ),
        (
            "an empty p bin becomes epsilon",
            &[1.0, 0.0],
            &[0.5, 0.5],
            ln(2.0) + EPS * ln(EPS / 0.5),
        ),
        (
            "an empty q bin becomes epsilon",
            &[0.5, 0.5],
            &[1.0, 0.0],
            0.5 * ln(0.5) + 0.5 * ln(0.5 / EPS),
        ),
    ];
    for &(name, p, q, want) in cases {
        let got = kl_divergence(p, q, EPS);
        assert!(close(got, want), "{name}: kl {got}, want {want}");
    }
}

#[test]
#[should_panic(expected = "same bins")]
fn psi_refuses_histograms_of_different_bins() {
    psi(&[1.0], &[0.5, 0.5], EPS);
}

#[test]
fn quantiles_match_numpy_bit_for_bit() {
    // np.quantile(np.array(xs), qs) with numpy 2.4, printed with repr().
    let cases: &[(&[f64], &[f64], &[f64])] = &[
        (&[1.0, 2.0, 3.0, 4.0], &[0.1, 0.5, 0.9], &[1.3, 2.5, 3.7]),
        (&[0.0, 10.0], &[0.1, 0.3, 0.7], &[1.0, 3.0, 7.0]),
        (
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
            &[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
            &[
                1.9,
                2.8,
                3.6999999999999997,
                4.6,
                5.5,
                6.3999999999999995,
                7.3,
                8.2,
                9.1,
            ],
        ),
        (
            &[-1.5, 0.2, 7.25],
            &[1.0 / 3.0, 2.0 / 3.0],
            &[-0.36666666666666675, 2.5499999999999994],
        ),
        (&[42.0], &[0.1, 0.9], &[42.0, 42.0]),
        (&[1.0, f64::INFINITY], &[0.5, 0.9], &[f64::NAN, f64::NAN]),
    ];
    for &(sorted, qs, want) in cases {
        for (&q, &want) in qs.iter().zip(want) {
            let got = numpy_quantile(sorted, q);
            assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "quantile {q} of {sorted:?}: {got:?}, numpy {want:?}"
            );
        }
    }
}

#[test]
fn binning_rules() {
    let below_five = 5f64.next_down();
    let cases: &[BinningCase] = &[
        (
            "deciles of 1..=10",
            (1..=10).map(f64::from).collect(),
            10,
            vec![
                1.9,
                2.8,
                3.6999999999999997,
                4.6,
                5.5,
                6.3999999999999995,
                7.3,
                8.2,
                9.1,
            ],
            None,
        ),
        (
            "ties collapse bins",
            vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0],
            4,
            vec![0.0, 1.5],
            None,
        ),
        (
            "constant: bins below, at and above",
            vec![5.0; 7],
            10,
            vec![below_five, 5.0],
            Some(5.0),
        ),
        ("one bin asked for", vec![1.0, 2.0, 3.0], 1, vec![], None),
        ("no values", vec![], 10, vec![], None),
    ];
    for (name, sample, bins, edges, constant) in cases {
        let binning = Binning::from_sample(sample.clone(), *bins);
        assert_eq!(&binning.edges, edges, "{name}");
        assert_eq!(&binning.constant, constant, "{name}");
    }
    let constant = Binning::from_sample(vec![5.0; 3], 10);
    let bins: Vec<usize> = [4.0, 4.999, 5.0, 5.001, 6.0]
        .iter()
        .map(|&x| constant.bin(x))
        .collect();
    assert_eq!(bins, [0, 0, 1, 2, 2]);
    // Right-closed: a value equal to an edge is in the bin below it.
    let deciles = Binning::from_sample(vec![0.0, 10.0], 2);
    assert_eq!(deciles.edges, [5.0]);
    assert_eq!(
        [deciles.bin(-1.0), deciles.bin(5.0), deciles.bin(5.1)],
        [0, 0, 1]
    );
}
