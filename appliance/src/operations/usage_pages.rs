//! Usage for administrators: `/admin/usage` (charts drawn here as SVG, and the table they
//! come from), its CSV and JSON export, and `GET /api/v1/admin/usage`.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::{Duration, NaiveDate, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::health::bytes;
use super::usage::{self, Day};
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::web::errors::{ApiError, PageError};
use crate::web::extract::{date_param, ApiCaller, SignedIn};
use crate::web::pages::{render_with_status, status_for, Nav};
use crate::web::AppState;

/// The period shown when none is asked for.
const DEFAULT_DAYS: i64 = 90;
/// The longest period one request reads.
const MAX_DAYS: i64 = 1_100;

#[derive(Deserialize, IntoParams)]
pub struct Period {
    /// The first day, YYYY-MM-DD (default: 89 days before `to`).
    from: Option<String>,
    /// The last day, YYYY-MM-DD (default: today, UTC).
    to: Option<String>,
    /// For the export: csv (default) or json.
    #[param(ignore)]
    format: Option<String>,
}

impl Period {
    fn days(&self) -> Result<(NaiveDate, NaiveDate), AppError> {
        let to = date_param("to", &self.to)?.unwrap_or_else(|| Utc::now().date_naive());
        let from = date_param("from", &self.from)?.unwrap_or(to - Duration::days(DEFAULT_DAYS - 1));
        if from > to {
            return Err(AppError::invalid("from", "The first day comes after the last; nothing to show."));
        }
        if (to - from).num_days() >= MAX_DAYS {
            return Err(AppError::invalid("from", format!("Ask for at most {MAX_DAYS} days at a time.")));
        }
        Ok((from, to))
    }
}

/// This node's counts are added first, so what is shown includes the request just made.
async fn read(state: &AppState, from: NaiveDate, to: NaiveDate) -> Result<Vec<Day>, AppError> {
    let counter = state.usage.clone();
    crate::db::run(&state.pool, move |conn| {
        counter.flush(conn)?;
        Ok(usage::days(conn, from, to)?)
    })
    .await
}

/// A bar chart of one series, drawn as SVG: a bar a day, the highest value and the first and
/// last days labelled. The table below it on the page holds every number.
pub fn bar_chart(title: &str, points: &[(NaiveDate, i64)]) -> String {
    const WIDTH: f64 = 640.0;
    const HEIGHT: f64 = 120.0;
    const TOP: f64 = 16.0;
    const BOTTOM: f64 = 18.0;
    let highest = points.iter().map(|(_, value)| *value).max().unwrap_or(0).max(1);
    let slot = WIDTH / points.len().max(1) as f64;
    let plot = HEIGHT - TOP - BOTTOM;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title>{}</title>",
        escape(title),
        escape(title)
    );
    svg.push_str(&format!(
        "<text x=\"0\" y=\"11\" class=\"chart-label\">{highest}</text>\
         <line x1=\"0\" y1=\"{TOP}\" x2=\"{WIDTH}\" y2=\"{TOP}\" class=\"chart-grid\"/>\
         <line x1=\"0\" y1=\"{}\" x2=\"{WIDTH}\" y2=\"{}\" class=\"chart-axis\"/>",
        TOP + plot,
        TOP + plot
    ));
    for (index, (day, value)) in points.iter().enumerate() {
        let height = plot * (*value as f64) / highest as f64;
        svg.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{height:.1}\" class=\"chart-bar\"><title>{day}: {value}</title></rect>",
            index as f64 * slot + slot * 0.1,
            TOP + plot - height,
            slot * 0.8,
        ));
    }
    if let (Some((first, _)), Some((last, _))) = (points.first(), points.last()) {
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{HEIGHT}\" class=\"chart-label\">{first}</text>\
             <text x=\"{WIDTH}\" y=\"{HEIGHT}\" class=\"chart-label\" text-anchor=\"end\">{last}</text>"
        ));
    }
    svg.push_str("</svg>");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[derive(Template)]
