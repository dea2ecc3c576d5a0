//! Background work. For now only the outbox that state changes write to; the job queue that
//! drains it (indexing, notifications, webhooks, automation) arrives with its consumers.

pub mod outbox;
