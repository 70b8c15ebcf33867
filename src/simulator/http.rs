//! Small HTTP helpers: responses without fallible builders, and form/query decoding.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

pub fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

pub fn respond(code: u16, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status(code);
    if !content_type.is_empty() {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    response
}

pub fn json(code: u16, value: &serde_json::Value) -> Response {
    respond(code, "application/json", value.to_string())
}

pub fn text(code: u16, body: impl Into<String>) -> Response {
    respond(code, "text/plain; charset=UTF-8", body.into())
}

pub fn empty(code: u16) -> Response {
    respond(code, "", Body::empty())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a=1&b=x%20y` → map (last value wins).
pub fn urlencoded(s: &str) -> BTreeMap<String, String> {
    s.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_forms() {
        let m = urlencoded("username=demo&password=p%40ss+word%21&token=true&x");
        assert_eq!(m["password"], "p@ss word!");
        assert_eq!(m["token"], "true");
        assert_eq!(m["x"], "");
        assert_eq!(urlencoded("a=%4")["a"], "%4");
    }
}
