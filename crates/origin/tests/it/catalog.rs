//! The catalog on both ports, its determinism, and a 100k-object catalog.

use edgelab_origin::{Catalog, CatalogListing, OriginConfig, OriginSettings};
use http::Method;

use crate::support::{TestOrigin, header, small_config};

#[tokio::test]
async fn catalog_is_served_on_both_ports_with_no_store() {
    let origin = TestOrigin::start(small_config()).await;
    let (traffic, traffic_body) = origin.get("/.well-known/edgelab/catalog", &[]).await;
    assert_eq!(traffic.status(), 200);
    assert_eq!(header(&traffic, "cache-control"), "no-store");
    assert_eq!(header(&traffic, "content-type"), "application/json");
    let (admin, admin_body) = origin.admin(Method::GET, "/catalog", &[], "").await;
    assert_eq!(admin.status(), 200);
    assert_eq!(traffic_body, admin_body);
    let listing: CatalogListing = serde_json::from_slice(&traffic_body).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&traffic_body).unwrap();
    // The documented shape, field for field.
    let first = &value["objects"][0];
    for field in ["path", "class", "size", "digest", "content_type"] {
        assert!(first.get(field).is_some(), "{field} missing");
    }
    assert_eq!(value["seed"], 42);
    assert_eq!(listing.objects.len(), 200);
    let (response, _) = origin
        .send(crate::support::request(
            Method::POST,
            &origin.url("/.well-known/edgelab/catalog"),
            &[],
            "",
        ))
        .await;
    assert_eq!(response.status(), 405);
}

#[tokio::test]
async fn same_seed_same_catalog_other_seed_other_catalog() {
    let a = TestOrigin::start(small_config()).await.listing().await;
    let b = TestOrigin::start(small_config()).await.listing().await;
    assert_eq!(a, b);
    let c = TestOrigin::start(OriginConfig {
        seed: 7,
        ..small_config()
    })
    .await
    .listing()
    .await;
    assert_ne!(a.objects, c.objects);
}

#[test]
fn a_100k_object_catalog_builds_and_lists_every_path_once() {
    let settings = OriginSettings::try_from(OriginConfig {
        objects: 100_000,
        ..OriginConfig::default()
    })
    .unwrap();
    // Build time is measured by loadtest/bench-origin.sh, not asserted here.
    let catalog = Catalog::build(&settings).unwrap();
    assert_eq!(catalog.len(), 100_000);
    let listing: CatalogListing = serde_json::from_slice(&catalog.json()).unwrap();
    assert_eq!(listing.objects.len(), 100_000);
    let mut paths: Vec<&str> = listing.objects.iter().map(|e| e.path.as_str()).collect();
    paths.sort_unstable();
    paths.dedup();
    assert_eq!(paths.len(), 100_000);
    for entry in listing.objects.iter().step_by(997) {
        let object = catalog.find(&entry.path).expect("listed path is found");
        assert_eq!(object.size, entry.size);
    }
}
