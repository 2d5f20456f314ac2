//! Integration tests of the CloudFront importer: shipped fixtures (written from the CloudFront
//! API Reference) in, topology files out that the cluster planner validates.

mod cloudfront;
