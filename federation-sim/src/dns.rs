//! The simulator's authoritative SML zone (hickory-server): one U-NAPTR `Meta:SMP` record per registered
//! participant, at `base32(sha256(lowercase id)).iso6523-actorid-upis.<zone>`, pointing at the simulator's SMP.
//! Fault switches drop or delay answers, or serve NAPTRs without `Meta:SMP`.

use super::{Faults, Stats};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{NAPTR, SOA};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use hickory_server::authority::{Catalog, MessageResponseBuilder, ZoneType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryAuthority;
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// TTL of the simulated records, in seconds.
pub const RECORD_TTL: u32 = 60;

/// Builds a catalog with the zone `zone` and one NAPTR per (dns name) with `service` and `regexp`.
pub fn catalog(zone: &str, names: &[String], service: &str, regexp: &str) -> Result<Catalog, String> {
    let origin = Name::from_str(&format!("{}.", zone.trim_end_matches('.'))).map_err(|e| e.to_string())?;
    let mut authority = InMemoryAuthority::empty(origin.clone(), ZoneType::Primary, false);
    let soa = SOA::new(
        Name::from_str(&format!("ns.{origin}")).map_err(|e| e.to_string())?,
        Name::from_str(&format!("hostmaster.{origin}")).map_err(|e| e.to_string())?,
        1,
        3600,
        600,
        86_400,
        RECORD_TTL,
    );
    authority.upsert_mut(Record::from_rdata(origin.clone(), RECORD_TTL, RData::SOA(soa)), 1);
    for name in names {
        let owner = Name::from_str(&format!("{name}.")).map_err(|e| e.to_string())?;
        let naptr = NAPTR::new(
            100,
            10,
            b"U".to_vec().into_boxed_slice(),
            service.as_bytes().to_vec().into_boxed_slice(),
            regexp.as_bytes().to_vec().into_boxed_slice(),
            Name::root(),
        );
        let mut record = Record::from_rdata(owner, RECORD_TTL, RData::NAPTR(naptr));
        record.set_record_type(RecordType::NAPTR);
        authority.upsert_mut(record, 1);
    }
    let mut catalog = Catalog::new();
    catalog.upsert(LowerName::from(origin), Box::new(Arc::new(authority)));
    Ok(catalog)
}

/// The request handler: counts queries and applies the DNS fault switches before answering from the zone.
pub struct FaultyZone {
    pub normal: Catalog,
    pub without_meta_smp: Catalog,
    pub faults: Arc<Mutex<Faults>>,
    pub stats: Arc<Stats>,
}

#[async_trait::async_trait]
impl RequestHandler for FaultyZone {
    async fn handle_request<R: ResponseHandler>(&self, request: &Request, mut response_handle: R) -> ResponseInfo {
        self.stats.dns_queries.fetch_add(1, Ordering::Relaxed);
        let faults = self.faults.lock().map(|f| f.clone()).unwrap_or_default();
        if let Some(delay) = faults.dns_delay() {
            tokio::time::sleep(delay).await;
        }
        if faults.dns_drop {
            // No answer at all: the client must time out.
            return ResponseInfo::from(*request.header());
        }
        if faults.dns_servfail {
            let response = MessageResponseBuilder::from_message_request(request)
                .error_msg(request.header(), ResponseCode::ServFail);
            return match response_handle.send_response(response).await {
                Ok(info) => info,
                Err(_) => ResponseInfo::from(*request.header()),
            };
        }
        if faults.dns_without_meta_smp {
            self.without_meta_smp.handle_request(request, response_handle).await
        } else {
            self.normal.handle_request(request, response_handle).await
        }
    }
}
