//! Background work: the outbox that state changes write to, the job queue every derived effect
//! runs on, the worker runtime and dispatcher, the scheduler, and the admin pages over them.
//! What a job *does* lives with its domain (`notify`, …); `handlers` maps job kinds to it.

pub mod cleanup;
pub mod handlers;
pub mod outbox;
pub mod pages;
pub mod queue;
pub mod schedule;
pub mod worker;
