//! eDelivery AS4 2.0 interoperability-event cases that our profile can play (TC00, TC01).

use std::time::Duration;

use access_point::config::Config;
use access_point::store::State;
use access_point::transport::As4Client;

use super::super::federation::test_service_submission;
use super::super::{CaseFuture, Ctx};
use super::{ensure, expect_state, final_record, inbound, signed_receipt, submit};

/// TC00: connectivity — A reaches B's AS4 endpoint over mutual TLS and gets an HTTP answer.
pub fn tc00(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let config = Config::load(&ctx.fed.a_config).map_err(|e| e.to_string())?;
        let identity = config.identity().map_err(|e| e.to_string())?;
        let trust = config.tls_trust_store().map_err(|e| e.to_string())?;
        let client = As4Client::from_config(&config, &identity, &trust, None).map_err(|e| e.to_string())?;
        let url = ctx.fed.b()?.config().server.endpoint_url();
        ctx.evidence.note("endpoint", &url);
        let response = client.get(&url).await.map_err(|e| format!("TLS/HTTP to B: {e}"))?;
        ctx.evidence.note("http_status", response.status.as_u16());
        Ok(())
    })
}

/// TC01: a minimal signed message to the test service gets a signed receipt and reaches no consumer.
pub fn tc01(ctx: &mut Ctx) -> CaseFuture<'_> {
    Box::pin(async move {
        let accepted = submit(&ctx.fed.a, test_service_submission()).await?;
        ctx.evidence.note("message_id", &accepted.message_id);
        let record = final_record(&ctx.fed.a, &accepted, Duration::from_secs(60)).await?;
        expect_state(&record, State::Delivered)?;
        signed_receipt(&ctx.fed.a, &record).await?;
        ensure(inbound(ctx.fed.b()?, &accepted.message_id).await?.is_none(), || {
            "delivered to a consumer".into()
        })
    })
}
