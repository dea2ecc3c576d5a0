//! The shape of a generated installation — which projects, how big, whose teams, which
//! sprints — and the facts of each issue and page. Every issue's and page's facts come from a
//! random generator seeded by its position alone, so each table's pass derives the same
//! issue without a million of them kept in memory.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::words::skewed;

/// The statuses of the default workflow, by stage.
#[derive(Clone, Copy)]
pub struct Statuses {
    pub todo: i64,
    pub in_progress: i64,
    pub in_review: i64,
    pub done: i64,
}

/// A generated project's sprints: closed ones two weeks apart from the project's start,
/// then the active one and the planned ones.
#[derive(Default)]
pub struct Sprints {
    pub closed: Vec<i64>,
    pub active: Option<i64>,
    pub planned: Vec<i64>,
}

pub struct ProjectPlan {
    pub id: i64,
    pub key: String,
    pub space_id: i64,
    /// Its issues are `first .. first + count` of all generated issues.
    pub first: u64,
    pub count: u64,
    pub statuses: Statuses,
    /// Its people are `size` consecutive users from `offset`, the first ones busiest.
    pub team_offset: usize,
    pub team_size: usize,
    pub started: DateTime<Utc>,
    pub sprints: Sprints,
    /// Its pages are `first_page .. first_page + pages` of all generated pages.
    pub first_page: u64,
    pub pages: u64,
}

impl ProjectPlan {
    /// A team member, the first ones far more often than the last.
    pub fn member(&self, people: &[i64], rng: &mut StdRng) -> i64 {
        let k = skewed(rng, self.team_size as u64) as usize;
        people[(self.team_offset + k) % people.len()]
    }

    /// Whether the project plans in sprints: small ones work from a Kanban board only.
    pub fn plans_sprints(count: u64) -> bool {
        count >= 50
    }

    /// How many two-week sprints have closed since the project started.
    pub fn closed_sprints(count: u64, started: DateTime<Utc>, now: DateTime<Utc>) -> usize {
        if count < 200 {
            return 0;
        }
        ((now - started).num_days() / SPRINT_DAYS).clamp(0, 60) as usize
    }
}

pub const SPRINT_DAYS: i64 = 14;

pub struct Layout {
    pub seed: u64,
    pub now: DateTime<Utc>,
    pub people: Vec<i64>,
    pub usernames: HashMap<i64, String>,
    pub projects: Vec<ProjectPlan>,
    pub first_issue_id: i64,
    pub issues: u64,
    pub first_page_id: i64,
    pub pages: u64,
}

/// `total` split over `parts` in proportion 1/(k+1): the first part the largest, a long tail
/// of small ones; the parts add up to `total` exactly.
pub fn zipf_split(total: u64, parts: usize) -> Vec<u64> {
    let weights: Vec<f64> = (0..parts).map(|k| 1.0 / (k as f64 + 1.0)).collect();
    let sum: f64 = weights.iter().sum();
    let mut sizes: Vec<u64> = weights.iter().map(|w| (total as f64 * w / sum).floor() as u64).collect();
    let given: u64 = sizes.iter().sum();
    if let Some(first) = sizes.first_mut() {
        *first += total - given;
    }
    sizes
}

