//! The simulator's HTTP side: address book (JSON:API), SMP and the /sim control endpoints.

use super::config::OrganisationConfig;
use super::smp_xml::{self, MetadataContent};
use super::{Faults, Registration, Shared, SmpAnswerFault};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Largest accepted /sim/faults body.
const MAX_CONTROL_BODY: usize = 64 * 1024;

pub(crate) async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, std::convert::Infallible>(route(req, shared).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(Full::new(body.into()))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn json_api(status: StatusCode, v: Value) -> Response<Full<Bytes>> {
    respond(status, "application/vnd.api+json", v.to_string())
}

fn json_error(status: StatusCode, title: &str) -> Response<Full<Bytes>> {
    json_api(
        status,
        json!({"errors": [{"status": status.as_u16().to_string(), "title": title}]}),
    )
}

fn faults(shared: &Shared) -> Faults {
    shared.faults.lock().map(|f| f.clone()).unwrap_or_default()
}

async fn route(req: Request<Incoming>, shared: Arc<Shared>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    if let Some(rest) = path.strip_prefix("/addressbook/") {
        shared.stats.address_book_requests.fetch_add(1, Ordering::Relaxed);
        let f = faults(&shared);
        if let Some(d) = f.address_book_delay() {
            tokio::time::sleep(d).await;
        }
        if let Some(status) = f.address_book_status {
            return json_error(
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "fault",
            );
        }
        if f.address_book_malformed {
            return respond(StatusCode::OK, "application/vnd.api+json", "{\"data\": [ {\"type\": ");
        }
        return address_book(&shared, rest, &query);
    }
    if let Some(rest) = path.strip_prefix("/smp/") {
        shared.stats.smp_requests.fetch_add(1, Ordering::Relaxed);
        let f = faults(&shared);
        if let Some(d) = f.smp_delay() {
            tokio::time::sleep(d).await;
        }
        if let Some(status) = f.smp_status {
            return respond(
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "text/plain",
                "fault",
            );
        }
        return smp(&shared, rest, f.smp_answer);
    }
    match (req.method().as_str(), path.as_str()) {
        ("GET", "/sim/stats") => respond(
            StatusCode::OK,
            "application/json",
            json!(shared.stats.snapshot()).to_string(),
        ),
        ("GET", "/sim/faults") => respond(StatusCode::OK, "application/json", json!(faults(&shared)).to_string()),
        ("PUT", "/sim/faults") | ("POST", "/sim/faults") => {
            let body = match Limited::new(req.into_body(), MAX_CONTROL_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => return respond(StatusCode::PAYLOAD_TOO_LARGE, "text/plain", "too large"),
            };
            match serde_json::from_slice::<Faults>(&body) {
                Ok(new) => {
                    if let Ok(mut f) = shared.faults.lock() {
                        *f = new.clone();
                    }
                    respond(StatusCode::OK, "application/json", json!(new).to_string())
                }
                Err(e) => respond(StatusCode::BAD_REQUEST, "text/plain", e.to_string()),
            }
        }
        _ => respond(StatusCode::NOT_FOUND, "text/plain", "not found"),
    }
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode_str(k).decode_utf8_lossy();
        (k == name).then(|| {
            percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

fn organisation_resource(o: &OrganisationConfig) -> Value {
    json!({
        "type": "organizations",
        "id": o.id,
        "attributes": {
            "identifier": o.participant_id,
            "name": o.name,
            "organizationNumber": o.organisation_number,
            "description": o.description,
        },
        "links": {"self": format!("organizations/{}", o.id)},
    })
}

fn functional_address_resources(o: &OrganisationConfig) -> Vec<Value> {
    o.functional_addresses
        .iter()
        .map(|f| {
            json!({
                "type": "functional-addresses",
                "id": f.id,
                "attributes": {"identifier": f.id, "name": f.name, "description": f.description, "categories": f.categories},
                "relationships": {"organization": {"data": {"type": "organizations", "id": o.id}}},
            })
        })
        .collect()
}

/// One page of `items`, with `links.next` when more follow.
fn paginate(shared: &Shared, base_path: &str, query: &str, items: Vec<Value>) -> Response<Full<Bytes>> {
    let size = shared.config.page_size;
    let page: usize = query_param(query, "page[number]")
        .and_then(|p| p.parse().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1);
    let start = (page - 1).saturating_mul(size);
    let slice: Vec<Value> = items.iter().skip(start).take(size).cloned().collect();
    let next = (start.saturating_add(size) < items.len()).then(|| {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("page%5Bnumber%5D") && !p.starts_with("page[number]"))
            .collect();
        let mut q = kept.join("&");
        if !q.is_empty() {
            q.push('&');
        }
        format!(
            "http://{}/addressbook/{base_path}?{q}page%5Bnumber%5D={}",
            shared.http_addr,
            page + 1
        )
    });
    json_api(
        StatusCode::OK,
        json!({"data": slice, "links": {"next": next}, "meta": {"total": items.len()}}),
    )
}

fn address_book(shared: &Shared, rest: &str, query: &str) -> Response<Full<Bytes>> {
    let segments: Vec<String> = rest
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let orgs = &shared.config.organisations;
    match segments.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["organizations"] => {
            let name = query_param(query, "filter[name]").map(|n| n.to_lowercase());
            let number = query_param(query, "filter[organizationNumber]");
            let items = orgs
                .iter()
                .filter(|o| name.as_ref().is_none_or(|n| o.name.to_lowercase().contains(n.as_str())))
                .filter(|o| {
                    number
                        .as_ref()
                        .is_none_or(|n| o.organisation_number.as_deref() == Some(n.as_str()))
                })
                .map(organisation_resource)
                .collect();
            paginate(shared, "organizations", query, items)
        }
        ["organizations", id] => match orgs.iter().find(|o| o.id == *id) {
            Some(o) => json_api(StatusCode::OK, json!({"data": organisation_resource(o)})),
            None => json_error(StatusCode::NOT_FOUND, "no such organisation"),
        },
        ["organizations", id, "functional-addresses"] => match orgs.iter().find(|o| o.id == *id) {
            Some(o) => paginate(
                shared,
                &format!("organizations/{id}/functional-addresses"),
                query,
                functional_address_resources(o),
            ),
            None => json_error(StatusCode::NOT_FOUND, "no such organisation"),
        },
        ["functional-addresses", id] => {
            for o in orgs {
                if let Some(f) = functional_address_resources(o).into_iter().find(|f| f["id"] == *id) {
                    return json_api(
                        StatusCode::OK,
                        json!({"data": f, "included": [organisation_resource(o)]}),
                    );
                }
            }
            json_error(StatusCode::NOT_FOUND, "no such functional address")
        }
        _ => json_error(StatusCode::NOT_FOUND, "no such resource"),
    }
}

fn find<'a>(shared: &'a Shared, participant_with_scheme: &str) -> Option<&'a Registration> {
    let participant = address_book_client::ParticipantId::parse(participant_with_scheme).ok()?;
    shared.registrations.iter().find(|r| r.participant == participant)
}

