//! Markdown to HTML that is safe to put in a page: raw HTML in the source is shown as text,
//! links or images may only point at http(s), mailto or relative addresses, code blocks are
//! highlighted here on the server (classes only, styled by `highlight.css`), and issue keys
//! such as `OPS-42` in running text become links to their issues.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use pulldown_cmark::{html, CodeBlockKind, CowStr, Event, Options, Parser, Tag, TagEnd};
use syntect::html::{ClassStyle, ClassedHTMLGenerator};
use syntect::parsing::SyntaxSet;
use syntect::util::LinesWithEndings;

/// The class prefix of highlighted tokens (`hl-keyword`), so they never clash with the app's.
pub const HIGHLIGHT_CLASSES: ClassStyle = ClassStyle::SpacedPrefixed { prefix: "hl-" };

/// Code blocks longer than this are shown plain: highlighting is work done on every view.
const HIGHLIGHT_MAX_BYTES: usize = 64 * 1024;

/// What a Markdown text renders to, and the issue keys its running text names.
pub struct Rendered {
    pub html: String,
    pub issue_keys: BTreeSet<String>,
}

pub fn to_html(source: &str) -> String {
    render(source).html
}

pub fn render(source: &str) -> Rendered {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut events = Vec::new();
    let mut issue_keys = BTreeSet::new();
    // Inside a code block the text is gathered for highlighting; inside a link it is left
    // alone (a key in a link's text must not become a link within a link).
    let mut code: Option<(Option<String>, String)> = None;
    let mut link_depth = 0usize;
    for event in Parser::new_ext(source, options) {
        match event {
            Event::Start(Tag::CodeBlock(kind)) => {
                let language = match kind {
                    CodeBlockKind::Fenced(info) => info.split_whitespace().next().map(str::to_owned),
                    CodeBlockKind::Indented => None,
                };
                code = Some((language, String::new()));
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some((language, text)) = code.take() {
                    events.push(Event::Html(highlight(language.as_deref(), &text).into()));
                }
            }
            Event::Text(text) | Event::Html(text) | Event::InlineHtml(text) if code.is_some() => {
                if let Some((_, gathered)) = code.as_mut() {
                    gathered.push_str(&text);
                }
            }
            Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
                link_depth += 1;
                events.push(Event::Start(Tag::Link { link_type, dest_url: safe_url(dest_url), title, id }));
            }
            Event::End(TagEnd::Link) => {
                link_depth = link_depth.saturating_sub(1);
                events.push(Event::End(TagEnd::Link));
            }
            Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
                events.push(Event::Start(Tag::Image { link_type, dest_url: safe_url(dest_url), title, id }));
            }
            // Shown, not interpreted: no <script>, no onerror=, no <iframe> gets through.
            Event::Text(text) | Event::Html(text) | Event::InlineHtml(text) => {
                if link_depth > 0 {
                    events.push(Event::Text(text));
                } else {
                    link_issue_keys(&text, &mut events, &mut issue_keys);
                }
            }
            other => events.push(other),
        }
    }
    let mut out = String::with_capacity(source.len() * 3 / 2);
    html::push_html(&mut out, events.into_iter());
    Rendered { html: out, issue_keys }
}

/// Splits `text` around issue keys, each key becoming a link (its characters are letters,
/// digits and `-` only, so writing it into HTML as-is is safe).
fn link_issue_keys<'a>(text: &str, events: &mut Vec<Event<'a>>, keys: &mut BTreeSet<String>) {
    let mut plain_from = 0;
    for (start, end) in issue_key_spans(text) {
        if start > plain_from {
            events.push(Event::Text(CowStr::from(text[plain_from..start].to_owned())));
        }
        let key = &text[start..end];
        events
            .push(Event::InlineHtml(CowStr::from(format!("<a class=\"issue-ref\" href=\"/issues/{key}\">{key}</a>"))));
        keys.insert(key.to_owned());
        plain_from = end;
    }
    if plain_from < text.len() {
        events.push(Event::Text(CowStr::from(text[plain_from..].to_owned())));
    }
}

