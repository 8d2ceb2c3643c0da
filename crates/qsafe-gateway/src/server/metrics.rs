//! A small Prometheus text exposition (format 0.0.4): request counters by route and status,
//! and one latency histogram per crypto step. Hand-rolled (a few dozen lines) rather than a
//! dependency; label values come from fixed sets (routes, steps, TLS group names), so the
//! series count is bounded.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Bucket upper bounds in seconds.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// The steps timed by [`Metrics::observe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// The TLS handshake (labelled with the negotiated group).
    TlsHandshake,
    /// RFC 9421 request signature verification.
    Verify,
    /// OHTTP decapsulation.
    Decapsulate,
    /// The embedded model.
    Model,
    /// The upstream model server (labelled with the API: `kserve_v2`, `openai`).
    Upstream,
    /// OHTTP response encapsulation.
    Encapsulate,
    /// RFC 9421 response signing.
    Sign,
}

impl Step {
    /// The name of the second label of this step's series, if it has one.
    fn label_name(self) -> &'static str {
        match self {
            Step::TlsHandshake => "group",
            Step::Upstream => "api",
            _ => "label",
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Step::TlsHandshake => "tls_handshake",
            Step::Verify => "verify",
            Step::Decapsulate => "decapsulate",
            Step::Model => "model",
            Step::Upstream => "upstream",
            Step::Encapsulate => "encapsulate",
            Step::Sign => "sign",
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(&'static str, u16), u64>,
    steps: BTreeMap<(Step, &'static str), Histogram>,
    tls_failures: u64,
}

/// One step's totals ([`Metrics::step_totals`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepTotal {
    /// The step (`tls_handshake`, `verify`, `decapsulate`, `model`, `upstream`, ...).
    pub step: &'static str,
    /// Its label (TLS group, upstream API) or `""`.
    pub label: &'static str,
    /// Observations.
    pub count: u64,
    /// Their total duration in seconds.
    pub seconds: f64,
}

/// Gateway metrics; shared behind an `Arc`.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts one answered request.
    pub fn request(&self, route: &'static str, status: u16) {
        *self.lock().requests.entry((route, status)).or_default() += 1;
    }

    /// Counts one failed TLS handshake.
    pub fn tls_failure(&self) {
        self.lock().tls_failures += 1;
    }

    /// Records how long `step` took; `group` is the negotiated TLS group for the handshake,
    /// the API (`kserve_v2`, `openai`) for the upstream, and `""` otherwise.
    pub fn observe(&self, step: Step, group: &'static str, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let mut inner = self.lock();
        let h = inner.steps.entry((step, group)).or_default();
        for (bound, count) in BUCKETS.iter().zip(h.counts.iter_mut()) {
            if secs <= *bound {
                *count += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// Count and total time of every step and label observed so far.
    pub fn step_totals(&self) -> Vec<StepTotal> {
        self.lock()
            .steps
            .iter()
            .map(|((step, label), h)| StepTotal {
                step: step.as_str(),
                label,
                count: h.count,
                seconds: h.sum,
            })
            .collect()
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let inner = self.lock();
        let mut out = String::new();
        out.push_str(
            "# HELP qsafe_gateway_requests_total Requests answered, by route and status code.\n",
        );
        out.push_str("# TYPE qsafe_gateway_requests_total counter\n");
        for ((route, code), n) in &inner.requests {
            let _ = writeln!(
                out,
                "qsafe_gateway_requests_total{{route=\"{route}\",code=\"{code}\"}} {n}"
            );
        }
        out.push_str("# HELP qsafe_gateway_tls_handshake_failures_total Failed TLS handshakes.\n");
        out.push_str("# TYPE qsafe_gateway_tls_handshake_failures_total counter\n");
        let _ = writeln!(
            out,
            "qsafe_gateway_tls_handshake_failures_total {}",
            inner.tls_failures
        );
        out.push_str(
            "# HELP qsafe_gateway_step_duration_seconds Time spent per protection step.\n",
        );
        out.push_str("# TYPE qsafe_gateway_step_duration_seconds histogram\n");
        for ((step, group), h) in &inner.steps {
            let (name, step) = (step.label_name(), step.as_str());
            let labels = if group.is_empty() {
                format!("step=\"{step}\"")
            } else {
                format!("step=\"{step}\",{name}=\"{group}\"")
            };
            for (bound, count) in BUCKETS.iter().zip(h.counts.iter()) {
                let _ = writeln!(
                    out,
                    "qsafe_gateway_step_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "qsafe_gateway_step_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "qsafe_gateway_step_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "qsafe_gateway_step_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.request("protected", 200);
        m.observe(
            Step::TlsHandshake,
            "X25519MLKEM768",
            Duration::from_micros(300),
        );
        let text = m.render();
        assert!(text.contains("qsafe_gateway_requests_total{route=\"protected\",code=\"200\"} 1"));
        assert!(text.contains(
            "qsafe_gateway_step_duration_seconds_count{step=\"tls_handshake\",group=\"X25519MLKEM768\"} 1"
        ));
        assert!(text.contains("le=\"+Inf\"} 1"));
    }
}
