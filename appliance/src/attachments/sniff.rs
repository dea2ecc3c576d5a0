//! A file's type from its first bytes, never from the name or the client's say-so: a
//! browser that is told "image/png" must be given a PNG.

/// How many leading bytes `of` looks at.
pub const HEAD: usize = 512;

/// The content type the leading bytes show.
pub fn of(head: &[u8]) -> &'static str {
    const SIGNATURES: &[(&[u8], &str)] = &[
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"BM", "image/bmp"),
        (b"II*\0", "image/tiff"),
        (b"MM\0*", "image/tiff"),
        (b"%PDF-", "application/pdf"),
        (b"PK\x03\x04", "application/zip"),
        (b"\x1f\x8b", "application/gzip"),
    ];
    if let Some((_, kind)) = SIGNATURES.iter().find(|(magic, _)| head.starts_with(magic)) {
        return kind;
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return "image/webp";
    }
    // Text, as far as the head shows (a multi-byte character may be cut at the end).
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or(""),
        Err(_) => return "application/octet-stream",
    };
    if text.contains('\0') {
        return "application/octet-stream";
    }
    let lower = text.trim_start_matches('\u{feff}').trim_start().to_ascii_lowercase();
    if lower.starts_with("<svg") || (lower.starts_with("<?xml") && lower.contains("<svg")) {
        "image/svg+xml"
    } else if lower.starts_with("<!doctype html") || lower.starts_with("<html") || lower.contains("<script") {
        "text/html"
    } else {
        "text/plain; charset=utf-8"
    }
}

/// Pictures that are safe to show from this origin: raster formats only. SVG can carry
/// script, so it is always a download.
pub fn is_inline_image(content_type: &str) -> bool {
    matches!(content_type, "image/png" | "image/jpeg" | "image/gif" | "image/webp")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_bytes_and_active_content_is_recognised() {
        assert_eq!(of(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "image/png");
        assert_eq!(of(b"\xff\xd8\xff\xe0\0\x10JFIF"), "image/jpeg");
        assert_eq!(of(b"RIFF\0\0\0\0WEBPVP8 "), "image/webp");
        assert_eq!(of(b"II*\0\x08\0\0\0"), "image/tiff");
        assert_eq!(of(b"BM\x36\0\0\0"), "image/bmp");
        assert_eq!(of(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(of(b"plain words\nand lines"), "text/plain; charset=utf-8");
        assert_eq!(of("caf\u{e9}".as_bytes()), "text/plain; charset=utf-8");
        assert_eq!(of(&"é".as_bytes()[..1]), "text/plain; charset=utf-8", "a character cut at the end is still text");
        assert_eq!(of(b"  <svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'>"), "image/svg+xml");
        assert_eq!(of(b"<?xml version='1.0'?><svg>"), "image/svg+xml");
        assert_eq!(of(b"<!DOCTYPE html><p>hi"), "text/html");
        assert_eq!(of(b"hello <script>alert(1)</script>"), "text/html");
        assert_eq!(of(b"\0\x01\x02binary"), "application/octet-stream");
        assert!(is_inline_image("image/png") && !is_inline_image("image/svg+xml") && !is_inline_image("text/html"));
    }
}
