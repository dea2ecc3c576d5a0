//! Markdown to HTML that is safe to put in a page: raw HTML in the source is shown as text,
//! and links or images may only point at http(s), mailto or relative addresses.

use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag};

pub fn to_html(source: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let events = Parser::new_ext(source, options).map(|event| match event {
        // Shown, not interpreted: no <script>, no onerror=, no <iframe> gets through.
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
            Event::Start(Tag::Link { link_type, dest_url: safe_url(dest_url), title, id })
        }
        Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
            Event::Start(Tag::Image { link_type, dest_url: safe_url(dest_url), title, id })
        }
        other => other,
    });
    let mut out = String::with_capacity(source.len() * 3 / 2);
    html::push_html(&mut out, events);
    out
}

/// Keeps addresses with an allowed scheme, or none (relative); anything else becomes `#`.
/// Browsers ignore control characters and whitespace inside a scheme ("java\tscript:"), so
/// those are removed before looking.
fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
    let compact: String =
        url.chars().filter(|c| !c.is_control() && !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    let scheme_end = compact.find([':', '/', '?', '#']);
    let has_scheme = scheme_end.is_some_and(|at| compact[at..].starts_with(':'));
    let allowed = !has_scheme || ["http:", "https:", "mailto:"].iter().any(|scheme| compact.starts_with(scheme));
    if allowed {
        url
    } else {
        CowStr::Borrowed("#")
    }
}

#[cfg(test)]
mod tests {
    use super::to_html;

    #[test]
    fn markdown_renders() {
        let html = to_html("# Title\n\n**bold** and `code`\n\n- [x] done");
        assert!(html.contains("<h1>Title</h1>"));
        assert!(html.contains("<strong>bold</strong>"));
        assert!(html.contains("<code>code</code>"));
        assert!(html.contains("checkbox"));
    }

    #[test]
    fn no_script_gets_through() {
        let attacks = [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "[x](javascript:alert(1))",
            "[x](JaVaScRiPt:alert(1))",
            "[x](java\tscript:alert(1))",
            "![x](javascript:alert(1))",
            "[x](data:text/html;base64,PHNjcmlwdD4=)",
            "[x](vbscript:msgbox)",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<svg onload=alert(1)>",
            "[x](\"onmouseover=\"alert(1))",
        ];
        for attack in attacks {
            let html = to_html(attack);
            // Text is escaped, so every `<` left in the output opens a tag the renderer made.
            for tag in html.split('<').skip(1).map(|rest| rest.split('>').next().unwrap_or_default().to_lowercase()) {
                let name = tag.trim_start_matches('/').split([' ', '/']).next().unwrap_or_default();
                assert!(["p", "a", "img", "em", "strong", "code"].contains(&name), "{attack} made <{tag}>");
                for bad in ["javascript:", "vbscript:", "data:"] {
                    assert!(!tag.contains(bad), "{attack} made <{tag}>");
                }
                // Attribute names are what stands outside the quoted values.
                let mut quoted = false;
                let names: String = tag
                    .chars()
                    .filter(|&c| {
                        if c == '"' {
                            quoted = !quoted;
                            false
                        } else {
                            !quoted
                        }
                    })
                    .collect();
                assert!(!names.contains(" on"), "{attack} made an event handler: <{tag}>");
            }
        }
    }

    #[test]
    fn safe_links_survive() {
        let html = to_html("[a](https://example.com/x?y=1) [b](/issues/OPS-1) [c](mailto:a@b.c) [d](#top)");
        assert!(html.contains("href=\"https://example.com/x?y=1\""));
        assert!(html.contains("href=\"/issues/OPS-1\""));
        assert!(html.contains("href=\"mailto:a@b.c\""));
        assert!(html.contains("href=\"#top\""));
    }
}
