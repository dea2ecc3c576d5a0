//! The transactional outbox: events written in the same transaction as the change they
//! describe, so that whatever is derived from them can never miss one or see a rolled-back one.

use diesel::prelude::*;
use serde_json::Value;

use crate::schema::outbox;

pub fn enqueue(
    conn: &mut PgConnection,
    topic: &str,
    entity_type: &str,
    entity_id: i64,
    payload: &Value,
) -> QueryResult<()> {
    diesel::insert_into(outbox::table)
        .values((
            outbox::topic.eq(topic),
            outbox::entity_type.eq(entity_type),
            outbox::entity_id.eq(entity_id),
            outbox::payload.eq(payload),
        ))
        .execute(conn)
        .map(|_| ())
}
