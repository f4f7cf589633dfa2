//! The ONE place where the address book's JSON:API documents are mapped to the typed models. The public OpenAPI
//! description of the SDK address book is not available here, so the resource shapes below are assumptions from
//! the information specification (organisations and functional addresses with identifier, name, description;
//! categories on functions; functions belong to one organisation). docs/discovery.md lists them; align this file
//! (and only this file) with the real service.
//!
//! Assumed shapes:
//! ```text
//! GET {base}/organizations?filter[name]=TEXT | ?filter[organizationNumber]=NNNNNNNNNN   (collection, paginated)
//! GET {base}/organizations/{id}                                                         (single)
//! GET {base}/organizations/{id}/functional-addresses                                    (collection, paginated)
//! GET {base}/functional-addresses/{id}?include=organization                             (single, org included)
//!
//! organization:        { "type": "organizations", "id": "...",
//!                        "attributes": { "identifier": "0203:example.se", "name": "...",
//!                                        "organizationNumber": "2021006883"?, "description": "..."? } }
//! functional address:  { "type": "functional-addresses", "id": "SE2021006883-1234",
//!                        "attributes": { "identifier": "SE2021006883-1234"?, "name": "...",
//!                                        "description": "..."?, "categories": ["..."]? },
//!                        "relationships": { "organization": { "data": { "type": "organizations", "id": "..." } } } }
//! collection:          { "data": [ ... ], "links": { "next": "URL" | null }, "included": [ ... ]? }
//! errors:              { "errors": [ { "status": "404", "title": "..." } ] }
//! ```

use super::{FunctionalAddress, Organisation};
use crate::ids::{FunctionalAddressId, OrganisationNumber, ParticipantId};
use serde_json::Value;

/// Media type of JSON:API.
pub const MEDIA_TYPE: &str = "application/vnd.api+json";
/// Resource type name of organisations.
pub const ORGANISATION_TYPE: &str = "organizations";
/// Resource type name of functional addresses.
pub const FUNCTIONAL_ADDRESS_TYPE: &str = "functional-addresses";

/// Query path for an organisation search by name.
pub fn search_by_name_path(name: &str) -> String {
    format!("{ORGANISATION_TYPE}?filter%5Bname%5D={}", encode(name))
}

/// Query path for an organisation search by organisation number.
pub fn search_by_number_path(number: &OrganisationNumber) -> String {
    format!("{ORGANISATION_TYPE}?filter%5BorganizationNumber%5D={}", number.as_str())
}

/// Path of one organisation.
pub fn organisation_path(id: &str) -> String {
    format!("{ORGANISATION_TYPE}/{}", encode(id))
}

/// Path of an organisation's functional addresses.
pub fn functional_addresses_path(organisation_id: &str) -> String {
    format!(
        "{ORGANISATION_TYPE}/{}/{FUNCTIONAL_ADDRESS_TYPE}",
        encode(organisation_id)
    )
}

/// Path of one functional address, with its organisation included.
pub fn functional_address_path(id: &FunctionalAddressId) -> String {
    format!("{FUNCTIONAL_ADDRESS_TYPE}/{}?include=organization", encode(id.as_str()))
}

fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// One page of a collection: the mapped items and the `links.next` URL, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// A JSON:API single-resource document: the primary resource and the `included` resources.
pub struct Single {
    pub data: Value,
    pub included: Vec<Value>,
}

fn top(body: &[u8]) -> Result<Value, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    if !v.is_object() {
        return Err("the top level is not a JSON object".into());
    }
    if v.get("errors").is_some() && v.get("data").is_none() {
        return Err(format!("error document: {}", v["errors"]));
    }
    Ok(v)
}

fn str_attr<'a>(resource: &'a Value, name: &str) -> Result<Option<&'a str>, String> {
    match resource.get("attributes").and_then(|a| a.get(name)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("attribute {name} is not a string: {other}")),
    }
}

fn resource_id(resource: &Value, expected_type: &str) -> Result<String, String> {
    let ty = resource
        .get("type")
        .and_then(Value::as_str)
        .ok_or("resource without type")?;
    if ty != expected_type {
        return Err(format!("resource type {ty:?}, expected {expected_type:?}"));
    }
    resource
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| "resource without id".into())
}

