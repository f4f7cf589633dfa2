//! [`ApiClient`] methods for the inbox routes (`sdk-ap inbox`).

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::{problem_error, ApiClient, ClientError, MAX_ANSWER_BYTES};
use crate::api::inbox::{InboxItemView, InboxListView, KvittensAnswer, KvittensBody};
use crate::api::server::percent_encode;

/// Filters of [`ApiClient::inbox_list`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboxFilter {
    pub participant: Option<String>,
    pub functional_address: Option<String>,
    /// `new`, `fetched` or `acknowledged`.
    pub state: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

/// What a download wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    pub bytes: u64,
    pub content_type: Option<String>,
    pub content_disposition: Option<String>,
}

fn query_escape(value: &str) -> String {
    percent_encode(value)
}

impl ApiClient {
    fn inbox_path(message_id: &str, tail: &str) -> String {
        format!("/api/v1/inbox/{}{tail}", percent_encode(message_id))
    }

    /// `GET /api/v1/inbox` with the filters.
    pub async fn inbox_list(&self, filter: &InboxFilter) -> Result<InboxListView, ClientError> {
        let mut params = Vec::new();
        for (name, value) in [
            ("participant", &filter.participant),
            ("functional_address", &filter.functional_address),
            ("state", &filter.state),
            ("cursor", &filter.cursor),
        ] {
            if let Some(v) = value {
                params.push(format!("{name}={}", query_escape(v)));
            }
        }
        if let Some(limit) = filter.limit {
            params.push(format!("limit={limit}"));
        }
        let path = if params.is_empty() {
            "/api/v1/inbox".to_string()
        } else {
            format!("/api/v1/inbox?{}", params.join("&"))
        };
        let (status, answer) = self.get(&path).await?;
        if status != StatusCode::OK {
            return Err(problem_error(status, &answer));
        }
        serde_json::from_slice(&answer).map_err(|e| ClientError::Answer(format!("inbox list: {e}")))
    }

    /// `GET /api/v1/inbox/{id}`.
    pub async fn inbox_show(&self, message_id: &str) -> Result<InboxItemView, ClientError> {
        let (status, answer) = self.get(&Self::inbox_path(message_id, "")).await?;
        if status != StatusCode::OK {
            return Err(problem_error(status, &answer));
        }
        serde_json::from_slice(&answer).map_err(|e| ClientError::Answer(format!("inbox message: {e}")))
    }

    /// `POST /api/v1/inbox/{id}/ack` with `state` (`fetched` or `acknowledged`).
    pub async fn inbox_ack(&self, message_id: &str, state: &str) -> Result<serde_json::Value, ClientError> {
        let body = serde_json::json!({ "state": state }).to_string();
        let (status, answer) = self.post_json(&Self::inbox_path(message_id, "/ack"), body).await?;
        if status != StatusCode::OK {
            return Err(problem_error(status, &answer));
        }
        serde_json::from_slice(&answer).map_err(|e| ClientError::Answer(format!("ack: {e}")))
    }

    /// `POST /api/v1/inbox/{id}/kvittens`.
    pub async fn inbox_kvittens(&self, message_id: &str, body: &KvittensBody) -> Result<KvittensAnswer, ClientError> {
        let json = serde_json::to_string(body).map_err(|e| ClientError::Http(e.to_string()))?;
        let (status, answer) = self.post_json(&Self::inbox_path(message_id, "/kvittens"), json).await?;
        if status != StatusCode::ACCEPTED {
            return Err(problem_error(status, &answer));
        }
        serde_json::from_slice(&answer).map_err(|e| ClientError::Answer(format!("kvittens: {e}")))
    }

    /// Streams attachment `index` (or, for `None`, the whole document) of an inbox message into `out`.
    pub async fn inbox_download<W: AsyncWrite + Unpin>(
        &self,
        message_id: &str,
        index: Option<usize>,
        out: &mut W,
    ) -> Result<Downloaded, ClientError> {
        let path = match index {
            Some(n) => Self::inbox_path(message_id, &format!("/attachments/{n}")),
            None => Self::inbox_path(message_id, "/document"),
        };
        let mut request = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(http::header::HOST, self.addr.to_string())
            .body(Full::new(Bytes::new()))
            .map_err(|e| ClientError::Http(e.to_string()))?;
        if let Some(token) = &self.token {
            let mut value = http::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|e| ClientError::Token(e.to_string()))?;
            value.set_sensitive(true);
            request.headers_mut().insert(http::header::AUTHORIZATION, value);
        }
        let (mut sender, driver) = self.connect().await?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let status = response.status();
        let header = |name: http::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header(http::header::CONTENT_TYPE);
        let content_disposition = header(http::header::CONTENT_DISPOSITION);
        if status != StatusCode::OK {
            let body = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| ClientError::Http(e.to_string()))?
                .to_bytes();
            driver.abort();
            return Err(problem_error(status, &body));
        }
        let mut body = response.into_body().into_data_stream();
        let mut bytes = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| ClientError::Http(e.to_string()))?;
            out.write_all(&chunk)
                .await
                .map_err(|e| ClientError::Http(format!("writing the download: {e}")))?;
            bytes += chunk.len() as u64;
        }
        out.flush()
            .await
            .map_err(|e| ClientError::Http(format!("writing the download: {e}")))?;
        driver.abort();
        Ok(Downloaded {
            bytes,
            content_type,
            content_disposition,
        })
    }

    async fn post_json(&self, path: &str, json: String) -> Result<(StatusCode, Bytes), ClientError> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(http::header::HOST, self.addr.to_string())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(json)))
            .map_err(|e| ClientError::Http(e.to_string()))?;
        self.exchange(request).await
    }
}
