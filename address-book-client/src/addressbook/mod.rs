//! The SDK address book client (read-only JSON:API): organisation search by name or organisation number, an
//! organisation's functional addresses, and a functional address's participant id. Collections are followed
//! through `links.next` up to a page limit; the JSON:API mapping lives in [`jsonapi`] alone.

pub mod jsonapi;

use crate::error::DiscoveryError;
use crate::http::{self, HttpSettings};
use crate::ids::{FunctionalAddressId, OrganisationNumber, ParticipantId};
use jsonapi::Page;

/// An organisation (deltagarorganisation) in the address book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    /// The address book's resource id.
    pub id: String,
    pub participant_id: ParticipantId,
    pub organisation_number: Option<OrganisationNumber>,
    pub name: String,
    pub description: Option<String>,
}

/// A functional address (funktionsadress): an addressable unit or function of an organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionalAddress {
    pub id: FunctionalAddressId,
    pub name: String,
    pub description: Option<String>,
    pub categories: Vec<String>,
    /// The owning organisation's resource id, when the resource names it.
    pub organisation_id: Option<String>,
}

/// Address book client settings.
#[derive(Debug, Clone)]
pub struct AddressBookSettings {
    /// Base URL of the JSON:API, e.g. `https://adressbok.example/api/v1`.
    pub base_url: String,
    pub http: HttpSettings,
    /// Most pages followed for one listing.
    pub max_pages: usize,
}

/// The address book client.
#[derive(Debug, Clone)]
pub struct AddressBookClient {
    settings: AddressBookSettings,
}

impl AddressBookClient {
    pub fn new(settings: AddressBookSettings) -> Self {
        AddressBookClient { settings }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.settings.base_url.trim_end_matches('/'), path)
    }

    async fn fetch(&self, url: &str, what: &str) -> Result<bytes::Bytes, DiscoveryError> {
        let response = http::get(url, jsonapi::MEDIA_TYPE, &self.settings.http)
            .await
            .map_err(|e| DiscoveryError::AddressBookUnreachable {
                url: url.to_string(),
                reason: e,
            })?;
        match response.status {
            200 => Ok(response.body),
            404 => Err(DiscoveryError::AddressBookNotFound { what: what.to_string() }),
            status => Err(DiscoveryError::AddressBookHttp {
                url: url.to_string(),
                status,
            }),
        }
    }

    async fn collect<T>(
        &self,
        first: String,
        what: &str,
        map: impl Fn(&serde_json::Value) -> Result<T, String> + Copy,
    ) -> Result<Vec<T>, DiscoveryError> {
        let mut items = Vec::new();
        let mut next = Some(first);
        let mut pages = 0;
        while let Some(url) = next.take() {
            if pages == self.settings.max_pages {
                return Err(DiscoveryError::AddressBookTooManyPages {
                    max_pages: self.settings.max_pages,
                });
            }
            pages += 1;
            let body = self.fetch(&url, what).await?;
            let page: Page<T> = jsonapi::page(&body, map).map_err(|reason| DiscoveryError::AddressBookMalformed {
                url: url.clone(),
                reason,
            })?;
            items.extend(page.items);
            next = page.next.map(|n| self.absolute(&n));
        }
        Ok(items)
    }

    /// `links.next` may be absolute or relative to the base URL.
    fn absolute(&self, link: &str) -> String {
        if link.starts_with("http://") || link.starts_with("https://") {
            link.to_string()
        } else {
            self.url(link.trim_start_matches('/'))
        }
    }

    /// Organisations whose name matches `text` (the service decides how: prefix, substring, ...).
    pub async fn search_by_name(&self, text: &str) -> Result<Vec<Organisation>, DiscoveryError> {
        self.collect(
            self.url(&jsonapi::search_by_name_path(text)),
            "organisations",
            jsonapi::organisation,
        )
        .await
    }

    /// The organisation with this organisation number, if any.
    pub async fn search_by_organisation_number(
        &self,
        number: &OrganisationNumber,
    ) -> Result<Vec<Organisation>, DiscoveryError> {
        self.collect(
            self.url(&jsonapi::search_by_number_path(number)),
            "organisations",
            jsonapi::organisation,
        )
        .await
    }

    /// One organisation by its resource id.
    pub async fn organisation(&self, id: &str) -> Result<Organisation, DiscoveryError> {
        let url = self.url(&jsonapi::organisation_path(id));
        let body = self.fetch(&url, &format!("organisation {id}")).await?;
        let malformed = |reason| DiscoveryError::AddressBookMalformed {
            url: url.clone(),
            reason,
        };
        let single = jsonapi::single(&body).map_err(malformed)?;
        jsonapi::organisation(&single.data).map_err(malformed)
    }

    /// The functional addresses of an organisation (by resource id).
    pub async fn functional_addresses(&self, organisation_id: &str) -> Result<Vec<FunctionalAddress>, DiscoveryError> {
        self.collect(
            self.url(&jsonapi::functional_addresses_path(organisation_id)),
            &format!("organisation {organisation_id}"),
            jsonapi::functional_address,
        )
        .await
    }

    /// The participant id (and organisation) that a functional address belongs to.
    pub async fn resolve_functional_address(
        &self,
        id: &FunctionalAddressId,
    ) -> Result<(FunctionalAddress, Organisation), DiscoveryError> {
        let url = self.url(&jsonapi::functional_address_path(id));
        let body = self.fetch(&url, &format!("functional address {id}")).await?;
        let malformed = |reason| DiscoveryError::AddressBookMalformed {
            url: url.clone(),
            reason,
        };
        let single = jsonapi::single(&body).map_err(malformed)?;
        let address = jsonapi::functional_address(&single.data).map_err(malformed)?;
        let organisation_id = address
            .organisation_id
            .clone()
            .ok_or_else(|| malformed("functional address without organization relationship".into()))?;
        let included = single.included.iter().find(|r| {
            r.get("type").and_then(|t| t.as_str()) == Some(jsonapi::ORGANISATION_TYPE)
                && r.get("id").and_then(|i| i.as_str()) == Some(organisation_id.as_str())
        });
        let organisation = match included {
            Some(r) => jsonapi::organisation(r).map_err(malformed)?,
            None => self.organisation(&organisation_id).await?,
        };
        Ok((address, organisation))
    }
}
