//! Notifications: what happened that a user should hear about, in the app (the bell) and by
//! mail (at once, in a daily digest, or not at all, per kind). Fed by outbox events through
//! the `notify` job; mail leaves through the `mail.send` job so a mail server outage only
//! delays it.

pub mod digest;
pub mod events;
pub mod mail;
pub mod mentions;
pub mod pages;
pub mod preferences;
pub mod reminders;
pub mod store;

/// Why a user is told about something. When several apply, the user is told once, for the
/// first in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    Assigned,
    Mentioned,
    DueSoon,
    MyIssueCommented,
    Watching,
    Sprint,
    /// A project's automation rule names the user in its "send a notification" action.
    Automation,
    /// A documentation page the user watches (writers watch what they write) was edited.
    PageWatched,
}

/// How a kind of notification reaches a user's mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    Immediate,
    Digest,
    Off,
}

impl Reason {
    pub const ALL: [Reason; 8] = [
        Reason::Assigned,
        Reason::Mentioned,
        Reason::DueSoon,
        Reason::MyIssueCommented,
        Reason::Watching,
        Reason::Sprint,
        Reason::Automation,
        Reason::PageWatched,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Assigned => "assigned",
            Reason::Mentioned => "mentioned",
            Reason::DueSoon => "due_soon",
            Reason::MyIssueCommented => "my_issue_commented",
            Reason::Watching => "watching",
            Reason::Sprint => "sprint",
            Reason::Automation => "automation",
            Reason::PageWatched => "page_watched",
        }
    }

    pub fn parse(text: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|reason| reason.as_str() == text)
    }

    /// How the preferences page names it.
    pub fn label(self) -> &'static str {
        match self {
            Reason::Assigned => "An issue is assigned to me",
            Reason::Mentioned => "Someone mentions me (@name)",
            Reason::DueSoon => "An issue assigned to me is due tomorrow",
            Reason::MyIssueCommented => "Someone comments on an issue I reported or am assigned",
            Reason::Watching => "An issue I watch changes",
            Reason::Sprint => "A sprint with my issues starts or completes",
            Reason::Automation => "A project's automation rule sends me a message",
            Reason::PageWatched => "A documentation page I watch is edited",
        }
    }

    /// What mail a user gets before choosing: what needs them now comes at once, the rest
    /// in the digest.
    pub fn default_delivery(self) -> Delivery {
        match self {
            Reason::Assigned | Reason::Mentioned | Reason::DueSoon | Reason::MyIssueCommented | Reason::Automation => {
                Delivery::Immediate
            }
            Reason::Watching | Reason::Sprint | Reason::PageWatched => Delivery::Digest,
        }
    }
}

impl Delivery {
    pub const ALL: [Delivery; 3] = [Delivery::Immediate, Delivery::Digest, Delivery::Off];

    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Immediate => "immediate",
            Delivery::Digest => "digest",
            Delivery::Off => "off",
        }
    }

    pub fn parse(text: &str) -> Option<Delivery> {
        Delivery::ALL.into_iter().find(|delivery| delivery.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            Delivery::Immediate => "Mail at once",
            Delivery::Digest => "Daily digest",
            Delivery::Off => "No mail",
        }
    }
}