/// The random stream `stream` of item `index`: the same numbers in every pass.
pub fn rng_for(seed: u64, stream: u64, index: u64) -> StdRng {
    StdRng::seed_from_u64(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F) ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

const ISSUE_FACTS: u64 = 1;
pub const ISSUE_TEXT: u64 = 2;
const ISSUE_KIND: u64 = 3;
pub const ISSUE_ACTIVITY: u64 = 4;
const PAGE_FACTS: u64 = 5;
pub const PAGE_TEXT: u64 = 6;

/// Chooses from `(value, weight)` pairs.
pub fn weighted<T: Copy>(rng: &mut StdRng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut roll = rng.gen_range(0..total);
    for (value, weight) in items {
        if roll < *weight {
            return *value;
        }
        roll -= weight;
    }
    items[0].0
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Todo,
    InProgress,
    InReview,
    Done,
}

pub const LABELS: &[&str] = &[
    "backend",
    "frontend",
    "customer",
    "security",
    "performance",
    "regression",
    "tech-debt",
    "api",
    "database",
    "ux",
    "infra",
    "documentation",
    "flaky-test",
    "compliance",
    "accessibility",
    "mobile",
    "billing",
    "search",
    "onboarding",
    "reporting",
    "ldap",
    "sso",
    "backup",
    "upgrade",
    "release-blocker",
    "needs-design",
    "good-first-issue",
    "on-prem",
    "audit",
    "storage",
];

pub struct IssueFacts<'a> {
    pub project: &'a ProjectPlan,
    pub id: i64,
    pub number: i64,
    pub issue_type: &'static str,
    pub stage: Stage,
    pub priority: i16,
    pub assignee: Option<i64>,
    pub reporter: i64,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub sprint: Option<i64>,
    pub parent: Option<i64>,
    pub story_points: Option<f64>,
    pub labels: Vec<&'static str>,
    pub watchers: Vec<i64>,
    pub comments: u32,
}

impl Layout {
    pub fn project_of(&self, index: u64) -> &ProjectPlan {
        let at = self.projects.partition_point(|p| p.first + p.count <= index);
        &self.projects[at.min(self.projects.len() - 1)]
    }

