//! The COPY passes of generated pages: each project's space gets pages in a tree (most under
//! an earlier page, the first ones the sections), with their earlier versions and their
//! authors watching them.

use std::collections::HashMap;

use diesel::prelude::*;
use rand::rngs::StdRng;
use rand::Rng;

use super::layout::{rng_for, Layout, PAGE_TEXT};
use super::sink::{copy_csv, id, text};
use super::words::Words;
use crate::errors::AppError;
use crate::schema::{page_versions, page_watchers, pages};

#[derive(Default)]
pub struct Written {
    pub pages: u64,
    pub versions: u64,
}

pub fn write_all(conn: &mut PgConnection, layout: &Layout, words: &Words) -> Result<Written, AppError> {
    if layout.pages == 0 {
        return Ok(Written::default());
    }
    let written = Written { pages: write_pages(conn, layout, words)?, versions: write_versions(conn, layout, words)? };
    write_watchers(conn, layout)?;
    Ok(written)
}

/// A page's title and the body of each of its versions, oldest first: a page grows.
fn texts(layout: &Layout, words: &Words, index: u64, versions: i32) -> (String, Vec<String>) {
    let mut rng = rng_for(layout.seed, PAGE_TEXT, index);
    let length = rng.gen_range(2..8);
    let title = words.text(&mut rng, length).replace('.', "");
    let mut body = String::new();
    let mut bodies = Vec::with_capacity(versions as usize);
    for _ in 0..versions {
        let words_now = (rng.gen_range(3.0f64..6.6).exp() as usize).min(2000);
        add_sections(&mut body, words, &mut rng, words_now);
        bodies.push(body.clone());
    }
    (title, bodies)
}

fn add_sections(body: &mut String, words: &Words, rng: &mut StdRng, mut remaining: usize) {
    while remaining > 0 {
        let paragraph = remaining.min(rng.gen_range(20..120));
        body.push_str("## ");
        let heading = rng.gen_range(1..5);
        body.push_str(&words.text(rng, heading));
        body.push_str("\n\n");
        body.push_str(&words.text(rng, paragraph));
        body.push_str("\n\n");
        remaining -= paragraph;
    }
}

fn write_pages(conn: &mut PgConnection, layout: &Layout, words: &Words) -> Result<u64, AppError> {
    Ok(copy_csv!(
        conn,
        pages::table,
        (
            pages::id,
            pages::space_id,
            pages::parent_id,
            pages::position,
            pages::title,
            pages::body,
            pages::version,
            pages::created_by,
            pages::updated_by,
            pages::created_at,
            pages::updated_at,
        ),
        ("pages", layout.pages),
        |sink| {
            // Each page goes after its siblings written so far: those with the same parent,
            // or at the top of the same space.
            let mut siblings: HashMap<(i64, Option<i64>), i32> = HashMap::new();
            for (project, index, page) in layout.each_page() {
                let (title, bodies) = texts(layout, words, index, page.versions);
                let position = siblings.entry((project.space_id, page.parent)).or_default();
                sink.row(format_args!(
                    "{},{},{},{position},{},{},{},{},{},{},{}",
                    page.id,
                    project.space_id,
                    id(page.parent),
                    text(&title),
                    text(bodies.last().map(String::as_str).unwrap_or_default()),
                    page.versions,
                    page.author,
                    page.editor,
                    page.created.to_rfc3339(),
                    page.updated.to_rfc3339(),
                ))?;
                *position += 1;
                sink.advance();
            }
        }
    ))
}

fn write_versions(conn: &mut PgConnection, layout: &Layout, words: &Words) -> Result<u64, AppError> {
    Ok(copy_csv!(
        conn,
        page_versions::table,
        (
            page_versions::page_id,
            page_versions::version,
            page_versions::title,
            page_versions::body,
            page_versions::author_id,
            page_versions::note,
            page_versions::created_at,
        ),
        ("versions", layout.pages),
        |sink| {
            for (_, index, page) in layout.each_page() {
                let (title, bodies) = texts(layout, words, index, page.versions);
                let span = (page.updated - page.created) / page.versions;
                for (n, body) in bodies.iter().enumerate() {
                    let version = n as i32 + 1;
                    let (author, at) = if version == page.versions {
                        (page.editor, page.updated)
                    } else {
                        (page.author, page.created + span * (version - 1))
                    };
                    sink.row(format_args!(
                        "{},{version},{},{},{author},\"\",{}",
                        page.id,
                        text(&title),
                        text(body),
                        at.to_rfc3339()
                    ))?;
                }
                sink.advance();
            }
        }
    ))
}

/// Authors and the last editors watch their pages, as they would after writing them.
fn write_watchers(conn: &mut PgConnection, layout: &Layout) -> Result<u64, AppError> {
    Ok(copy_csv!(
        conn,
        page_watchers::table,
        (page_watchers::page_id, page_watchers::user_id),
        ("watchers", layout.pages),
        |sink| {
            for (_, _, page) in layout.each_page() {
                sink.row(format_args!("{},{}", page.id, page.author))?;
                if page.editor != page.author {
                    sink.row(format_args!("{},{}", page.id, page.editor))?;
                }
                sink.advance();
            }
        }
    ))
}