/// Where `text` names issues: a project key (a capital letter, then 1 to 9 capitals or
/// digits), `-`, and a number without a leading zero, standing as a word of its own.
pub fn issue_key_spans(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let word_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    let mut spans = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let starts_word = at == 0 || !word_byte(bytes[at - 1]);
        if !(starts_word && bytes[at].is_ascii_uppercase()) {
            at += 1;
            continue;
        }
        let project_end = at + bytes[at..].iter().take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit()).count();
        let project_len = project_end - at;
        let number_start = project_end + 1;
        let number_len =
            bytes.get(number_start..).map_or(0, |rest| rest.iter().take_while(|b| b.is_ascii_digit()).count());
        let end = number_start + number_len;
        let is_key = (2..=10).contains(&project_len)
            && bytes.get(project_end) == Some(&b'-')
            && (1..=12).contains(&number_len)
            && bytes[number_start] != b'0'
            && bytes.get(end).is_none_or(|&b| !word_byte(b));
        if is_key {
            spans.push((at, end));
            at = end;
        } else {
            at = project_end.max(at + 1);
        }
    }
    spans
}

/// `text` with the characters that mean something in HTML written as entities.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '&' => escaped.push_str("&amp;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

fn syntaxes() -> &'static SyntaxSet {
    static SYNTAXES: OnceLock<SyntaxSet> = OnceLock::new();
    SYNTAXES.get_or_init(SyntaxSet::load_defaults_newlines)
}