fn smp(shared: &Shared, rest: &str, fault: SmpAnswerFault) -> Response<Full<Bytes>> {
    let segments: Vec<String> = rest
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let xml = |body: Vec<u8>| respond(StatusCode::OK, "application/xml", body);
    match segments.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [participant] => match find(shared, participant) {
            Some(r) => {
                let smp_url = format!("http://{}/smp", shared.http_addr);
                let urls: Vec<String> = r
                    .documents
                    .iter()
                    .filter_map(|d| address_book_client::DocumentId::parse(d).ok())
                    .map(|d| address_book_client::smp::service_metadata_url(&smp_url, &r.participant, &d))
                    .collect();
                xml(smp_xml::service_group(&r.participant.identifier(), &urls).into_bytes())
            }
            None => respond(StatusCode::NOT_FOUND, "text/plain", "participant not registered"),
        },
        [participant, "services", document] => {
            let Some(r) = find(shared, participant) else {
                return respond(StatusCode::NOT_FOUND, "text/plain", "participant not registered");
            };
            let Some(document) = document.strip_prefix("busdox-docid-qns::") else {
                return respond(StatusCode::NOT_FOUND, "text/plain", "unknown document scheme");
            };
            if !r.documents.iter().any(|d| d == document) {
                return respond(StatusCode::NOT_FOUND, "text/plain", "document not registered");
            }
            match metadata(shared, r, document, fault) {
                Ok(body) => xml(body),
                Err(e) => respond(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", e),
            }
        }
        _ => respond(StatusCode::NOT_FOUND, "text/plain", "not found"),
    }
}

fn metadata(shared: &Shared, r: &Registration, document: &str, fault: SmpAnswerFault) -> Result<Vec<u8>, String> {
    let participant = r.participant.identifier();
    let other_participant = "0203:someone-else.example";
    let other_document = format!("{document}-other");
    let content = MetadataContent {
        participant: if fault == SmpAnswerFault::WrongParticipant {
            other_participant
        } else {
            &participant
        },
        document: if fault == SmpAnswerFault::WrongDocument {
            &other_document
        } else {
            document
        },
        transport_profile: &r.transport_profile,
        endpoint_url: &r.endpoint_url,
        ap_certificate_der: &r.ap_certificate_der,
        activation: r.activation.as_deref(),
        expiration: r.expiration.as_deref(),
        certpub_signing_der: r.certpub_signing_der.as_deref(),
        certpub_encryption_der: r.certpub_encryption_der.as_deref(),
    };
    let unsigned = smp_xml::unsigned_metadata(&content);
    match fault {
        SmpAnswerFault::Unsigned => Ok(unsigned.into_bytes()),
        SmpAnswerFault::Malformed => Ok(b"<SignedServiceMetadata><ServiceMetadata>".to_vec()),
        SmpAnswerFault::UntrustedSigner => smp_xml::sign(&unsigned, &shared.pki.rogue_signer),
        SmpAnswerFault::Tampered => {
            let signed = smp_xml::sign(&unsigned, &shared.pki.signer)?;
            let text = String::from_utf8(signed).map_err(|e| e.to_string())?;
            let escaped = smp_xml::escape(&r.endpoint_url);
            Ok(text.replacen(&escaped, "https://attacker.example/as4", 1).into_bytes())
        }
        _ => smp_xml::sign(&unsigned, &shared.pki.signer),
    }
}
