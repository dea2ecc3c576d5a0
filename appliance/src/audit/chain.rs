//! Checking the audit log's hash chain (`outpost audit verify`). PostgreSQL seals committed
//! rows (migrations `000012_audit_chain`, `000029`; `sealer`); this recomputes every hash here,
//! from the row's columns rendered as text by PostgreSQL, without trusting the database's own
//! functions.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bytea, Nullable, Text};
use sha2::{Digest, Sha256};

/// Rows read per query while walking the chain.
const BATCH: i64 = 5000;

#[derive(QueryableByName)]
struct SealedRow {
    #[diesel(sql_type = BigInt)]
    chain_position: i64,
    #[diesel(sql_type = BigInt)]
    id: i64,
    /// The hashed fields, in order, as the seal rendered them.
    #[diesel(sql_type = diesel::sql_types::Array<Text>)]
    fields: Vec<String>,
    #[diesel(sql_type = Nullable<Bytea>)]
    previous_hash: Option<Vec<u8>>,
    #[diesel(sql_type = Bytea)]
    row_hash: Vec<u8>,
}

/// The same text the seal hashes: each field as "<bytes>:<text>", joined by "|".
pub(crate) fn digest(fields: &[String], previous: Option<&[u8]>) -> Vec<u8> {
    let previous = previous.map(hex::encode).unwrap_or_default();
    let parts: Vec<String> =
        fields.iter().chain(std::iter::once(&previous)).map(|part| format!("{}:{part}", part.len())).collect();
    Sha256::digest(parts.join("|").as_bytes()).to_vec()
}

/// What a walk of the chain found.
#[derive(Debug, Default)]
pub struct Verification {
    pub rows: u64,
    /// The last row's position and hash: record it, and a later `--expect-head` proves that
    /// nothing up to it was rewritten, even by someone who recomputed every hash.
    pub head: Option<(i64, String)>,
    /// Rows that were waiting to be sealed when the check began, sealed by it.
    pub sealed_first: usize,
    /// Rows written while the check ran, not sealed yet (the sealer will take them).
    pub written_since: i64,
    pub problems: Vec<String>,
}

/// Seals what is waiting, then walks the whole chain in order and reports every row whose
/// content or link is wrong, and whether `expected_head` is still where it was.
pub fn verify(conn: &mut PgConnection, expected_head: Option<(i64, &str)>) -> QueryResult<Verification> {
    let mut found = Verification { sealed_first: super::sealer::seal_all(conn)?, ..Verification::default() };
    let mut previous: Option<(i64, Vec<u8>)> = None;
    let mut after = i64::MIN;
    loop {
        let batch: Vec<SealedRow> = diesel::sql_query(
            "SELECT chain_position, id, ARRAY[ \
                 id::text, \
                 ((extract(epoch FROM occurred_at) * 1000000)::bigint)::text, \
                 coalesce(actor_id::text, ''), coalesce(actor_ip, ''), action, entity_type, entity_id::text, \
                 coalesce(before_state::text, ''), coalesce(after_state::text, ''), coalesce(via_rule_id::text, '') \
             ] AS fields, previous_hash, row_hash \
             FROM audit_log WHERE chain_position > $1 ORDER BY chain_position LIMIT $2",
        )
        .bind::<BigInt, _>(after)
        .bind::<BigInt, _>(BATCH)
        .load(conn)?;
        let Some(last) = batch.last() else { break };
        after = last.chain_position;
        for row in batch {
            found.rows += 1;
            let expected_link = previous.as_ref().map(|(_, hash)| hash.as_slice());
            if row.previous_hash.as_deref() != expected_link {
                found.problems.push(match &previous {
                    Some((position, _)) => format!(
                        "Between chain positions {position} and {} a row is missing or was rewritten: \
                         row {} does not link to the row before it.",
                        row.chain_position, row.id
                    ),
                    None => format!("The chain's first row ({}) links to a row that is no longer there.", row.id),
                });
            }
            if digest(&row.fields, row.previous_hash.as_deref()) != row.row_hash {
                found.problems.push(format!(
                    "Row {} (chain position {}) was edited: its content no longer matches its hash.",
                    row.id, row.chain_position
                ));
            }
            previous = Some((row.chain_position, row.row_hash));
        }
    }
    found.head = previous.map(|(position, hash)| (position, hex::encode(hash)));
    found.written_since =
        diesel::sql_query("SELECT count(*) AS n FROM audit_log WHERE row_hash IS NULL").get_result::<Count>(conn)?.n;
    if let Some((position, hash)) = expected_head {
        let at: Option<Vec<u8>> = diesel::sql_query("SELECT row_hash AS hash FROM audit_log WHERE chain_position = $1")
            .bind::<BigInt, _>(position)
            .get_result::<Hash>(conn)
            .optional()?
            .map(|row| row.hash);
        match at {
            Some(actual) if hex::encode(&actual) == hash.to_lowercase() => {}
            Some(_) => found.problems.push(format!(
                "Chain position {position} no longer has the hash recorded for it: the chain was rewritten up to there."
            )),
            None => found.problems.push(format!("Chain position {position}, recorded earlier, is no longer there.")),
        }
    }
    Ok(found)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Hash {
    #[diesel(sql_type = Bytea)]
    hash: Vec<u8>,
}

/// The chain's last sealed row: its position and hash (hex), as `verify` reports the head.
pub fn head(conn: &mut PgConnection) -> QueryResult<Option<(i64, String)>> {
    use crate::schema::audit_log;
    let last: Option<(Option<i64>, Option<Vec<u8>>)> = audit_log::table
        .filter(audit_log::chain_position.is_not_null())
        .order(audit_log::chain_position.desc())
        .select((audit_log::chain_position, audit_log::row_hash))
        .first(conn)
        .optional()?;
    Ok(last.and_then(|(position, hash)| Some((position?, hex::encode(hash?)))))
}

#[cfg(test)]
mod tests {
    use super::digest;

    #[test]
    fn fields_are_length_prefixed_so_none_can_pass_for_two() {
        let split = |a: &str, b: &str| digest(&[a.to_owned(), b.to_owned()], None);
        assert_ne!(split("a|1:b", ""), split("a", "b"));
        assert_eq!(digest(&["x".into()], Some(&[0xab])), digest(&["x".into()], Some(&[0xab])));
        assert_ne!(digest(&["x".into()], Some(&[0xab])), digest(&["x".into()], None));
    }
}
