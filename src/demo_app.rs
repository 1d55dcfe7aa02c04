//! A small upstream app for demos and tests: it shows the request it received (method, path,
//! headers, body size) as HTML, or as JSON when asked with `Accept: application/json`, and
//! echoes WebSocket messages at `/ws`.

use std::convert::Infallible;
use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::response::{self, Body};

/// Serves the demo app on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(stream), service_fn(handle))
                .await;
        });
    }
}

pub async fn bind_and_serve(addr: SocketAddr) -> anyhow::Result<()> {
    let l = TcpListener::bind(addr).await?;
    tracing::info!("demo app listening on http://{}", l.local_addr()?);
    serve(l).await;
    Ok(())
}

async fn handle(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    if req.uri().path().ends_with("/ws") {
        return Ok(websocket_echo(req));
    }
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let mut headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    headers.sort();
    let wants_json = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    let body_len = match req.into_body().collect().await {
        Ok(b) => b.to_bytes().len(),
        Err(_) => 0,
    };
    if wants_json {
        let json = serde_json::json!({ "method": method, "path": path, "headers": headers, "body_bytes": body_len });
        return Ok(response::json(StatusCode::OK, json.to_string()));
    }
    let rows: String = headers
        .iter()
        .map(|(k, v)| format!("<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(v)))
        .collect();
    let html = format!(
        "<!doctype html><html><head><meta charset=utf-8><title>Demo app</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:2rem}}th{{text-align:left;padding-right:1rem}}\
         td,th{{border-bottom:1px solid #ddd;padding:.3rem;font-family:monospace;vertical-align:top}}td{{word-break:break-all}}</style></head><body>\
         <h1>Demo app</h1><p>This app sits behind Borderless. These are the headers it received for \
         <code>{} {}</code>:</p><table>{rows}</table>\
         <p><a href=\"/.borderless/signout\">Sign out</a></p></body></html>",
        escape(&method),
        escape(&path)
    );
    Ok(response::html(StatusCode::OK, html))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// WebSocket echo: the handshake answer here, frames by tokio-tungstenite.
fn websocket_echo(mut req: Request<Incoming>) -> Response<Body> {
    let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
        return response::text(StatusCode::BAD_REQUEST, "not a websocket handshake");
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            tokio_tungstenite::tungstenite::protocol::Role::Server,
            None,
        )
        .await;
        while let Some(Ok(msg)) = ws.next().await {
            if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                break;
            }
        }
    });
    let mut r = Response::new(response::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    r.headers_mut()
        .insert(header::UPGRADE, http::HeaderValue::from_static("websocket"));
    r.headers_mut().insert(
        header::CONNECTION,
        http::HeaderValue::from_static("upgrade"),
    );
    if let Ok(v) = http::HeaderValue::from_str(&accept) {
        r.headers_mut().insert("sec-websocket-accept", v);
    }
    r
}
