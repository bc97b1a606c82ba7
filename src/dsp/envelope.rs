//! Envelope followers shared by the de-esser and the compressor: one-pole smoothing from
//! time constants, an attack/release follower, a mean-square (RMS) detector and a
//! sliding-window peak detector.
//!
//! **Time constant.** Everywhere in podclean a time `τ` means the one-pole time constant: after
//! a step, a follower covers `1 − 1/e` (63.2 %) of the distance to the new value in `τ`
//! (and 95 % in 3τ). Per sample, `state += (1 − c)·(target − state)` with
//! `c = exp(−1 / (τ·fs))`. A time of 0 means "follow instantly".

/// Smoothing coefficient `c = exp(−1/(τ·fs))` for a time constant of `time_ms`
/// (0 for `time_ms <= 0`: no smoothing).
pub fn coeff(time_ms: f64, sample_rate: u32) -> f64 {
    let samples = time_ms * 1e-3 * sample_rate as f64;
    if samples > 0.0 {
        (-1.0 / samples).exp()
    } else {
        0.0
    }
}

/// Values below this are flushed to zero so long silences do not end in subnormal arithmetic.
const FLUSH: f64 = 1e-30;

/// One-pole low-pass with a single time constant.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OnePole {
    c: f64,
}

impl OnePole {
    pub fn new(time_ms: f64, sample_rate: u32) -> Self {
        Self {
            c: coeff(time_ms, sample_rate),
        }
    }

    /// Moves `state` towards `target` and returns the new state.
    #[inline(always)]
    pub fn step(&self, state: &mut f64, target: f64) -> f64 {
        *state = target + self.c * (*state - target);
        *state
    }
}

/// Branching attack/release follower: the attack constant applies while the target is above
/// the state (the tracked quantity rising), the release constant while it is below.
///
/// The compressor and de-esser run it on gain reduction in dB, so "attack" is reduction
/// growing and "release" is reduction recovering.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AttackRelease {
    attack: f64,
    release: f64,
}

impl AttackRelease {
    pub fn new(attack_ms: f64, release_ms: f64, sample_rate: u32) -> Self {
        Self {
            attack: coeff(attack_ms, sample_rate),
            release: coeff(release_ms, sample_rate),
        }
    }

    /// Moves `state` towards `target` and returns the new state. Values that settle within
    /// 1e-30 of zero are flushed to exactly zero.
    #[inline(always)]
    pub fn step(&self, state: &mut f64, target: f64) -> f64 {
        let c = if target > *state { self.attack } else { self.release };
        let mut next = target + c * (*state - target);
        if next.abs() < FLUSH {
            next = 0.0;
        }
        *state = next;
        next
    }
}

/// RMS detector: one-pole smoothing of the squared signal (a mean square over an exponential
/// window of time constant `window_ms`). Feed it `x²`; take `sqrt`/`10·log10` of the state.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MeanSquare {
    smoother: OnePole,
}

impl MeanSquare {
    pub fn new(window_ms: f64, sample_rate: u32) -> Self {
        Self {
            smoother: OnePole::new(window_ms, sample_rate),
        }
    }

    /// Adds one squared sample (or a sum of squares across channels) to `state`.
    #[inline(always)]
    pub fn step(&self, state: &mut f64, squared: f64) -> f64 {
        let v = self.smoother.step(state, squared);
        if v < FLUSH {
            *state = 0.0;
        }
        *state
    }
}

/// Peak detector: the largest value of the last `window` samples (the current one included).
///
/// Attack is instant and the peak is held for the window, so a steady sine whose half period
/// fits in the window reads exactly its peak, with no ripple. Amortized O(1) per sample
/// (monotonic deque in a ring buffer allocated once by `new`).
#[derive(Debug, Clone, Default)]
pub struct SlidingMax {
    values: Vec<f64>,
    stamps: Vec<u64>,
    head: usize,
    len: usize,
    window: u64,
    now: u64,
}

impl SlidingMax {
    /// A detector over `window` samples (at least 1).
    pub fn new(window: usize) -> Self {
        let window = window.max(1);
        Self {
            values: vec![0.0; window + 1],
            stamps: vec![0; window + 1],
            head: 0,
            len: 0,
            window: window as u64,
            now: 0,
        }
    }

    /// Window length in samples.
    pub fn window(&self) -> usize {
        self.window as usize
    }

    /// Forgets all history.
    pub fn reset(&mut self) {
        self.head = 0;
        self.len = 0;
        self.now = 0;
    }

    #[inline(always)]
    fn slot(&self, offset: usize) -> usize {
        let i = self.head + offset;
        if i >= self.values.len() {
            i - self.values.len()
        } else {
            i
        }
    }

    /// Pushes one value (NaN counts as 0) and returns the maximum over the window.
    #[inline]
    pub fn push(&mut self, x: f64) -> f64 {
        let x = if x.is_nan() { 0.0 } else { x };
        // Values at the back that are not larger than x can never be the maximum again.
        while self.len > 0 && self.values[self.slot(self.len - 1)] <= x {
            self.len -= 1;
        }
        let back = self.slot(self.len);
        self.values[back] = x;
        self.stamps[back] = self.now;
        self.len += 1;
        // Drop the front if it has left the window [now − window + 1, now].
        while self.stamps[self.head] + self.window <= self.now {
            self.head = self.slot(1);
            self.len -= 1;
        }
        self.now += 1;
        self.values[self.head]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pole_reaches_63_percent_in_one_time_constant() {
        let fs = 48_000;
        for time_ms in [1.0, 10.0, 120.0] {
            let p = OnePole::new(time_ms, fs);
            let mut state = 0.0;
            let n = (time_ms * 1e-3 * fs as f64).round() as usize;
            for _ in 0..n {
                p.step(&mut state, 1.0);
            }
            assert!((state - (1.0 - (-1.0f64).exp())).abs() < 1e-3, "{time_ms} ms: {state}");
        }
    }

    #[test]
    fn attack_release_branches_on_direction() {
        let ar = AttackRelease::new(1.0, 100.0, 48_000);
        let mut s = 0.0;
        for _ in 0..48 {
            ar.step(&mut s, 10.0);
        }
        assert!((s - 6.32).abs() < 0.01, "attack: {s}");
        s = 10.0;
        for _ in 0..4800 {
            ar.step(&mut s, 0.0);
        }
        assert!((s - 3.68).abs() < 0.01, "release: {s}");
        let instant = AttackRelease::new(0.0, 0.0, 48_000);
        assert_eq!(instant.step(&mut s, 2.5), 2.5);
    }

    #[test]
    fn mean_square_of_a_sine_is_half_its_peak_squared() {
        let fs = 48_000;
        let ms = MeanSquare::new(20.0, fs);
        let mut state = 0.0;
        for x in crate::dsp::testutil::sine(1000.0, 0.5, fs, fs as usize) {
            ms.step(&mut state, (x as f64).powi(2));
        }
        assert!((state / 0.125 - 1.0).abs() < 0.01, "{state}");
    }

    #[test]
    fn sliding_max_matches_brute_force() {
        let x = crate::dsp::testutil::white_noise(5000, 9);
        for window in [1, 2, 7, 480] {
            let mut d = SlidingMax::new(window);
            for (i, &v) in x.iter().enumerate() {
                let expected = x[i.saturating_sub(window - 1)..=i]
                    .iter()
                    .fold(f32::MIN, |m, &s| m.max(s));
                assert_eq!(d.push(v as f64), expected as f64, "window {window} at {i}");
            }
            d.reset();
            assert_eq!(d.push(-1.0), -1.0);
        }
    }
}
