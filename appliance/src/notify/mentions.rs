//! `@name` mentions in issue descriptions and comments.

use std::collections::BTreeSet;

/// The user names mentioned in `text`: `@` at the start or after a character that cannot be
/// part of a name (so `ann@example.com` mentions nobody), followed by a user name.
pub fn mentioned(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if *c != '@' || (i > 0 && is_name_char(chars[i - 1])) {
            continue;
        }
        let name: String = chars[i + 1..].iter().take_while(|c| is_name_char(**c)).collect();
        // A sentence may end right after a name: "thanks @ann."
        let name = name.trim_end_matches(['.', '-']).to_ascii_lowercase();
        if (2..=32).contains(&name.len()) && name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            names.insert(name);
        }
    }
    names
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Names mentioned in `after` that `before` did not mention: editing a description that
/// already mentioned someone does not tell them again.
pub fn newly_mentioned(before: &str, after: &str) -> BTreeSet<String> {
    let already = mentioned(before);
    mentioned(after).into_iter().filter(|name| !already.contains(name)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_names_and_ignores_mail_addresses() {
        let found = mentioned("@ann please look, cc @bob.smith and @Carol. Mail ann@example.com or @x.");
        assert_eq!(found.into_iter().collect::<Vec<_>>(), ["ann", "bob.smith", "carol"]);
        assert!(mentioned("no one here @ @- @.").is_empty());
    }

    #[test]
    fn only_new_mentions_count_after_an_edit() {
        let new = newly_mentioned("hi @ann", "hi @ann and @bob");
        assert_eq!(new.into_iter().collect::<Vec<_>>(), ["bob"]);
    }
}