/// Maps an organisation resource.
pub fn organisation(resource: &Value) -> Result<Organisation, String> {
    let id = resource_id(resource, ORGANISATION_TYPE)?;
    let identifier = str_attr(resource, "identifier")?.ok_or("organisation without identifier")?;
    let participant_id = ParticipantId::parse(identifier).map_err(|e| format!("organisation {id}: identifier: {e}"))?;
    let name = str_attr(resource, "name")?
        .ok_or("organisation without name")?
        .to_string();
    let organisation_number = str_attr(resource, "organizationNumber")?
        .map(OrganisationNumber::parse)
        .transpose()
        .map_err(|e| format!("organisation {id}: {e}"))?;
    let description = str_attr(resource, "description")?.map(str::to_string);
    Ok(Organisation {
        id,
        participant_id,
        organisation_number,
        name,
        description,
    })
}

/// Maps a functional address resource.
pub fn functional_address(resource: &Value) -> Result<FunctionalAddress, String> {
    let id = resource_id(resource, FUNCTIONAL_ADDRESS_TYPE)?;
    let identifier = str_attr(resource, "identifier")?.unwrap_or(&id);
    let functional_id = FunctionalAddressId::parse(identifier).map_err(|e| e.to_string())?;
    let name = str_attr(resource, "name")?
        .ok_or("functional address without name")?
        .to_string();
    let description = str_attr(resource, "description")?.map(str::to_string);
    let categories = match resource.get("attributes").and_then(|a| a.get("categories")) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|c| c.as_str().map(str::to_string).ok_or("category is not a string"))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("categories is not an array".into()),
    };
    let organisation_id = resource
        .pointer("/relationships/organization/data/id")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(FunctionalAddress {
        id: functional_id,
        name,
        description,
        categories,
        organisation_id,
    })
}

/// Parses a collection document and maps each item.
pub fn page<T>(body: &[u8], map: impl Fn(&Value) -> Result<T, String>) -> Result<Page<T>, String> {
    let v = top(body)?;
    let data = v
        .get("data")
        .and_then(Value::as_array)
        .ok_or("collection document without a data array")?;
    let items = data.iter().map(map).collect::<Result<Vec<_>, _>>()?;
    let next = match v.pointer("/links/next") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Object(o)) => o.get("href").and_then(Value::as_str).map(str::to_string),
        Some(other) => return Err(format!("links.next is neither a URL nor a link object: {other}")),
    };
    Ok(Page { items, next })
}

/// Parses a single-resource document.
pub fn single(body: &[u8]) -> Result<Single, String> {
    let v = top(body)?;
    let data = v
        .get("data")
        .filter(|d| d.is_object())
        .ok_or("document without a data object")?
        .clone();
    let included = match v.get("included") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err("included is not an array".into()),
    };
    Ok(Single { data, included })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_organisations_and_pages() {
        let body = br#"{"data":[{"type":"organizations","id":"o1","attributes":{"identifier":"0203:example.se",
            "name":"Example","organizationNumber":"2021006883"}}],"links":{"next":"http://h/organizations?page=2"}}"#;
        let p = page(body, organisation).unwrap();
        assert_eq!(p.items[0].participant_id.to_string(), "0203:example.se");
        assert_eq!(p.items[0].organisation_number.as_ref().unwrap().as_str(), "2021006883");
        assert_eq!(p.next.as_deref(), Some("http://h/organizations?page=2"));
    }

    #[test]
    fn refuses_malformed_documents() {
        assert!(page(b"not json", organisation).is_err());
        assert!(page(b"[]", organisation).is_err());
        assert!(page(br#"{"data":{}}"#, organisation).is_err());
        assert!(page(br#"{"data":[{"type":"people","id":"1"}]}"#, organisation).is_err());
        assert!(page(
            br#"{"data":[{"type":"organizations","id":"1","attributes":{"identifier":"0007:123","name":"x"}}]}"#,
            organisation
        )
        .is_err());
        assert!(page(
            br#"{"data":[{"type":"organizations","id":"1","attributes":{"identifier":5,"name":"x"}}]}"#,
            organisation
        )
        .is_err());
        assert!(page(br#"{"data":[],"links":{"next":5}}"#, organisation).is_err());
        assert!(single(br#"{"errors":[{"status":"404"}]}"#).is_err());
    }

    #[test]
    fn maps_functional_addresses() {
        let body = br#"{"data":[{"type":"functional-addresses","id":"SE2021006883-1","attributes":{"name":"Socialtj\u00e4nsten",
            "categories":["social"]},"relationships":{"organization":{"data":{"type":"organizations","id":"o1"}}}}],"links":{}}"#;
        let p = page(body, functional_address).unwrap();
        assert_eq!(p.items[0].id.as_str(), "SE2021006883-1");
        assert_eq!(p.items[0].organisation_id.as_deref(), Some("o1"));
        assert_eq!(p.next, None);
    }
}