    fn kind_of(&self, index: u64) -> &'static str {
        let mut rng = rng_for(self.seed, ISSUE_KIND, index);
        weighted(&mut rng, &[("story", 35), ("task", 33), ("bug", 22), ("epic", 2), ("subtask", 8)])
    }

    pub fn issue(&self, index: u64) -> IssueFacts<'_> {
        let project = self.project_of(index);
        let mut rng = rng_for(self.seed, ISSUE_FACTS, index);
        let number = (index - project.first) as i64 + 1;
        // Older issues are mostly done; the newest mostly not started.
        let age = 1.0 - (number - 1) as f64 / project.count.max(1) as f64;
        let stage = if rng.gen_bool(0.1 + 0.8 * age) {
            Stage::Done
        } else {
            weighted(&mut rng, &[(Stage::Todo, 60), (Stage::InProgress, 25), (Stage::InReview, 15)])
        };
        let lifetime = (self.now - project.started).num_minutes().max(1);
        let jitter = rng.gen_range(-720..=720);
        let created = (project.started + Duration::minutes((lifetime as f64 * (1.0 - age)) as i64 + jitter))
            .min(self.now - Duration::minutes(1));
        let open_for = (self.now - created).num_minutes().max(1);
        let updated = created
            + Duration::minutes(match stage {
                Stage::Done => rng.gen_range(0..open_for.min(60 * 24 * 60)),
                _ => rng.gen_range(0..open_for),
            });
        let mut issue_type = self.kind_of(index);
        let mut parent = None;
        if issue_type == "subtask" {
            let candidate = number - rng.gen_range(1..=50).min(number);
            parent = (candidate >= 1)
                .then(|| project.first + candidate as u64 - 1)
                .filter(|&parent| matches!(self.kind_of(parent), "story" | "task" | "bug"))
                .map(|parent| self.first_issue_id + parent as i64);
            if parent.is_none() {
                issue_type = "task";
            }
        }
        let sprint = match stage {
            Stage::Done => {
                let window = ((created - project.started).num_days() / SPRINT_DAYS).max(0) as usize;
                project.sprints.closed.get(window).copied().filter(|_| rng.gen_bool(0.8))
            }
            _ => {
                let open = (project.count as f64 * 0.5).max(1.0);
                if project.sprints.active.is_some() && rng.gen_bool((300.0 / open).min(1.0)) {
                    project.sprints.active
                } else if !project.sprints.planned.is_empty() && rng.gen_bool((120.0 / open).min(1.0)) {
                    Some(project.sprints.planned[rng.gen_range(0..project.sprints.planned.len())])
                } else {
                    None
                }
            }
        };
        let priority = weighted(&mut rng, &[(1i16, 10), (2, 20), (3, 45), (4, 18), (5, 7)]);
        let assignee = rng.gen_bool(0.85).then(|| project.member(&self.people, &mut rng));
        let reporter = project.member(&self.people, &mut rng);
        let story_points = (issue_type == "story")
            .then(|| weighted(&mut rng, &[(1.0, 10), (2.0, 20), (3.0, 30), (5.0, 25), (8.0, 10), (13.0, 5)]));
        let mut labels = Vec::new();
        for _ in 0..weighted(&mut rng, &[(0, 40), (1, 35), (2, 18), (3, 7)]) {
            let label = LABELS[skewed(&mut rng, LABELS.len() as u64) as usize];
            if !labels.contains(&label) {
                labels.push(label);
            }
        }
        let mut watchers = vec![reporter];
        watchers.extend(assignee);
        for _ in 0..rng.gen_range(0..=3) {
            watchers.push(project.member(&self.people, &mut rng));
        }
        watchers.sort_unstable();
        watchers.dedup();
        // floor of an exponential with mean 3.48: 3 comments on average, a few with dozens.
        let comments = ((-(1.0 - rng.gen::<f64>()).ln() * 3.476) as u32).min(80);
        IssueFacts {
            project,
            id: self.first_issue_id + index as i64,
            number,
            issue_type,
            stage,
            priority,
            assignee,
            reporter,
            created,
            updated,
            sprint,
            parent,
            story_points,
            labels,
            watchers,
            comments,
        }
    }

    /// Every page in the order of their ids: its project, its index among all pages, its facts.
    pub fn each_page(&self) -> impl Iterator<Item = (&ProjectPlan, u64, PageFacts)> + '_ {
        self.projects.iter().flat_map(move |project| {
            (project.first_page..project.first_page + project.pages)
                .map(move |index| (project, index, self.page(project, index)))
        })
    }

    pub fn page(&self, project: &ProjectPlan, index: u64) -> PageFacts {
        let mut rng = rng_for(self.seed, PAGE_FACTS, index);
        let nth = index - project.first_page;
        // A handful of sections at the top; nearly everything else under an earlier page,
        // the early ones (the sections and their first pages) far more often.
        let parent = (nth >= 6 && rng.gen_bool(0.98))
            .then(|| self.first_page_id + (project.first_page + skewed(&mut rng, nth)) as i64);
        let lifetime = (self.now - project.started).num_minutes().max(2);
        let created = project.started + Duration::minutes(rng.gen_range(0..lifetime - 1));
        let updated = created + Duration::minutes(rng.gen_range(0..(self.now - created).num_minutes().max(1)));
        PageFacts {
            id: self.first_page_id + index as i64,
            parent,
            versions: weighted(&mut rng, &[(1, 60), (2, 25), (3, 10), (5, 5)]),
            author: project.member(&self.people, &mut rng),
            editor: project.member(&self.people, &mut rng),
            created,
            updated,
        }
    }
}

pub struct PageFacts {
    pub id: i64,
    pub parent: Option<i64>,
    pub versions: i32,
    pub author: i64,
    pub editor: i64,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zipf_split_adds_up_and_leads_with_the_largest() {
        let sizes = zipf_split(1_000_000, 500);
        assert_eq!(sizes.iter().sum::<u64>(), 1_000_000);
        assert!(sizes[0] > 140_000 && sizes[0] < 160_000, "{}", sizes[0]);
        assert!(sizes[499] < 400, "{}", sizes[499]);
        assert!(sizes.windows(2).all(|pair| pair[0] >= pair[1]));
        assert_eq!(zipf_split(3, 5).iter().sum::<u64>(), 3);
    }

    #[test]
    fn the_same_index_gives_the_same_numbers() {
        let a: u64 = rng_for(7, 1, 12345).gen();
        let b: u64 = rng_for(7, 1, 12345).gen();
        let c: u64 = rng_for(7, 1, 12346).gen();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