#[template(path = "admin/usage.html")]
struct UsagePage {
    nav: Nav,
    days: Vec<Day>,
    from: NaiveDate,
    to: NaiveDate,
    /// Each chart's title and its SVG.
    charts: Vec<(&'static str, String)>,
    totals: Totals,
    error: Option<AppError>,
}

/// The period's sums and peaks, as procurement asks for them.
struct Totals {
    peak_active: i32,
    issues: i64,
    pages: i64,
    api_calls: i64,
    storage: String,
}

impl UsagePage {
    fn size(&self, n: &i64) -> String {
        bytes((*n).max(0) as u64)
    }
}

/// `GET /admin/usage?from&to`.
pub async fn page(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    period: web::Query<Period>,
) -> Result<HttpResponse, PageError> {
    authorize(signed_in.user(), Action::Administer)?;
    // A period that is not one is said on the page, which shows the default period meanwhile.
    let (from, to, error) = match period.days() {
        Ok((from, to)) => (from, to, None),
        Err(error) => {
            let (from, to) = Period { from: None, to: None, format: None }.days()?;
            (from, to, Some(error))
        }
    };
    let days = read(&state, from, to).await?;
    let series = |pick: fn(&Day) -> i64| days.iter().map(|day| (day.day, pick(day))).collect::<Vec<_>>();
    let charts: Vec<(&'static str, String)> = [
        ("Active people per day", series(|d| i64::from(d.active_users))),
        ("Issues created per day", series(|d| i64::from(d.issues_created))),
        ("API calls per day", series(|d| d.api_calls)),
    ]
    .into_iter()
    .map(|(title, points)| (title, bar_chart(title, &points)))
    .collect();
    let totals = Totals {
        peak_active: days.iter().map(|d| d.active_users).max().unwrap_or(0),
        issues: days.iter().map(|d| i64::from(d.issues_created)).sum(),
        pages: days.iter().map(|d| i64::from(d.pages_created)).sum(),
        api_calls: days.iter().map(|d| d.api_calls).sum(),
        storage: bytes(days.last().map_or(0, |d| d.storage_bytes).max(0) as u64),
    };
    let days = days.into_iter().rev().collect();
    let status = status_for(error.as_ref());
    let page = UsagePage { nav: Nav::for_user(&signed_in, "admin"), days, from, to, charts, totals, error };
    Ok(render_with_status(&page, status)?)
}

fn csv(days: &[Day]) -> Result<Vec<u8>, AppError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(["day", "active_users", "issues_created", "pages_created", "storage_bytes", "api_calls"])
        .map_err(AppError::internal)?;
    for day in days {
        writer
            .write_record([
                day.day.to_string(),
                day.active_users.to_string(),
                day.issues_created.to_string(),
                day.pages_created.to_string(),
                day.storage_bytes.to_string(),
                day.api_calls.to_string(),
            ])
            .map_err(AppError::internal)?;
    }
    writer.into_inner().map_err(AppError::internal)
}

/// `GET /admin/usage/export?format=csv|json&from&to`: the rows, oldest first, to download.
pub async fn export(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    period: web::Query<Period>,
) -> Result<HttpResponse, PageError> {
    authorize(signed_in.user(), Action::Administer)?;
    let (from, to) = period.days()?;
    let days = read(&state, from, to).await?;
    let (body, content_type, extension) = match period.format.as_deref().unwrap_or("csv") {
        "csv" => (csv(&days)?, "text/csv; charset=utf-8", "csv"),
        "json" => (serde_json::to_vec_pretty(&days).map_err(AppError::internal)?, "application/json", "json"),
        other => {
            return Err(
                AppError::invalid("format", format!("“{other}” is not a format here; choose csv or json.")).into()
            )
        }
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"usage-{from}-{to}.{extension}\"")))
        .body(body))
}

/// Usage a day at a time (administrators): active people, issues and pages created, stored
/// bytes and API calls, oldest first; today is measured as the request is answered.
#[utoipa::path(get, path = "/api/v1/admin/usage", tag = "administration", params(Period),
    responses((status = 200, body = Vec<Day>)))]
pub async fn api(
    caller: ApiCaller,
    state: web::Data<AppState>,
    period: web::Query<Period>,
) -> Result<HttpResponse, ApiError> {
    authorize(&caller.user, Action::Administer)?;
    let (from, to) = period.days()?;
    Ok(HttpResponse::Ok().json(read(&state, from, to).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_has_a_bar_a_day_scaled_to_the_highest() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let svg = bar_chart("Active <people>", &[(day(1), 2), (day(2), 4), (day(3), 0)]);
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains("aria-label=\"Active &lt;people&gt;\""));
        assert!(svg.contains("<title>2026-12-02: 4</title>"));
        assert!(svg.contains(">4</text>"), "the highest value labels the top line");
        assert!(svg.contains("height=\"86.0\""), "the highest bar fills the plot");
        assert!(svg.contains("height=\"43.0\""), "half the highest, half the height");
        assert!(bar_chart("Nothing", &[]).ends_with("</svg>"));
    }
}
