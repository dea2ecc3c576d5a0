//! The CSS, JS and icons in `static/`, compiled into the binary (nothing is fetched at run
//! time) and served under content-hashed names, so browsers may cache them for a year.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use sha2::{Digest, Sha256};

struct Asset {
    name: &'static str,
    body: &'static [u8],
    content_type: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset { name: "app.css", body: include_bytes!("../../../static/app.css"), content_type: "text/css; charset=utf-8" },
    Asset {
        name: "app.js",
        body: include_bytes!("../../../static/app.js"),
        content_type: "text/javascript; charset=utf-8",
    },
    Asset {
        name: "board.js",
        body: include_bytes!("../../../static/board.js"),
        content_type: "text/javascript; charset=utf-8",
    },
    Asset {
        name: "highlight.css",
        body: include_bytes!("../../../static/highlight.css"),
        content_type: "text/css; charset=utf-8",
    },
    Asset { name: "icon.svg", body: include_bytes!("../../../static/icon.svg"), content_type: "image/svg+xml" },
];

/// `app.css` → `app.3f2a9c01b7de.css`.
fn hashed_names() -> &'static [(String, &'static Asset)] {
    static NAMES: OnceLock<Vec<(String, &'static Asset)>> = OnceLock::new();
    NAMES.get_or_init(|| {
        ASSETS
            .iter()
            .map(|asset| {
                let digest = hex::encode(&Sha256::digest(asset.body)[..6]);
                let hashed = match asset.name.rsplit_once('.') {
                    Some((stem, extension)) => format!("{stem}.{digest}.{extension}"),
                    None => format!("{}.{digest}", asset.name),
                };
                (hashed, asset)
            })
            .collect()
    })
}

/// The URL of a static file, for templates: `{{ crate::web::assets::url("app.css") }}`.
pub fn url(name: &str) -> String {
    hashed_names()
        .iter()
        .find(|(_, asset)| asset.name == name)
        .map_or_else(|| format!("/static/{name}"), |(hashed, _)| format!("/static/{hashed}"))
}

pub async fn serve(name: web::Path<String>) -> HttpResponse {
    match hashed_names().iter().find(|(hashed, _)| *hashed == *name) {
        Some((_, asset)) => HttpResponse::Ok()
            .content_type(asset.content_type)
            .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .body(asset.body),
        None => HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body("No such file."),
    }
}