/// A code block as `<pre><code>`, its tokens wrapped in classed spans when the language is
/// known (by name or file extension: `rust`, `rs`, `sql`, `yaml`…). The language name
/// appears in the output only when it is plain letters, digits, `+`, `#` or `-`.
fn highlight(language: Option<&str>, text: &str) -> String {
    let language =
        language.filter(|l| l.len() <= 32 && l.chars().all(|c| c.is_ascii_alphanumeric() || "+#-_".contains(c)));
    let class = language.map(|l| format!(" class=\"language-{}\"", l.to_ascii_lowercase())).unwrap_or_default();
    let syntax =
        language.filter(|_| text.len() <= HIGHLIGHT_MAX_BYTES).and_then(|l| syntaxes().find_syntax_by_token(l));
    let highlighted = syntax.and_then(|syntax| {
        let mut generator = ClassedHTMLGenerator::new_with_class_style(syntax, syntaxes(), HIGHLIGHT_CLASSES);
        for line in LinesWithEndings::from(text) {
            generator.parse_html_for_line_which_includes_newline(line).ok()?;
        }
        Some(generator.finalize())
    });
    let body = highlighted.unwrap_or_else(|| escape_html(text));
    format!("<pre class=\"code\"><code{class}>{body}</code></pre>\n")
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
            "<iframe src=\"https://evil.example\"></iframe>",
            "```\"><script>alert(1)</script>\nx\n```",
            "```html\n<script>alert(1)</script>\n```",
            "```js onload=alert(1)\nlet a = '<img src=x onerror=alert(1)>';\n```",
            "    <script>alert(1)</script>",
            "| a | b |\n|---|---|\n| <script>alert(1)</script> | [x](javascript:alert(1)) |",
            "- [ ] <img src=x onerror=alert(1)>",
            "OPS-1<script>alert(1)</script>",
            "[OPS-1](javascript:alert(1))",
            "<style>body{display:none}</style>",
            "<form action=\"https://evil.example\"><input name=p></form>",
            "[x](  javascript:alert(1))",
            "[x](&#106;avascript:alert(1))",
            "<object data=\"x.swf\"></object><embed src=\"x.swf\">",
        ];
        for attack in attacks {
            let html = to_html(attack);
            // Text is escaped, so every `<` left in the output opens a tag the renderer made.
            for tag in html.split('<').skip(1).map(|rest| rest.split('>').next().unwrap_or_default().to_lowercase()) {
                let name = tag.trim_start_matches('/').split([' ', '/']).next().unwrap_or_default();
                let allowed = [
                    "p", "a", "img", "em", "strong", "code", "pre", "span", "table", "thead", "tbody", "tr", "th",
                    "td", "ul", "li", "input",
                ];
                assert!(allowed.contains(&name), "{attack} made <{tag}>");
                if name == "input" {
                    assert!(tag.contains("type=\"checkbox\"") && tag.contains("disabled"), "{attack} made <{tag}>");
                }
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

#[cfg(test)]
mod more_tests {
    use super::{issue_key_spans, render};

    #[test]
    fn code_blocks_are_highlighted_on_the_server_with_prefixed_classes() {
        let html = render("```rust\nfn main() { let x = \"<b>\"; }\n```").html;
        assert!(html.starts_with("<pre class=\"code\"><code class=\"language-rust\">"), "{html}");
        assert!(html.contains("<span class=\"hl-"), "{html}");
        assert!(html.contains("&lt;b&gt;") && !html.contains("<b>"), "{html}");
        let unknown = render("```nosuchlanguage\na < b\n```").html;
        assert_eq!(unknown, "<pre class=\"code\"><code class=\"language-nosuchlanguage\">a &lt; b\n</code></pre>\n");
        let indented = render("    plain <i>\n").html;
        assert_eq!(indented, "<pre class=\"code\"><code>plain &lt;i&gt;\n</code></pre>\n");
    }

    #[test]
    fn issue_keys_in_running_text_link_to_their_issues() {
        let rendered = render("See OPS-42 and (WEB2-7), not ops-1, OPS-01, XOPS-1x, A-1, `OPS-3` or [OPS-4](/x).");
        assert!(
            rendered.html.contains("<a class=\"issue-ref\" href=\"/issues/OPS-42\">OPS-42</a>"),
            "{}",
            rendered.html
        );
        assert!(rendered.html.contains("(<a class=\"issue-ref\" href=\"/issues/WEB2-7\">WEB2-7</a>)"));
        let keys: Vec<&str> = rendered.issue_keys.iter().map(String::as_str).collect();
        assert_eq!(keys, ["OPS-42", "WEB2-7"]);
        assert!(rendered.html.contains("<code>OPS-3</code>"), "code stays code");
        assert!(rendered.html.contains("<a href=\"/x\">OPS-4</a>"), "no link inside a link");
    }

    #[test]
    fn key_spans_stand_as_words() {
        let text = "OPS-1,DEV-22.x-OPS-3 OPS-4-5 É-1 ABCDEFGHIJK-1 OPS-1234567890123";
        let found: Vec<&str> = issue_key_spans(text).into_iter().map(|(a, b)| &text[a..b]).collect();
        assert_eq!(found, ["OPS-1", "DEV-22"]);
    }

    #[test]
    fn tables_and_task_lists_render() {
        let html = render("| a | b |\n|---|:-:|\n| 1 | 2 |\n\n- [x] done\n- [ ] open").html;
        assert!(html.contains("<table>") && html.contains("<th style=\"text-align: center\">b</th>"), "{html}");
        assert!(html.contains("<input disabled=\"\" type=\"checkbox\" checked=\"\"/>"), "{html}");
    }
}

#[cfg(test)]
mod stylesheet {
    use syntect::highlighting::ThemeSet;
    use syntect::html::css_for_theme_with_class_style;

    use super::HIGHLIGHT_CLASSES;

    /// `static/highlight.css` is made from a syntect theme; this keeps it in step with the
    /// classes the renderer writes. `OUTPOST_WRITE_HIGHLIGHT_CSS=1` rewrites it.
    #[test]
    fn the_highlighting_stylesheet_matches_the_classes_written() {
        let themes = ThemeSet::load_defaults();
        let theme = &themes.themes["InspiredGitHub"];
        let css = css_for_theme_with_class_style(theme, HIGHLIGHT_CLASSES).expect("css for the theme");
        let css = format!(
            "/* Code highlighting (syntect, InspiredGitHub theme). Made by a test in web/markdown.rs. */\n{css}"
        );
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../static/highlight.css");
        if std::env::var_os("OUTPOST_WRITE_HIGHLIGHT_CSS").is_some() {
            std::fs::write(path, &css).expect("write the stylesheet");
        }
        assert_eq!(std::fs::read_to_string(path).unwrap_or_default(), css, "rerun with OUTPOST_WRITE_HIGHLIGHT_CSS=1");
    }
}
