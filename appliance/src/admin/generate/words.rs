//! The text model of generated data: a vocabulary with a Zipf-like spread (a few words in
//! every other sentence, a long tail seen once in a while) and skewed picks for sizes and
//! people, so that generated installations are as lopsided as real ones.

use rand::rngs::StdRng;
use rand::Rng;

/// Words people write in trackers, most common first; the generated tail follows them.
const COMMON: &[&str] = &[
    "the",
    "to",
    "and",
    "of",
    "a",
    "in",
    "is",
    "for",
    "on",
    "it",
    "with",
    "when",
    "after",
    "not",
    "error",
    "fails",
    "deploy",
    "user",
    "page",
    "service",
    "login",
    "timeout",
    "update",
    "server",
    "database",
    "config",
    "build",
    "release",
    "test",
    "cluster",
    "backup",
    "network",
    "request",
    "api",
    "token",
    "report",
    "export",
    "import",
    "upgrade",
    "memory",
    "disk",
    "full",
    "queue",
    "job",
    "email",
    "search",
    "index",
    "audit",
    "log",
    "permission",
    "project",
    "sprint",
    "board",
    "dashboard",
    "kubernetes",
    "pipeline",
    "staging",
    "production",
    "rollback",
    "certificate",
    "proxy",
    "latency",
    "cache",
    "session",
    "webhook",
    "failover",
    "replica",
    "migration",
    "schema",
    "customer",
    "invoice",
    "billing",
    "storage",
    "upload",
    "attachment",
    "workflow",
    "status",
    "ticket",
    "incident",
];
const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "re", "tan", "vor", "shi", "del", "pra", "gen", "nu", "sol", "bri", "ter", "quo", "fen", "zar",
    "pel", "dru", "mon",
];
/// A vocabulary of `size` words and a sampler that picks word `n` with weight 1/(n+1).
pub struct Words {
    vocabulary: Vec<String>,
    cumulative: Vec<f64>,
}

impl Words {
    pub fn new(size: usize, rng: &mut StdRng) -> Words {
        let mut vocabulary: Vec<String> = COMMON.iter().map(|word| word.to_string()).collect();
        while vocabulary.len() < size {
            let syllables = rng.gen_range(2..5);
            vocabulary.push((0..syllables).map(|_| SYLLABLES[rng.gen_range(0..SYLLABLES.len())]).collect());
        }
        let mut total = 0.0;
        let cumulative = (0..size)
            .map(|n| {
                total += 1.0 / (n as f64 + 1.0).powf(1.05);
                total
            })
            .collect();
        Words { vocabulary, cumulative }
    }

    /// The `n`th most common word.
    pub fn nth(&self, n: usize) -> &str {
        &self.vocabulary[n.min(self.vocabulary.len() - 1)]
    }

    pub fn word(&self, rng: &mut StdRng) -> &str {
        let roll = rng.gen_range(0.0..*self.cumulative.last().unwrap_or(&1.0));
        let n = self.cumulative.partition_point(|c| *c < roll).min(self.vocabulary.len() - 1);
        &self.vocabulary[n]
    }

    pub fn text(&self, rng: &mut StdRng, words: usize) -> String {
        let mut text = String::with_capacity(words * 7);
        for n in 0..words {
            if n > 0 {
                text.push(if n % 14 == 0 { '.' } else { ' ' });
                if n % 14 == 0 {
                    text.push(' ');
                }
            }
            text.push_str(self.word(rng));
        }
        text
    }
}

/// Picks from 0..n with weight 1/(k+1): a few huge projects, many small ones.
pub fn skewed(rng: &mut StdRng, n: u64) -> u64 {
    let roll: f64 = rng.gen_range(0.0..1.0);
    (((n as f64 + 1.0).powf(roll) - 1.0) as u64).min(n - 1)
}
