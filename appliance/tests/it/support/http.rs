//! A small HTTP client for the tests, over real TCP: it keeps cookies, never follows
//! redirects, and returns every status as a reply rather than an error.

use std::collections::BTreeMap;

pub struct Reply {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The API's error sentence, for assertions.
    pub fn error_message(&self) -> String {
        self.json()["error"]["message"].as_str().unwrap_or_default().to_owned()
    }

    /// The value of the first hidden `csrf_token` field on the page.
    pub fn csrf_token(&self) -> String {
        let marker = "name=\"csrf_token\" value=\"";
        let start = self.body.find(marker).unwrap_or_else(|| panic!("no CSRF field in: {}", self.body)) + marker.len();
        self.body[start..].split('"').next().unwrap_or_default().to_owned()
    }
}

pub struct Client {
    base: String,
    agent: ureq::Agent,
    pub cookies: BTreeMap<String, String>,
    /// Sent with every request, e.g. X-Forwarded-For.
    pub headers: Vec<(String, String)>,
}

impl Client {
    pub fn new(base: &str) -> Client {
        let agent = ureq::AgentBuilder::new().redirects(0).build();
        Client { base: base.to_owned(), agent, cookies: BTreeMap::new(), headers: Vec::new() }
    }

    fn request(&self, method: &str, path: &str) -> ureq::Request {
        let mut request = self.agent.request(method, &format!("{}{path}", self.base));
        for (name, value) in &self.headers {
            request = request.set(name, value);
        }
        if !self.cookies.is_empty() {
            let header: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            request = request.set("Cookie", &header.join("; "));
        }
        request
    }

    fn finish(&mut self, result: Result<ureq::Response, ureq::Error>) -> Reply {
        let response = match result {
            Ok(response) => response,
            Err(ureq::Error::Status(_, response)) => response,
            Err(other) => panic!("request failed: {other}"),
        };
        for set_cookie in response.all("set-cookie") {
            let pair = set_cookie.split(';').next().unwrap_or_default();
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let removed = value.is_empty() || set_cookie.to_ascii_lowercase().contains("max-age=0");
            if removed {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let headers = response
            .headers_names()
            .into_iter()
            .filter_map(|n| response.header(&n).map(|v| (n.clone(), v.to_owned())))
            .collect();
        let status = response.status();
        let location = response.header("location").map(str::to_owned);
        let body = response.into_string().unwrap_or_default();
        Reply { status, body, location, headers }
    }

    pub fn get(&mut self, path: &str) -> Reply {
        let result = self.request("GET", path).call();
        self.finish(result)
    }

    pub fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let result = self.request("POST", path).send_form(fields);
        self.finish(result)
    }

    /// Posts a multipart form, as a browser uploads a file: `fields` as text parts, then
    /// `file` as the part named "file".
    pub fn post_multipart(&mut self, path: &str, fields: &[(&str, &str)], file: &[u8]) -> Reply {
        self.post_files(path, fields, &[("file", "issues.csv", file)])
    }

    /// A multipart form: the text `fields` first, then each (field, file name, bytes).
    pub fn post_files(&mut self, path: &str, fields: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> Reply {
        let (content_type, body) = multipart(fields, files);
        let result = self.request("POST", path).set("Content-Type", &content_type).send_bytes(&body);
        self.finish(result)
    }

    /// Sends a raw body with a content type, for the API's CSV import.
    pub fn api_raw(&mut self, path: &str, token: &str, content_type: &str, body: &[u8]) -> Reply {
        let request = self
            .agent
            .request("POST", &format!("{}{path}", self.base))
            .set("Authorization", &format!("Bearer {token}"));
        let result = request.set("Content-Type", content_type).send_bytes(body);
        self.finish(result)
    }

    /// Signs in through the real form and returns the reply to the POST.
    pub fn sign_in(&mut self, username: &str, password: &str) -> Reply {
        let form = self.get("/login");
        assert_eq!(form.status, 200, "{}", form.body);
        let token = form.csrf_token();
        self.post_form(
            "/login",
            &[("csrf_token", &token), ("username", username), ("password", password), ("next", "/")],
        )
    }

    /// The signed-in session's CSRF token, read from a page like a browser would.
    pub fn session_csrf(&mut self) -> String {
        self.get("/projects").csrf_token()
    }

    /// A call to the JSON API with a bearer token and an optional raw body.
    pub fn api(&mut self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Reply {
        let authorization = token.map(|token| format!("Bearer {token}"));
        let headers: Vec<(&str, &str)> = authorization.iter().map(|value| ("Authorization", value.as_str())).collect();
        self.api_with(method, path, &headers, body)
    }

    /// [`Client::api`] with a token and more request headers (`If-Match`, …).
    pub fn api_with_headers(
        &mut self,
        method: &str,
        path: &str,
        token: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let authorization = format!("Bearer {token}");
        let all: Vec<(&str, &str)> =
            [("Authorization", authorization.as_str())].into_iter().chain(headers.iter().copied()).collect();
        self.api_with(method, path, &all, body)
    }

    fn api_with(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Reply {
        let mut request = self.agent.request(method, &format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.set(name, value);
        }
        let result = match body {
            Some(body) => request.set("Content-Type", "application/json").send_string(body),
            None => request.call(),
        };
        self.finish(result)
    }
}

/// A multipart body and its content type: the text `fields` first, then each (field, file
/// name, bytes).
pub fn multipart(fields: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----outpost-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    for (field, file_name, bytes) in files {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}
